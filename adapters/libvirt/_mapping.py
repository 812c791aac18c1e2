"""What libvirt has, as the contract's values: the one table of domain states onto Clanavi's `InstanceState`, and
one function per resource kind. No I/O here.

The numbers are libvirt's `virDomainState` and `virDomain*Reason` values (a unit test checks them against
libvirt-python), kept here as plain integers so this module needs no libvirt to import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.base import Image, ImageState, Instance, InstanceState, Snapshot, SnapshotState, Volume, VolumeState
from adapters.libvirt import _naming

if TYPE_CHECKING:
    from adapters.libvirt._host import DomainView, PoolVolume
    from adapters.libvirt._xml import VolumeFacts
    from adapters.libvirt.config import LibvirtConfig

GIB = 1024**3
# A volume whose age neither its id nor its pool records reads this creation time (and says so in `extra`).
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)

# virDomainState
NOSTATE = 0
RUNNING = 1
BLOCKED = 2
PAUSED = 3
SHUTDOWN = 4
SHUTOFF = 5
CRASHED = 6
PMSUSPENDED = 7

# virDomainPausedReason values that mean the hypervisor stopped the guest because something went wrong.
PAUSED_IOERROR = 5
PAUSED_WATCHDOG = 6
PAUSED_CRASHED = 10
PAUSED_POSTCOPY_FAILED = 13
# virDomainShutoffReason: UNKNOWN is also what a domain that never ran reads.
SHUTOFF_UNKNOWN = 0
# virDomainShutoffReason values that mean the guest did not end well.
SHUTOFF_CRASHED = 3
SHUTOFF_FAILED = 6


@dataclass(frozen=True, slots=True)
class Mapped:
    state: InstanceState
    # Why the instance is in `error`, for the user.
    reason: str | None = None


# (libvirt state, reason or None for "any other reason") -> normalised state
STATE_MAP: dict[tuple[int, int | None], Mapped] = {
    (NOSTATE, None): Mapped(InstanceState.UNKNOWN),
    (RUNNING, None): Mapped(InstanceState.RUNNING),
    # Blocked on a resource (waiting for I/O, idle): still running as far as the user can tell.
    (BLOCKED, None): Mapped(InstanceState.RUNNING),
    (PAUSED, None): Mapped(InstanceState.SUSPENDED),
    (PAUSED, PAUSED_IOERROR): Mapped(InstanceState.ERROR, "the hypervisor paused the instance after a disk I/O error"),
    (PAUSED, PAUSED_WATCHDOG): Mapped(
        InstanceState.ERROR, "the hypervisor paused the instance when its watchdog fired"
    ),
    (PAUSED, PAUSED_CRASHED): Mapped(InstanceState.ERROR, "the guest crashed; the hypervisor keeps it paused"),
    (PAUSED, PAUSED_POSTCOPY_FAILED): Mapped(InstanceState.ERROR, "a post-copy migration of the instance failed"),
    # The guest is shutting down (an ACPI power button was pressed, or the guest began on its own).
    (SHUTDOWN, None): Mapped(InstanceState.STOPPING),
    (SHUTOFF, None): Mapped(InstanceState.STOPPED),
    (SHUTOFF, SHUTOFF_CRASHED): Mapped(InstanceState.ERROR, "the guest crashed and was powered off"),
    (SHUTOFF, SHUTOFF_FAILED): Mapped(InstanceState.ERROR, "the hypervisor failed to start the instance"),
    (CRASHED, None): Mapped(InstanceState.ERROR, "the guest crashed"),
    # Suspended by the guest itself (S3/S4).
    (PMSUSPENDED, None): Mapped(InstanceState.SUSPENDED),
}


def normalise(state: int, reason: int) -> Mapped:
    """The normalised state of a domain from `virDomainGetState`'s (state, reason)."""
    return STATE_MAP.get((state, reason)) or STATE_MAP.get((state, None)) or Mapped(InstanceState.UNKNOWN)


def is_active(state: int) -> bool:
    """True when the domain has a running QEMU (or test) process behind it, paused or not."""
    return state not in (SHUTOFF, NOSTATE)


def to_image(facts: VolumeFacts, config: LibvirtConfig) -> Image:
    return Image(
        id=facts.name,
        name=facts.name[len(config.image_prefix) :],
        os=config.image_os.get(facts.name, "unknown"),
        state=ImageState.AVAILABLE,
        min_disk_gb=math.ceil(facts.capacity / GIB),
        extra={"pool": config.pool, "volume": facts.name, "format": facts.format, "path": facts.path},
    )


def to_instance(view: DomainView, zone: str, state: InstanceState | None = None) -> Instance:
    """The instance of a domain, in the state its libvirt state maps to unless `state` says otherwise."""
    mapped = normalise(view.state, view.reason)
    meta = view.meta
    return Instance(
        id=view.facts.uuid,
        name=meta.name,
        state=state or mapped.state,
        image_id=meta.image_id,
        flavor_id=meta.flavor_id,
        created_at=meta.created_at,
        private_ips=view.private_ips if state is not InstanceState.TERMINATED else (),
        zone=meta.zone or zone,
        tags=dict(meta.tags),
        reason=mapped.reason if state is None else None,
        extra={
            "domain": view.facts.name,
            "vcpus": view.facts.vcpus,
            "memory_mb": view.facts.memory_kib // 1024,
            "macs": [i.mac for i in view.facts.interfaces if i.mac],
            "root_volume": meta.root_volume,
            "libvirt_state": view.state,
            "libvirt_reason": view.reason,
        },
    )


def to_volume(pool_volume: PoolVolume, managed: _naming.Managed | None, pool: str, zone: str) -> Volume:
    """A volume of the pool: one Clanavi made (`managed`, its name carrying what libvirt cannot store), or any other."""
    facts = pool_volume.facts
    attachment = pool_volume.attachment
    created = (_naming.created_at(managed.id) if managed else None) or facts.changed_at
    return Volume(
        id=managed.id if managed else facts.name,
        name=managed.fields.get("n", "") if managed else facts.name,
        size_gb=math.ceil(facts.capacity / GIB),
        state=VolumeState.IN_USE if attachment else VolumeState.AVAILABLE,
        created_at=created or UNKNOWN_TIME,
        zone=zone,
        instance_id=attachment.instance_id if attachment else None,
        device=f"/dev/{attachment.target}" if attachment else None,
        snapshot_id=(managed.fields.get("s") or None) if managed else None,
        extra={
            "pool": pool,
            "volume": facts.name,
            "format": facts.format,
            "path": facts.path,
            "created_at_known": created is not None,
        },
    )


def to_snapshot(pool_volume: PoolVolume, managed: _naming.Managed, pool: str) -> Snapshot:
    facts = pool_volume.facts
    return Snapshot(
        id=managed.id,
        volume_id=managed.fields.get("v", ""),
        size_gb=math.ceil(facts.capacity / GIB),
        state=SnapshotState.AVAILABLE,
        created_at=_naming.created_at(managed.id) or UNKNOWN_TIME,
        name=managed.fields.get("n", ""),
        extra={"pool": pool, "volume": facts.name, "format": facts.format, "path": facts.path},
    )
