"""Nova's answers at a microversion: servers, flavors and volume attachments as its view builders shape them.

Written from nova/api/openstack/compute/views/servers.py and flavors.py, volume_attachments.py and the response
schemas beside them (nova/api/openstack/compute/schemas): what each microversion adds, changes or removes, as seen by
a project member (not an admin: no `OS-EXT-SRV-ATTR:*` but the 2.90 hostname, no `host_status`, a 500 fault without
its details).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.standins.openstack.server import OpenStackStandIn, Server, Volume

Version = tuple[int, int]

NOVA_MIN: Version = (2, 1)
# nova/api/openstack/api_version_request.py's _MAX_API_VERSION.
NOVA_MAX: Version = (2, 104)

# Nova `status` -> (vm_state, task_state, power_state) while nothing is under way (nova.api.openstack.common's
# _STATE_MAP, read backwards; power states from nova.compute.power_state).
VM_STATES: dict[str, tuple[str, str | None, int]] = {
    "BUILD": ("building", "spawning", 0),
    "ACTIVE": ("active", None, 1),
    "SHUTOFF": ("stopped", None, 4),
    "REBOOT": ("active", "rebooting", 1),
    "HARD_REBOOT": ("active", "rebooting_hard", 1),
    "SUSPENDED": ("suspended", None, 7),
    "PAUSED": ("paused", None, 3),
    "SHELVED": ("shelved", None, 4),
    "SHELVED_OFFLOADED": ("shelved_offloaded", None, 0),
    "ERROR": ("error", None, 0),
}

# The task state of a transition the stand-in runs, by (status now, status when done).
TASK_STATES: dict[tuple[str, str], str] = {
    ("ACTIVE", "SHUTOFF"): "powering-off",
    ("SHUTOFF", "ACTIVE"): "powering-on",
    ("ACTIVE", "SUSPENDED"): "suspending",
    ("SUSPENDED", "ACTIVE"): "resuming",
    ("ACTIVE", "PAUSED"): "pausing",
    ("PAUSED", "ACTIVE"): "unpausing",
    ("SHELVED_OFFLOADED", "ACTIVE"): "unshelving",
    ("SHELVED", "ACTIVE"): "unshelving",
    **{(now, "SHELVED_OFFLOADED"): "shelving" for now in ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED")},
}

# ViewBuilder._progress_statuses and _fault_statuses.
_PROGRESS_STATUSES = frozenset({"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"})
_FAULT_STATUSES = frozenset({"ERROR", "DELETED"})

# nova.objects.ImageMetaProps fields an image of the stand-in may carry: from 2.98 a server shows the ones its image
# had at boot (Nova keeps them in the instance's system metadata).
IMAGE_META_PROPS = frozenset(
    {"architecture", "hw_disk_bus", "hw_firmware_type", "hw_machine_type", "os_distro", "os_type", "os_version"}
)

MAC = "fa:16:3e:00:00:01"


def _links(base: str, collection: str, item_id: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/{collection}/{item_id}"},
        {"rel": "bookmark", "href": f"{base}/compute/{collection}/{item_id}"},
    ]


def _naive(stamp: str | None) -> str | None:
    """`OS-SRV-USG:*` timestamps are naive datetimes with microseconds ("2013-09-23T13:37:00.880302")."""
    if stamp is None:
        return None
    return stamp.rstrip("Z") + ".000000"


def embedded_flavor(flavor: dict[str, Any]) -> dict[str, Any]:
    """A server's flavor from 2.47: its sizes and name at boot (`original_name`), without its id."""
    return {
        "vcpus": flavor["vcpus"],
        "ram": flavor["ram"],
        "disk": flavor["disk"],
        "ephemeral": flavor["OS-FLV-EXT-DATA:ephemeral"],
        "swap": flavor["swap"],
        # A member may read extra specs (policy show:flavor-extra-specs is PROJECT_READER_OR_ADMIN).
        "extra_specs": dict(flavor["extra_specs"]),
        "original_name": flavor["name"],
    }


