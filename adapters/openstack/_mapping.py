"""Nova, Glance and Keystone answers as the contract's values; the state tables live here and nowhere else."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.base import (
    Address,
    Flavor,
    Image,
    ImageState,
    Instance,
    InstanceState,
    KeyPair,
    Limit,
    Protocol_,
    Quotas,
    SecurityGroup,
    SecurityRule,
    Snapshot,
    SnapshotState,
    Volume,
    VolumeState,
)

# Server metadata key that carries the launch's client token (Nova has no client token of its own).
TOKEN_KEY = "clanavi-client-token"  # noqa: S105 - a metadata key, not a secret

# Nova server `status` -> the contract's state (Libcloud's NODE_STATE_MAP). Nova derives the status from the
# server's vm_state and task_state (nova/api/openstack/common.py's _STATE_MAP); the statuses are its response
# schema's (nova/api/openstack/compute/schemas/servers.py's _server_status).
SERVER_STATES: dict[str, InstanceState] = {
    "BUILD": InstanceState.PENDING,
    "ACTIVE": InstanceState.RUNNING,
    "SHUTOFF": InstanceState.STOPPED,
    "STOPPED": InstanceState.STOPPED,
    "REBOOT": InstanceState.REBOOTING,
    "HARD_REBOOT": InstanceState.REBOOTING,
    "SUSPENDED": InstanceState.SUSPENDED,
    "PAUSED": InstanceState.SUSPENDED,  # frozen in memory, as a suspended server is on disk
    "SHELVED": InstanceState.STOPPED,  # stopped, its disk kept as an image
    "SHELVED_OFFLOADED": InstanceState.STOPPED,  # ... and off its host
    "DELETED": InstanceState.TERMINATED,
    "SOFT_DELETED": InstanceState.TERMINATED,  # restorable for a while (a restore shows by its task state)
    "ERROR": InstanceState.ERROR,
    "REBUILD": InstanceState.PENDING,
    "RESIZE": InstanceState.PENDING,
    "REVERT_RESIZE": InstanceState.PENDING,
    "VERIFY_RESIZE": InstanceState.RUNNING,  # resized and running, waiting for a confirm or a revert
    "MIGRATING": InstanceState.RUNNING,  # live migration: it keeps running
    "PASSWORD": InstanceState.RUNNING,
    "RESCUE": InstanceState.RUNNING,
    "UNKNOWN": InstanceState.UNKNOWN,  # its cell does not answer (2.69), or Nova's records are broken
}

# The statuses of a shelved server, shown stopped: it starts by being unshelved.
SHELVED = frozenset({"SHELVED", "SHELVED_OFFLOADED"})

# Nova `OS-EXT-STS:task_state` values (nova.objects.fields.InstanceTaskState) that tell where a server is going
# when its status does not: powering off an ACTIVE server, shelving it, deleting one in ERROR. Task states that leave
# the server where it is (snapshots, rescue, pause, suspend, password) or whose status says it already (building,
# rebuilding, resizing, migrating) are not here; neither is "suspending", which the provisioner waits out itself.
TASK_STATES: dict[str, InstanceState] = {
    "powering-off": InstanceState.STOPPING,
    "shelving": InstanceState.STOPPING,
    "shelving_image_pending_upload": InstanceState.STOPPING,
    "shelving_image_uploading": InstanceState.STOPPING,
    "shelving_offloading": InstanceState.STOPPING,
    "powering-on": InstanceState.STARTING,
    "resuming": InstanceState.STARTING,
    "unpausing": InstanceState.STARTING,
    "unshelving": InstanceState.STARTING,
    "restoring": InstanceState.STARTING,  # a soft-deleted server coming back
    "rebooting": InstanceState.REBOOTING,
    "reboot_pending": InstanceState.REBOOTING,
    "reboot_started": InstanceState.REBOOTING,
    "rebooting_hard": InstanceState.REBOOTING,
    "reboot_pending_hard": InstanceState.REBOOTING,
    "reboot_started_hard": InstanceState.REBOOTING,
    "deleting": InstanceState.TERMINATING,
    "soft-deleting": InstanceState.TERMINATING,
}

# `OS-EXT-STS:power_state` (nova.compute.power_state) by name, kept in an instance's `extra`: the hypervisor's word,
# which Nova's status follows only after its next power state sync.
POWER_STATES: dict[int, str] = {0: "nostate", 1: "running", 3: "paused", 4: "shutdown", 6: "crashed", 7: "suspended"}

# Cinder volume `status` -> the contract's volume state, for the statuses that say where the volume is going.
VOLUME_STATES: dict[str, VolumeState] = {
    "creating": VolumeState.CREATING,
    "downloading": VolumeState.CREATING,  # filled from an image while being created
    "restoring-backup": VolumeState.CREATING,  # being written from a backup, not usable until it is done
    "managing": VolumeState.CREATING,  # an existing backend volume being brought under Cinder
    "available": VolumeState.AVAILABLE,
    "reserved": VolumeState.ATTACHING,
    "attaching": VolumeState.ATTACHING,
    "in-use": VolumeState.IN_USE,
    "detaching": VolumeState.DETACHING,
    "deleting": VolumeState.DELETING,
    "unmanaging": VolumeState.DELETING,  # leaving Cinder (and the project) without its data being deleted
    "deleted": VolumeState.DELETED,
    "error": VolumeState.ERROR,
    "error_deleting": VolumeState.ERROR,
    "error_restoring": VolumeState.ERROR,
    "error_extending": VolumeState.ERROR,
    "error_managing": VolumeState.ERROR,
    "error_backing-up": VolumeState.ERROR,
}

# Cinder statuses of a volume that stays where it is while Cinder works on it (copied to an image, retyped, backed
# up, grown, offered to another project, migrated). The contract has no "busy" state and the moving ones above
# would each claim a direction that is not happening: the volume shows where it stands, in use when attached,
# else available, and Cinder's own word stays in `extra["status"]`; Cinder refuses what cannot be done meanwhile.
VOLUME_BUSY = frozenset(
    {
        "uploading",
        "retyping",
        "backing-up",
        "extending",
        "updating",
        "awaiting-transfer",
        "maintenance",
        "migrating",
    }
)

# Cinder snapshot `status` -> the contract's snapshot state.
SNAPSHOT_STATES: dict[str, SnapshotState] = {
    "creating": SnapshotState.PENDING,
    "available": SnapshotState.AVAILABLE,
    "backing-up": SnapshotState.AVAILABLE,  # read from to make a backup: still whole and kept
    "restoring": SnapshotState.AVAILABLE,  # read from to revert its volume: still whole and kept
    "updating": SnapshotState.AVAILABLE,  # its record changing (a group snapshot's): still whole and kept
    "deleting": SnapshotState.DELETING,
    "unmanaging": SnapshotState.DELETING,  # leaving Cinder: gone from the project when done
    "deleted": SnapshotState.DELETING,
    "error": SnapshotState.ERROR,
    "error_deleting": SnapshotState.ERROR,
}

# Glance image `status` -> the contract's image state.
IMAGE_STATES: dict[str, ImageState] = {
    "queued": ImageState.PENDING,
    "saving": ImageState.PENDING,
    "uploading": ImageState.PENDING,
    "importing": ImageState.PENDING,
    "active": ImageState.AVAILABLE,
    "deactivated": ImageState.FAILED,
    "killed": ImageState.FAILED,
    "deleted": ImageState.DEREGISTERED,
    "pending_delete": ImageState.DEREGISTERED,
}


# SDK attribute name -> the key in Nova's raw JSON, where they differ (the adapter lists servers as raw JSON).
_RAW_KEYS = {
    "created_at": "created",
    "availability_zone": "OS-EXT-AZ:availability_zone",
    "task_state": "OS-EXT-STS:task_state",
    "vm_state": "OS-EXT-STS:vm_state",
    "power_state": "OS-EXT-STS:power_state",
    "is_locked": "locked",
}


def _get(resource: Any, name: str, default: Any = None) -> Any:
    """An attribute of an SDK resource, or the same field of an API answer's raw JSON object."""
    if type(resource) is dict:
        value = resource.get(name, resource.get(_RAW_KEYS.get(name, name), default))
    else:
        # SDK resources are dicts too, but their attributes are the documented names.
        value = getattr(resource, name, default)
    return default if value is None else value


def parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value or "")
    if not text:
        return datetime.fromtimestamp(0, UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def instance_state(status: str, task_state: str | None) -> InstanceState:
    """A task under way says where the server goes, even from ERROR (a server in error being deleted is
    terminating, one being hard rebooted comes back); Nova clears the task state when a task fails."""
    if task_state and task_state in TASK_STATES:
        return TASK_STATES[task_state]
    return SERVER_STATES.get(status.upper(), InstanceState.UNKNOWN)


def _ref_id(ref: Any) -> str:
    """The id in a server's `image` reference (a dict or an SDK resource); "" when booted from a volume (Nova says
    `"image": ""`, which the SDK reads as an empty mapping)."""
    return str(_get(ref, "id") or "") if ref else ""


def to_instance(
    server: Any, group_ids: Mapping[str, str] | None = None, flavors: FlavorCatalogue | None = None
) -> Instance:
    """`group_ids` maps security group names to ids: Nova names a server's groups, the contract wants ids.
    `flavors` is the catalogue a flavor embedded in the server (Nova 2.47 and later) is found in."""
    status = str(_get(server, "status", "UNKNOWN"))
    task_state = _get(server, "task_state")
    private: list[str] = []
    public: list[str] = []
    addresses: Mapping[str, Any] = _get(server, "addresses", {})
    for entries in addresses.values():
        for entry in entries:
            ip = str(entry.get("addr", ""))
            if not ip:
                continue
            (public if entry.get("OS-EXT-IPS:type") == "floating" else private).append(ip)
    metadata: Mapping[str, str] = _get(server, "metadata", {})
    names = [str(g.get("name", "")) for g in _get(server, "security_groups", []) if g.get("name")]
    groups = tuple((group_ids or {}).get(name, name) for name in names)
    fault = _get(server, "fault", {})
    state = instance_state(status, task_state)
    flavor = server_flavor(server)
    image = _get(server, "image")
    return Instance(
        id=str(_get(server, "id")),
        name=str(_get(server, "name", "")),
        state=state,
        image_id=_ref_id(image),
        flavor_id=(flavors or FlavorCatalogue()).flavor_of(flavor).id if flavor else "",
        created_at=parse_time(_get(server, "created_at")),
        private_ips=tuple(private),
        public_ips=tuple(public),
        zone=_get(server, "availability_zone"),
        key_name=_get(server, "key_name"),
        security_group_ids=groups,
        tags={k: v for k, v in metadata.items() if k != TOKEN_KEY},
        reason=str(fault.get("message")) if state is InstanceState.ERROR and fault else None,
        extra={
            "status": status,
            "task_state": task_state,
            "vm_state": _get(server, "vm_state"),
            "power_state": POWER_STATES.get(_get(server, "power_state")),
            "client_token": metadata.get(TOKEN_KEY),
            # A server booted from a volume has no image (Nova's `"image": ""`).
            "boot_from_volume": not image,
            "locked": bool(_get(server, "is_locked")),
            **({"fault_code": fault.get("code")} if fault else {}),
        },
    )


def to_flavor(flavor: Any) -> Flavor:
    return Flavor(
        id=str(_get(flavor, "id")),
        name=str(_get(flavor, "name", "")),
        vcpus=int(_get(flavor, "vcpus", 0)),
        ram_mb=int(_get(flavor, "ram", 0)),
        disk_gb=int(_get(flavor, "disk", 0)),
        extra={
            "ephemeral_gb": int(_get(flavor, "ephemeral", 0) or _get(flavor, "OS-FLV-EXT-DATA:ephemeral", 0)),
            # Nova answered swap as "" (no swap) before 2.75.
            "swap_mb": int(_get(flavor, "swap", 0) or 0),
            "is_public": bool(_get(flavor, "is_public", _get(flavor, "os-flavor-access:is_public", True))),
            "extra_specs": dict(_get(flavor, "extra_specs", {})),
        },
    )


def _sizes(flavor: Flavor) -> tuple[int, int, int, int, int]:
    return (flavor.vcpus, flavor.ram_mb, flavor.disk_gb, flavor.extra["ephemeral_gb"], flavor.extra["swap_mb"])


def server_flavor(server: Any) -> Any:
    """A server's `flavor`: `{id, links}` up to Nova 2.46, the embedded flavor from 2.47, None when Nova has none
    to show (a server in a cell that does not answer, read in a listing)."""
    return _get(server, "flavor") or None


def embedded_name(ref: Any) -> str | None:
    """The name at boot of a flavor Nova embeds in a server (2.47 and later); None for an `{id, links}` one."""
    return str(_get(ref, "original_name")) if ref and _get(ref, "original_name") else None


def embedded_flavor(ref: Any) -> Flavor | None:
    """The flavor Nova 2.47 and later embed in a server (its sizes and `original_name` at boot, no id), named by
    that name; None for an older `{id, links}` reference."""
    name = embedded_name(ref)
    if name is None:
        return None
    flavor = to_flavor({**_plain(ref), "id": name, "name": name})
    return Flavor(
        flavor.id, flavor.name, flavor.vcpus, flavor.ram_mb, flavor.disk_gb, {**flavor.extra, "catalogued": False}
    )


def _plain(ref: Any) -> dict[str, Any]:
    """An embedded flavor's fields as a dict, from Nova's JSON or the SDK's Flavor resource."""
    if type(ref) is dict:
        return dict(ref)
    keys = ("vcpus", "ram", "disk", "ephemeral", "swap", "extra_specs")
    return {k: getattr(ref, k, None) for k in keys}


@dataclass(frozen=True)
class FlavorCatalogue:
    """The project's flavors, to name the one a server runs by its id however the server was read.

    Up to 2.46 Nova names a server's flavor by id; from 2.47 it embeds the flavor's sizes and its name at boot
    instead. An embedded flavor is the catalogue's flavor of that name when the sizes agree, else the one flavor of
    the same sizes; a flavor no longer in the catalogue (deleted, or replaced by other sizes) is known by its name.
    """

    flavors: tuple[Flavor, ...] = ()
    # Names of embedded flavors the catalogue was asked for and did not hold when it was read.
    missing: frozenset[str] = frozenset()
    _by_name: dict[str, Flavor] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.flavors})

    @classmethod
    def of(cls, flavors: Iterable[Any], asked: Iterable[str] = ()) -> FlavorCatalogue:
        """The catalogue of Nova's flavor records; `asked` are the embedded names that made it be read."""
        read = tuple(to_flavor(f) for f in flavors)
        names = {f.name for f in read}
        return cls(read, frozenset(n for n in asked if n not in names))

    def knows(self, name: str) -> bool:
        """Whether the catalogue, as read, can tell which flavor an embedded flavor of this name is."""
        return name in self._by_name or name in self.missing

    def flavor_of(self, ref: Any) -> Flavor:
        """The flavor a server's `flavor` reference names: the catalogue's, else the embedded one by its name."""
        embedded = embedded_flavor(ref)
        if embedded is None:
            flavor_id = str(_get(ref, "id") or "")
            return next((f for f in self.flavors if f.id == flavor_id), Flavor(flavor_id, "", 0, 0, 0))
        named = self._by_name.get(embedded.name)
        if named is not None and _sizes(named) == _sizes(embedded):
            return named
        same = [f for f in self.flavors if _sizes(f) == _sizes(embedded)]
        if len(same) > 1:  # flavors of one size may differ by their extra specs
            same = [f for f in same if f.extra["extra_specs"] == embedded.extra["extra_specs"]]
        return same[0] if len(same) == 1 else embedded


