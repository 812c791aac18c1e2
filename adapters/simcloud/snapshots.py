"""Snapshots of volumes: pending for the account's snapshot time, then available to make volumes from."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from adapters.base import InvalidCloudRequest, InvalidCloudState, Snapshot, SnapshotState, VolumeState
from adapters.kit import made_by_token
from adapters.simcloud import timed
from adapters.simcloud.config import SimCloudConfig
from adapters.simcloud.store import SCHEMA, SimStore, check_client_token, new_id
from adapters.simcloud.volumes import volume_state

MAX_NAME = 255
_SNAPSHOTTABLE = frozenset({VolumeState.AVAILABLE, VolumeState.IN_USE})


def snapshot_from_row(row: Any, now: datetime) -> Snapshot:
    return Snapshot(
        id=row["id"],
        volume_id=row["volume_id"],
        size_gb=row["size_gb"],
        state=SnapshotState(timed.settled(row, now)),
        created_at=row["created_at"],
        name=row["name"],
    )


class Snapshots:
    def __init__(self, store: SimStore, config: SimCloudConfig) -> None:
        self._store = store
        self._config = config

    async def list(self) -> list[Snapshot]:
        rows = await self._store.rows("snapshots")
        now = self._store.clock()
        return [snapshot_from_row(r, now) for r in rows]

    async def create(self, volume_id: str, name: str, client_token: str) -> Snapshot:
        if len(name) > MAX_NAME or not name.isprintable():
            raise InvalidCloudRequest(f"a snapshot name is at most {MAX_NAME} printable characters")
        check_client_token(client_token)
        async with self._store.writing() as conn:
            now = self._store.clock()
            made = await self._store.made_by(conn, "snapshots", client_token)
            if made is not None:
                return made_by_token("snapshot", snapshot_from_row(made, now), volume_id=volume_id)
            volume = await self._store.row(conn, "volumes", "volume", volume_id)
            state = volume_state(volume, now)
            if state not in _SNAPSHOTTABLE:
                raise InvalidCloudState(f"cannot snapshot volume {volume_id} while it is {state.value}")
            row = await conn.fetchrow(
                f"""INSERT INTO {SCHEMA}.snapshots
                    (account_id, id, volume_id, name, size_gb, state, target_state, due_at, created_at, client_token)
                    VALUES ($1, $2, $3, $4, $5, 'pending', 'available', $6, $7, $8) RETURNING *""",
                self._store.account,
                new_id("snap"),
                volume_id,
                name,
                volume["size_gb"],
                now + timedelta(seconds=self._config.real_seconds(self._config.snapshot_seconds)),
                now,
                client_token,
            )
            return snapshot_from_row(row, now)

    async def delete(self, snapshot_id: str) -> None:
        async with self._store.writing() as conn:
            row = await self._store.row(conn, "snapshots", "snapshot", snapshot_id)
            state = snapshot_from_row(row, self._store.clock()).state
            if state == SnapshotState.PENDING:
                raise InvalidCloudState(f"cannot delete snapshot {snapshot_id} while it is pending")
            await conn.execute(
                f"DELETE FROM {SCHEMA}.snapshots WHERE account_id = $1 AND id = $2", self._store.account, snapshot_id
            )