def _flavor_ref(owner: OpenStackStandIn, s: Server, version: Version) -> dict[str, Any]:
    if version >= (2, 47):
        return embedded_flavor(s.flavor)
    return {"id": s.flavor["id"], "links": [_links(owner.base, "flavors", s.flavor["id"])[1]]}


def _image_ref(owner: OpenStackStandIn, s: Server, version: Version) -> dict[str, Any] | str:
    if not s.image_id:
        return ""  # booted from a volume
    image: dict[str, Any] = {"id": s.image_id, "links": [_links(owner.base, "images", s.image_id)[1]]}
    if version >= (2, 98):
        image["properties"] = dict(s.image_properties)
    return image


def _addresses(owner: OpenStackStandIn, s: Server) -> dict[str, Any]:
    if s.status == "BUILD" or not s.fixed_ip:
        return {}  # hidden while the server is building
    entries: list[dict[str, Any]] = [
        {"version": 4, "addr": s.fixed_ip, "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": MAC}
    ]
    entries.extend(
        {"version": 4, "addr": f["floating_ip_address"], "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": MAC}
        for f in owner.state.floating.values()
        if f["port_id"] == s.port_id
    )
    return {"private": entries}


def _fault(s: Server) -> dict[str, Any] | None:
    if s.status not in _FAULT_STATUSES or s.fault is None:
        return None
    shown = {k: s.fault[k] for k in ("code", "created", "message")}
    # Details (a traceback) only for admins, or when the fault is not a 500.
    if s.fault.get("details") and s.fault["code"] != 500:
        shown["details"] = s.fault["details"]
    return shown


def _down_cell(owner: OpenStackStandIn, s: Server, version: Version, *, show: bool) -> dict[str, Any]:
    """2.69: a server whose cell does not answer, from what the API database knows (_show_from_down_cell)."""
    body: dict[str, Any] = {
        "id": s.id,
        "status": "UNKNOWN",
        "tenant_id": owner.project_id,
        "created": s.created,
        "links": _links(owner.base, "servers", s.id),
    }
    if show:
        body["image"] = _image_ref(owner, s, version)
        body["flavor"] = _flavor_ref(owner, s, version)
        body["OS-EXT-AZ:availability_zone"] = s.pinned_zone or "UNKNOWN"
        body["OS-EXT-STS:power_state"] = 0
        body["user_id"] = owner.user_id
        if version >= (2, 71):
            body["server_groups"] = []
    return body


def server(owner: OpenStackStandIn, s: Server, version: Version, *, show: bool) -> dict[str, Any]:
    """`GET /servers/{id}` (`show`) or one item of `GET /servers/detail` at `version`."""
    if s.cell_down:
        return _down_cell(owner, s, version, show=show)
    vm_state, task_state, power = VM_STATES.get(s.status, ("active", None, 1))
    if s.target is not None:
        task_state = TASK_STATES.get((s.status, s.target), task_state)
    body: dict[str, Any] = {
        "accessIPv4": "",
        "accessIPv6": "",
        "addresses": _addresses(owner, s),
        "created": s.created,
        "flavor": _flavor_ref(owner, s, version),
        "hostId": hashlib.sha224((owner.project_id + "compute-1").encode()).hexdigest(),
        "id": s.id,
        "image": _image_ref(owner, s, version),
        "links": _links(owner.base, "servers", s.id),
        "metadata": dict(s.metadata),
        "name": s.name,
        "status": s.status,
        "tenant_id": owner.project_id,
        "user_id": owner.user_id,
        "updated": s.updated,
        "OS-DCF:diskConfig": "MANUAL",
    }
    fault = _fault(s)
    if fault is not None:
        body["fault"] = fault
    if s.status in _PROGRESS_STATUSES:
        body["progress"] = 0
    body["OS-EXT-AZ:availability_zone"] = s.zone
    body["config_drive"] = ""
    body["key_name"] = s.key_name
    body["OS-SRV-USG:launched_at"] = _naive(s.launched_at)
    body["OS-SRV-USG:terminated_at"] = None
    groups = [owner.state.groups[g]["name"] for g in s.security_groups if g in owner.state.groups]
    if groups:  # Nova leaves the key out for a server in no group
        body["security_groups"] = [{"name": name} for name in groups]
    body["OS-EXT-STS:task_state"] = task_state
    body["OS-EXT-STS:vm_state"] = vm_state
    body["OS-EXT-STS:power_state"] = power
    attached = [v for v in owner.state.volumes.values() if v.server_id == s.id]
    body["os-extended-volumes:volumes_attached"] = [
        {"id": v.id, "delete_on_termination": v.delete_on_termination} if version >= (2, 3) else {"id": v.id}
        for v in attached
    ]
    if version >= (2, 9):
        body["locked"] = s.locked
    if version >= (2, 19):
        body["description"] = s.description
    if version >= (2, 26):
        body["tags"] = list(s.tags)
    if version >= (2, 63):
        body["trusted_image_certificates"] = None
    if show and version >= (2, 71):  # not in the detail listing
        body["server_groups"] = []
    if version >= (2, 73):
        body["locked_reason"] = s.locked_reason
    if version >= (2, 90):
        body["OS-EXT-SRV-ATTR:hostname"] = s.hostname
    if version >= (2, 96):
        body["pinned_availability_zone"] = s.pinned_zone
    if version >= (2, 100):
        body["scheduler_hints"] = dict(s.scheduler_hints)
    return body