def to_image(image: Any) -> Image:
    status = str(_get(image, "status", "")).lower()
    properties: Mapping[str, Any] = _get(image, "properties", {})
    os_name = _get(image, "os_distro") or properties.get("os_distro") or ""
    return Image(
        id=str(_get(image, "id")),
        name=str(_get(image, "name", "") or _get(image, "id")),
        os=str(os_name),
        state=IMAGE_STATES.get(status, ImageState.PENDING),
        min_disk_gb=int(_get(image, "min_disk", 0)),
        extra={
            "status": status,
            "visibility": _get(image, "visibility"),
            "disk_format": _get(image, "disk_format"),
            "instance_id": properties.get("instance_uuid") or _get(image, "instance_uuid"),
        },
    )


def to_key_pair(keypair: Any, *, with_private_key: bool = False) -> KeyPair:
    return KeyPair(
        name=str(_get(keypair, "name")),
        fingerprint=str(_get(keypair, "fingerprint", "")),
        private_key=_get(keypair, "private_key") if with_private_key else None,
        extra={"type": _get(keypair, "type", "ssh")},
    )


def volume_state(status: str, *, attached: bool) -> VolumeState:
    if status in VOLUME_BUSY:
        return VolumeState.IN_USE if attached else VolumeState.AVAILABLE
    return VOLUME_STATES.get(status, VolumeState.ERROR)


