"""What libvirt has, as the contract's values: one function per resource kind, a domain's state read through
`_states`' table. No I/O here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.base import Image, ImageState, Instance, InstanceState, Snapshot, SnapshotState, Volume, VolumeState
from adapters.libvirt import _naming
from adapters.libvirt._states import normalise

if TYPE_CHECKING:
    from adapters.libvirt._host import DomainView, PoolVolume
    from adapters.libvirt._xml import VolumeFacts
    from adapters.libvirt.config import LibvirtConfig

GIB = 1024**3
# A volume whose age neither its id nor its pool records reads this creation time (and says so in `extra`).
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def to_image(facts: VolumeFacts, config: LibvirtConfig) -> Image:
    return Image(
        id=facts.name,
        name=_naming.image_name(config.image_prefix, facts.name),
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
