"""Block volumes: created (empty or from a snapshot), attached to an instance of their zone, detached, deleted.

Creating, attaching and detaching take the account's configured time; a volume attached to an instance being
terminated is detached when the instance is gone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from adapters.base import (
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    SnapshotState,
    Volume,
    VolumeSpec,
    VolumeState,
)
from adapters.kit import made_by_token
from adapters.simcloud import timed
from adapters.simcloud.catalogue import Catalogue
from adapters.simcloud.config import SimCloudConfig
from adapters.simcloud.store import SCHEMA, SimStore, check_client_token, new_id
from kernel import db

MIN_SIZE_GB = 1
MAX_SIZE_GB = 16_384
MAX_NAME = 255
DEVICES = tuple(f"/dev/vd{letter}" for letter in "bcdefghijklmnopqrstuvwxyz")
_DEVICE = re.compile(r"/dev/(vd|sd|xvd)[b-z]")
_ATTACHED = frozenset({VolumeState.ATTACHING, VolumeState.IN_USE, VolumeState.DETACHING})
_ATTACHABLE_TO = frozenset({InstanceState.RUNNING, InstanceState.STOPPED})


def volume_state(row: Any, now: datetime) -> VolumeState:
    return VolumeState(timed.settled(row, now))


def volume_from_row(row: Any, now: datetime) -> Volume:
    state = volume_state(row, now)
    attached = state in _ATTACHED
    return Volume(
        id=row["id"],
        name=row["name"],
        size_gb=row["size_gb"],
        state=state,
        created_at=row["created_at"],
        zone=row["zone"],
        instance_id=row["instance_id"] if attached else None,
        device=row["device"] if attached else None,
        snapshot_id=row["snapshot_id"],
    )


async def detach_all(store: SimStore, conn: db.Connection, instance_id: str, now: datetime, gone_at: datetime) -> None:
    """Detach every volume of an instance being terminated, as of when it is gone."""
    rows = await conn.fetch(
        f"SELECT * FROM {SCHEMA}.volumes WHERE account_id = $1 AND instance_id = $2", store.account, instance_id
    )
    attached = [r["id"] for r in rows if volume_state(r, now) in (VolumeState.ATTACHING, VolumeState.IN_USE)]
    await conn.execute(
        f"""UPDATE {SCHEMA}.volumes SET state = 'detaching', target_state = 'available', due_at = $3
            WHERE account_id = $1 AND id = ANY($2::text[])""",
        store.account,
        attached,
        gone_at,
    )


class Volumes:
    def __init__(self, store: SimStore, config: SimCloudConfig, catalogue: Catalogue) -> None:
        self._store = store
        self._config = config
        self._catalogue = catalogue

    def _after(self, now: datetime, simulated_seconds: float) -> datetime:
        return now + timedelta(seconds=self._config.real_seconds(simulated_seconds))

    async def _row(self, conn: db.Connection, volume_id: str) -> Any:
        return await self._store.row(conn, "volumes", "volume", volume_id)

    async def list(self) -> list[Volume]:
        rows = await self._store.rows("volumes")
        now = self._store.clock()
        return [volume_from_row(r, now) for r in rows]

    async def create(self, spec: VolumeSpec) -> Volume:
        if not MIN_SIZE_GB <= spec.size_gb <= MAX_SIZE_GB:
            raise InvalidCloudRequest(f"a volume is {MIN_SIZE_GB} to {MAX_SIZE_GB} GB, not {spec.size_gb}")
        if len(spec.name) > MAX_NAME or not spec.name.isprintable():
            raise InvalidCloudRequest(f"a volume name is at most {MAX_NAME} printable characters")
        check_client_token(spec.client_token)
        zone = self._catalogue.zone(spec.zone)
        async with self._store.writing() as conn:
            now = self._store.clock()
            made = await self._store.made_by(conn, "volumes", spec.client_token)
            if made is not None:
                volume = volume_from_row(made, now)
                return made_by_token("volume", volume, size_gb=spec.size_gb, snapshot_id=spec.snapshot_id)
            if spec.snapshot_id is not None:
                snapshot = await self._store.row(conn, "snapshots", "snapshot", spec.snapshot_id)
                state = timed.settled(snapshot, now)
                if state != SnapshotState.AVAILABLE:
                    raise InvalidCloudState(f"snapshot {spec.snapshot_id} is {state}, not available")
                if spec.size_gb < snapshot["size_gb"]:
                    raise InvalidCloudRequest(
                        f"a volume from snapshot {spec.snapshot_id} needs at least {snapshot['size_gb']} GB"
                    )
            row = await conn.fetchrow(
                f"""INSERT INTO {SCHEMA}.volumes
                    (account_id, id, name, size_gb, zone, state, target_state, due_at, created_at, snapshot_id,
                     client_token)
                    VALUES ($1, $2, $3, $4, $5, 'creating', 'available', $6, $7, $8, $9) RETURNING *""",
                self._store.account,
                new_id("vol"),
                spec.name,
                spec.size_gb,
                zone,
                self._after(now, self._config.volume_seconds),
                now,
                spec.snapshot_id,
                spec.client_token,
            )
            return volume_from_row(row, now)

    async def delete(self, volume_id: str) -> None:
        async with self._store.writing() as conn:
            state = volume_state(await self._row(conn, volume_id), self._store.clock())
            if state != VolumeState.AVAILABLE:
                raise InvalidCloudState(f"cannot delete volume {volume_id} while it is {state.value}")
            await conn.execute(
                f"DELETE FROM {SCHEMA}.volumes WHERE account_id = $1 AND id = $2", self._store.account, volume_id
            )

    async def attach(self, volume_id: str, instance_id: str, device: str | None) -> Volume:
        if device is not None and not _DEVICE.fullmatch(device):
            raise InvalidCloudRequest(f"device {device!r} is not a name like /dev/vdb")
        async with self._store.writing() as conn:
            now = self._store.clock()
            row = await self._row(conn, volume_id)
            state = volume_state(row, now)
            if state in (VolumeState.ATTACHING, VolumeState.IN_USE) and row["instance_id"] == instance_id:
                if device is None or device == row["device"]:
                    return volume_from_row(row, now)  # asked again: already attached, or on its way
            if state != VolumeState.AVAILABLE:
                raise InvalidCloudState(f"cannot attach volume {volume_id} while it is {state.value}")
            instance_state, instance = await self._store.instance_state(conn, instance_id, now)
            if instance_state not in _ATTACHABLE_TO:
                raise InvalidCloudState(f"cannot attach a volume to an instance that is {instance_state.value}")
            instance_zone = instance["zone"] or self._config.zones[0]
            if row["zone"] != instance_zone:
                raise InvalidCloudRequest(
                    f"volume {volume_id} is in zone {row['zone']} and instance {instance_id} in {instance_zone}"
                )
            others = await conn.fetch(
                f"SELECT * FROM {SCHEMA}.volumes WHERE account_id = $1 AND instance_id = $2 AND id <> $3",
                self._store.account,
                instance_id,
                volume_id,
            )
            used = {r["device"] for r in others if volume_state(r, now) in _ATTACHED}
            if device is None:
                device = next((d for d in DEVICES if d not in used), None)
                if device is None:
                    raise InvalidCloudState(f"instance {instance_id} has no free device for another volume")
            elif device in used:
                raise InvalidCloudRequest(f"device {device} of instance {instance_id} is in use")
            updated = await conn.fetchrow(
                f"""UPDATE {SCHEMA}.volumes
                    SET state = 'attaching', target_state = 'in-use', due_at = $3, instance_id = $4, device = $5
                    WHERE account_id = $1 AND id = $2 RETURNING *""",
                self._store.account,
                volume_id,
                self._after(now, self._config.attach_seconds),
                instance_id,
                device,
            )
            return volume_from_row(updated, now)

    async def detach(self, volume_id: str) -> Volume:
        async with self._store.writing() as conn:
            now = self._store.clock()
            row = await self._row(conn, volume_id)
            state = volume_state(row, now)
            if state in (VolumeState.DETACHING, VolumeState.AVAILABLE):
                return volume_from_row(row, now)  # asked again: on its way, or done
            if state != VolumeState.IN_USE:
                raise InvalidCloudState(f"cannot detach volume {volume_id} while it is {state.value}")
            updated = await conn.fetchrow(
                f"""UPDATE {SCHEMA}.volumes SET state = 'detaching', target_state = 'available', due_at = $3
                    WHERE account_id = $1 AND id = $2 RETURNING *""",
                self._store.account,
                volume_id,
                self._after(now, self._config.attach_seconds),
            )
            return volume_from_row(updated, now)