def to_volume(volume: Any) -> Volume:
    status = str(_get(volume, "status", "")).lower()
    attachments: list[Mapping[str, Any]] = list(_get(volume, "attachments", []))
    attached = attachments[0] if attachments else {}
    return Volume(
        id=str(_get(volume, "id")),
        name=str(_get(volume, "name", "")),
        size_gb=int(_get(volume, "size", 0)),
        state=volume_state(status, attached=bool(attachments)),
        created_at=parse_time(_get(volume, "created_at")),
        zone=_get(volume, "availability_zone"),
        instance_id=attached.get("server_id"),
        device=attached.get("device"),
        snapshot_id=_get(volume, "snapshot_id"),
        extra={"status": status, "volume_type": _get(volume, "volume_type")},
    )


def to_snapshot(snapshot: Any) -> Snapshot:
    status = str(_get(snapshot, "status", "")).lower()
    return Snapshot(
        id=str(_get(snapshot, "id")),
        volume_id=str(_get(snapshot, "volume_id", "")),
        size_gb=int(_get(snapshot, "size", 0)),
        state=SNAPSHOT_STATES.get(status, SnapshotState.ERROR),
        created_at=parse_time(_get(snapshot, "created_at")),
        name=str(_get(snapshot, "name", "")),
        extra={"status": status},
    )


