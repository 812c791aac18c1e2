"""What XAPI has, as the contract's values: the one table of VM power states onto Clanavi's `InstanceState`, the
`other_config` keys Clanavi keeps its data under, and one function per resource kind. No I/O here."""

from __future__ import annotations

import json
import re
import xmlrpc.client
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.base import Image, ImageState, Instance, InstanceState, Snapshot, SnapshotState, Volume, VolumeState

GIB = 1024**3

# VM.power_state (the enum vm_power_state), as XAPI spells it. A paused domain keeps its memory but runs no vCPU:
# to a user it is suspended, and resume unpauses it.
POWER_STATES: dict[str, InstanceState] = {
    "Halted": InstanceState.STOPPED,
    "Running": InstanceState.RUNNING,
    "Paused": InstanceState.SUSPENDED,
    "Suspended": InstanceState.SUSPENDED,
}

# VM.current_operations (task -> vm_operations) that move the VM between power states, and where they lead while
# they run; the others (snapshot, clone, export, migration, memory or vCPU changes, ...) leave its state as it is.
OPERATION_STATES: dict[str, InstanceState] = {
    "provision": InstanceState.PENDING,
    "import": InstanceState.PENDING,
    "start": InstanceState.STARTING,
    "start_on": InstanceState.STARTING,
    "resume": InstanceState.STARTING,
    "resume_on": InstanceState.STARTING,
    "unpause": InstanceState.STARTING,
    "clean_reboot": InstanceState.REBOOTING,
    "hard_reboot": InstanceState.REBOOTING,
    "clean_shutdown": InstanceState.STOPPING,
    "hard_shutdown": InstanceState.STOPPING,
    "shutdown": InstanceState.STOPPING,
    "suspend": InstanceState.STOPPING,
    "pause": InstanceState.STOPPING,
    "destroy": InstanceState.TERMINATING,
}
# When several run at once, the one that goes furthest tells.
_PRECEDENCE = (
    InstanceState.TERMINATING,
    InstanceState.STOPPING,
    InstanceState.REBOOTING,
    InstanceState.STARTING,
    InstanceState.PENDING,
)

# other_config keys
ACCOUNT = "clanavi_account"
IDEMPOTENCY = "clanavi_token"
IMAGE = "clanavi_image"
FLAVOR = "clanavi_flavor"
CREATED = "clanavi_created"
TAGS = "clanavi_tags"
IMAGE_OWNER = "clanavi_image_owner"
VOLUME_OWNER = "clanavi_volume"
FROM_SNAPSHOT = "clanavi_from_snapshot"
SNAPSHOT_OWNER = "clanavi_snapshot"
VOLUME_OF = "clanavi_volume_of"

_DISK_SIZE = re.compile(r'<disk [^>]*size="(\d+)"')


def instance_state(power_state: str, current_operations: Mapping[str, str] | None = None) -> InstanceState:
    """The VM's state: where an operation in progress takes it, else its power state."""
    moving = {OPERATION_STATES[op] for op in (current_operations or {}).values() if op in OPERATION_STATES}
    for state in _PRECEDENCE:
        if state in moving:
            return state
    return POWER_STATES.get(power_state, InstanceState.UNKNOWN)


def parse_time(value: object) -> datetime | None:
    """An XAPI DateTime ("20261124T11:02:03Z", maybe without the Z) as an aware datetime."""
    text = value.value if isinstance(value, xmlrpc.client.DateTime) else str(value)
    for fmt in ("%Y%m%dT%H:%M:%SZ", "%Y%m%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def created(config: Mapping[str, str]) -> datetime:
    try:
        return datetime.fromisoformat(config[CREATED])
    except (KeyError, ValueError):
        return datetime(1970, 1, 1, tzinfo=UTC)


def device_name(userdevice: str) -> str:
    return f"xvd{chr(ord('a') + int(userdevice))}" if userdevice.isdigit() else userdevice


def to_image(rec: Mapping[str, Any]) -> Image:
    """A template (or a VM snapshot made into one) as an image."""
    config: Mapping[str, str] = rec["other_config"]
    sizes = [int(s) for s in _DISK_SIZE.findall(config.get("disks", ""))]
    return Image(
        id=rec["uuid"],
        name=rec["name_label"],
        os=config.get("clanavi_os") or config.get("install-distro") or rec["name_label"],
        state=ImageState.AVAILABLE,
        min_disk_gb=-(-sum(sizes) // GIB) if sizes else 0,
        extra={"description": rec.get("name_description", ""), "snapshot": bool(rec.get("is_a_snapshot"))},
    )


def to_instance(
    rec: Mapping[str, Any], guest: Mapping[str, Any] | None = None, state: InstanceState | None = None
) -> Instance:
    """A VM as an instance: its addresses from its guest metrics, if any; in `state` when given."""
    config: Mapping[str, str] = rec["other_config"]
    networks: Mapping[str, str] = (guest or {}).get("networks", {})
    ips = tuple(sorted(v for k, v in networks.items() if k.endswith("/ip")))
    try:
        tags = {str(k): str(v) for k, v in json.loads(config.get(TAGS, "{}")).items()}
    except (ValueError, AttributeError):
        tags = {}
    return Instance(
        id=rec["uuid"],
        name=rec["name_label"],
        state=state or instance_state(rec["power_state"], rec.get("current_operations")),
        image_id=config.get(IMAGE, ""),
        flavor_id=config.get(FLAVOR, ""),
        created_at=created(config),
        private_ips=ips,
        tags=tags,
        extra={
            "power_state": rec["power_state"],
            "current_operations": sorted(set(dict(rec.get("current_operations") or {}).values())),
            "vcpus": int(rec["VCPUs_at_startup"]),
            "memory_bytes": int(rec["memory_static_max"]),
        },
    )


def to_volume(rec: Mapping[str, Any], attachment: Mapping[str, Any] | None, instance_id: str | None, sr: str) -> Volume:
    """A VDI as a volume, attached through the VBD `attachment` (if any) to the VM `instance_id`."""
    config: Mapping[str, str] = rec["other_config"]
    device = None
    if attachment is not None:
        device = attachment.get("device") or device_name(attachment["userdevice"])
    return Volume(
        id=rec["uuid"],
        name=rec["name_label"],
        size_gb=-(-int(rec["virtual_size"]) // GIB),
        state=VolumeState.AVAILABLE if attachment is None else VolumeState.IN_USE,
        created_at=created(config),
        instance_id=instance_id,
        device=device,
        snapshot_id=config.get(FROM_SNAPSHOT),
        extra={"sr": sr, "attached": bool(attachment and attachment["currently_attached"])},
    )


def to_snapshot(rec: Mapping[str, Any]) -> Snapshot:
    config: Mapping[str, str] = rec["other_config"]
    return Snapshot(
        id=rec["uuid"],
        volume_id=config.get(VOLUME_OF, ""),
        size_gb=-(-int(rec["virtual_size"]) // GIB),
        state=SnapshotState.AVAILABLE,
        created_at=created(config),
        name=rec["name_label"],
    )
