"""SimCloud's state in PostgreSQL (schema `simcloud`): what the simulated provider "has"."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.base import Flavor, Image, InstanceState
from adapters.simcloud.machine import Phase

SCHEMA = "simcloud"

_INSTANCE_COLUMNS = "id, name, image_id, flavor_id, state, target_state, due_at, created_at, private_ip, reason, tags"


def image_from_row(row: Any) -> Image:
    return Image(id=row["id"], name=row["name"], os=row["os"], min_disk_gb=row["min_disk_gb"])


def flavor_from_row(row: Any) -> Flavor:
    return Flavor(
        id=row["id"],
        name=row["name"],
        vcpus=row["vcpus"],
        ram_mb=row["ram_mb"],
        disk_gb=row["disk_gb"],
        extra={"hourly_price": float(row["hourly_price"])},
    )


def phase_from_row(row: Any) -> Phase:
    target = row["target_state"]
    return Phase(InstanceState(row["state"]), InstanceState(target) if target else None, row["due_at"])


def new_instance_id() -> str:
    return f"sim-{uuid.uuid4().hex[:17]}"


def new_private_ip() -> str:
    raw = uuid.uuid4().int
    return f"10.{(raw >> 16) % 256}.{(raw >> 8) % 256}.{raw % 254 + 1}"


class SimStore:
    def __init__(self, pool: Any, account_id: str) -> None:
        self._pool = pool
        self._account = account_id

    async def images(self) -> list[Image]:
        rows = await self._pool.fetch(f"SELECT * FROM {SCHEMA}.images ORDER BY id")
        return [image_from_row(r) for r in rows]

    async def image(self, image_id: str) -> Image | None:
        row = await self._pool.fetchrow(f"SELECT * FROM {SCHEMA}.images WHERE id = $1", image_id)
        return image_from_row(row) if row else None

    async def flavors(self) -> list[Flavor]:
        rows = await self._pool.fetch(f"SELECT * FROM {SCHEMA}.flavors ORDER BY vcpus, ram_mb, id")
        return [flavor_from_row(r) for r in rows]

    async def flavor(self, flavor_id: str) -> Flavor | None:
        row = await self._pool.fetchrow(f"SELECT * FROM {SCHEMA}.flavors WHERE id = $1", flavor_id)
        return flavor_from_row(row) if row else None

    async def insert_instance(
        self,
        *,
        client_token: str,
        name: str,
        image_id: str,
        flavor_id: str,
        phase: Phase,
        now: datetime,
        user_data: str | None,
        tags: dict[str, str],
    ) -> Any:
        """The new instance's row, or the existing one launched earlier with the same client token."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""INSERT INTO {SCHEMA}.instances
                    (account_id, id, client_token, name, image_id, flavor_id, state, target_state, due_at,
                     created_at, private_ip, user_data, tags)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                    ON CONFLICT (account_id, client_token) DO NOTHING
                    RETURNING {_INSTANCE_COLUMNS}""",
                self._account,
                new_instance_id(),
                client_token,
                name,
                image_id,
                flavor_id,
                phase.state.value,
                phase.target.value if phase.target else None,
                phase.due_at,
                now,
                new_private_ip(),
                user_data,
                tags,
            )
            if row is None:
                row = await conn.fetchrow(
                    f"SELECT {_INSTANCE_COLUMNS} FROM {SCHEMA}.instances WHERE account_id = $1 AND client_token = $2",
                    self._account,
                    client_token,
                )
            return row

    async def instances(self, ids: Sequence[str]) -> list[Any]:
        rows: list[Any] = await self._pool.fetch(
            f"SELECT {_INSTANCE_COLUMNS} FROM {SCHEMA}.instances WHERE account_id = $1 AND id = ANY($2::text[])",
            self._account,
            list(ids),
        )
        return rows

    async def instance_page(self, *, after: str | None, limit: int) -> list[Any]:
        """Instances in id order, starting after the id `after`."""
        rows: list[Any] = await self._pool.fetch(
            f"""SELECT {_INSTANCE_COLUMNS} FROM {SCHEMA}.instances
                WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3""",
            self._account,
            after or "",
            limit,
        )
        return rows

    async def locked_instance(self, conn: Any, instance_id: str) -> Any:
        return await conn.fetchrow(
            f"SELECT {_INSTANCE_COLUMNS} FROM {SCHEMA}.instances WHERE account_id = $1 AND id = $2 FOR UPDATE",
            self._account,
            instance_id,
        )

    async def save_phase(self, conn: Any, instance_id: str, phase: Phase) -> Any:
        return await conn.fetchrow(
            f"""UPDATE {SCHEMA}.instances SET state = $3, target_state = $4, due_at = $5
                WHERE account_id = $1 AND id = $2 RETURNING {_INSTANCE_COLUMNS}""",
            self._account,
            instance_id,
            phase.state.value,
            phase.target.value if phase.target else None,
            phase.due_at,
        )