def server_id(server: Any) -> str:
    return str(_get(server, "id"))


def server_metadata(server: Any) -> Mapping[str, str]:
    metadata: Mapping[str, str] = _get(server, "metadata", {})
    return metadata


def server_group_names(server: Any) -> list[str]:
    return [str(g.get("name", "")) for g in _get(server, "security_groups", []) if g.get("name")]


# Neutron's `protocol` (a name or an IP protocol number, as a string) -> the contract's protocol; None is any.
_PROTOCOLS: dict[str | None, Protocol_] = {
    None: "all",
    "any": "all",
    "tcp": "tcp",
    "6": "tcp",
    "udp": "udp",
    "17": "udp",
    "icmp": "icmp",
    "1": "icmp",
    "ipv6-icmp": "icmp",
    "icmpv6": "icmp",
    "58": "icmp",
}


def to_rule(rule: Any) -> SecurityRule | None:
    """The contract's rule for a Neutron rule, or None when the contract cannot say it: a rule whose source is another
    security group (or an address group) rather than a CIDR, or a protocol other than TCP, UDP and ICMP."""
    if _get(rule, "remote_group_id") or _get(rule, "remote_address_group_id"):
        return None
    protocol = _get(rule, "protocol")
    kind = _PROTOCOLS.get(None if protocol is None else str(protocol).lower())
    if kind is None:
        return None
    ports = kind in ("tcp", "udp")
    ethertype = _get(rule, "ether_type") or _get(rule, "ethertype") or "IPv4"
    cidr = _get(rule, "remote_ip_prefix") or ("::/0" if ethertype == "IPv6" else "0.0.0.0/0")  # noqa: S104 - a CIDR
    low = _get(rule, "port_range_min") if ports else None
    high = _get(rule, "port_range_max") if ports else None
    return SecurityRule(
        direction="egress" if _get(rule, "direction") == "egress" else "ingress",
        protocol=kind,
        from_port=None if low is None else int(low),
        to_port=None if high is None else int(high),
        cidr=str(cidr),
    )