def flavor(owner: OpenStackStandIn, f: dict[str, Any], version: Version, *, detail: bool) -> dict[str, Any]:
    """`GET /flavors/{id}` and `/flavors/detail` items (`detail`), or `GET /flavors` items."""
    body: dict[str, Any] = {"id": f["id"], "name": f["name"], "links": _links(owner.base, "flavors", f["id"])}
    if detail:
        body.update(
            ram=f["ram"],
            disk=f["disk"],
            swap=(f["swap"] or 0) if version >= (2, 75) else (f["swap"] or ""),
            vcpus=f["vcpus"],
        )
        body["OS-FLV-EXT-DATA:ephemeral"] = f["OS-FLV-EXT-DATA:ephemeral"]
        body["os-flavor-access:is_public"] = f["os-flavor-access:is_public"]
        if version < (2, 102):
            body["OS-FLV-DISABLED:disabled"] = False
            body["rxtx_factor"] = 1.0
        if version >= (2, 61):
            body["extra_specs"] = dict(f["extra_specs"])
    if version >= (2, 55):
        body["description"] = f.get("description")
    return body


def attachment(v: Volume, version: Version) -> dict[str, Any]:
    """One item of `GET /servers/{id}/os-volume_attachments` (_translate_attachment_detail_view)."""
    body: dict[str, Any] = {} if version >= (2, 89) else {"id": v.id}
    body.update(volumeId=v.id, serverId=v.server_id)
    if v.device:
        body["device"] = v.device
    if version >= (2, 70):
        body["tag"] = None
    if version >= (2, 79):
        body["delete_on_termination"] = v.delete_on_termination
    if version >= (2, 89):
        body["attachment_id"] = v.attachment_id
        body["bdm_uuid"] = v.bdm_uuid
    return body


def attached(v: Volume, version: Version) -> dict[str, Any]:
    """The answer to `POST /servers/{id}/os-volume_attachments` before 2.101 (2.89 was never applied to it)."""
    body: dict[str, Any] = {"id": v.id, "serverId": v.server_id, "volumeId": v.id, "device": v.device}
    if version >= (2, 70):
        body["tag"] = None
    if version >= (2, 79):
        body["delete_on_termination"] = v.delete_on_termination
    return body


__all__ = [
    "IMAGE_META_PROPS",
    "NOVA_MAX",
    "NOVA_MIN",
    "TASK_STATES",
    "VM_STATES",
    "attached",
    "attachment",
    "embedded_flavor",
    "flavor",
    "server",
]