def _native_rule(rule: Any) -> dict[str, Any]:
    """A Neutron rule the contract cannot express, as Neutron says it (kept in the group's `extra`)."""
    return {
        "id": str(_get(rule, "id")),
        "direction": _get(rule, "direction"),
        "ethertype": _get(rule, "ether_type") or _get(rule, "ethertype"),
        "protocol": _get(rule, "protocol"),
        "port_range_min": _get(rule, "port_range_min"),
        "port_range_max": _get(rule, "port_range_max"),
        "remote_group_id": _get(rule, "remote_group_id"),
        "remote_address_group_id": _get(rule, "remote_address_group_id"),
        "remote_ip_prefix": _get(rule, "remote_ip_prefix"),
    }


def to_group(group: Any) -> SecurityGroup:
    """`rules` holds the CIDR rules, their Neutron ids in `extra["rule_ids"]` in the same order.

    The rules whose source is a security group, or whose protocol the contract has no name for, are counted in
    `extra["unmapped_rules"]` (as EC2's are) and kept as Neutron says them in `extra["native_rules"]`.
    """
    rules: list[SecurityRule] = []
    rule_ids: list[str] = []
    unmapped: list[dict[str, Any]] = []
    for raw in _get(group, "security_group_rules", []):
        rule = to_rule(raw)
        if rule is None:
            unmapped.append(_native_rule(raw))
        else:
            rules.append(rule)
            rule_ids.append(str(_get(raw, "id")))
    return SecurityGroup(
        id=str(_get(group, "id")),
        name=str(_get(group, "name", "")),
        description=str(_get(group, "description", "")),
        rules=tuple(rules),
        extra={"rule_ids": tuple(rule_ids), "unmapped_rules": len(unmapped), "native_rules": tuple(unmapped)},
    )


def to_address(floating: Any, instance_by_port: Mapping[str, str]) -> Address:
    port_id = _get(floating, "port_id")
    return Address(
        id=str(_get(floating, "id")),
        ip=str(_get(floating, "floating_ip_address", "")),
        instance_id=instance_by_port.get(port_id) if port_id else None,
        extra={"port_id": port_id, "fixed_ip": _get(floating, "fixed_ip_address"), "status": _get(floating, "status")},
    )


def _limit(limit: Any, used: Any) -> Limit:
    # Nova says -1 for no limit.
    ceiling = None if limit is None or int(limit) < 0 else int(limit)
    return Limit(int(used or 0), ceiling)


def quotas_of(answer: Mapping[str, Any]) -> Quotas:
    """Nova's `GET /limits` answer as the contract's quotas."""
    absolute = (answer.get("limits") or {}).get("absolute") or {}
    return Quotas(
        instances=_limit(absolute.get("maxTotalInstances"), absolute.get("totalInstancesUsed")),
        vcpus=_limit(absolute.get("maxTotalCores"), absolute.get("totalCoresUsed")),
        ram_mb=_limit(absolute.get("maxTotalRAMSize"), absolute.get("totalRAMUsed")),
    )
