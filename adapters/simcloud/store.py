"""SimCloud's state in PostgreSQL (schema `simcloud`): what the simulated provider "has", one account at a time.

Reads need no lock. Every change runs in `SimStore.writing()`: one transaction holding the account's advisory lock,
so checks such as quotas, free device names or an address's owner cannot race another change of the account.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from adapters.base import CloudNotFound, InstanceState, InvalidCloudRequest
from adapters.simcloud import machine
from adapters.simcloud.machine import Phase
from kernel import db

SCHEMA = "simcloud"

Clock = Callable[[], datetime]

# An instance's columns, with its associated public addresses and current load profile. Not its user data (kilobytes
# that only the console needs, which reads them itself), as instances are read by the hundred on every follow.
INSTANCE_COLUMNS = f"""i.id, i.name, i.image_id, i.flavor_id, i.state, i.target_state, i.due_at, i.created_at,
    i.private_ip, i.reason, i.tags, i.zone, i.key_name, i.security_group_ids,
    ARRAY(SELECT a.ip FROM {SCHEMA}.addresses a
          WHERE a.account_id = i.account_id AND a.instance_id = i.id ORDER BY a.ip) AS public_ips,
    (SELECT l.profile FROM {SCHEMA}.instance_loads l
     WHERE l.instance_id = i.id ORDER BY l.seq DESC LIMIT 1) AS load_profile"""

# Instances that count as existing at time $2: neither terminated nor due to be by then.
ALIVE = "NOT (i.state = 'terminated' OR (i.target_state = 'terminated' AND i.due_at <= $2))"


MAX_CLIENT_TOKEN = 64


def check_client_token(client_token: str) -> None:
    if not 0 < len(client_token) <= MAX_CLIENT_TOKEN:
        raise InvalidCloudRequest(f"a client token is 1 to {MAX_CLIENT_TOKEN} characters")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def new_instance_id() -> str:
    return f"sim-{secrets.token_hex(9)[:17]}"


def new_private_ip() -> str:
    raw = secrets.randbits(24)
    return f"10.{(raw >> 16) % 256}.{(raw >> 8) % 256}.{raw % 254 + 1}"


def phase_from_row(row: Any) -> Phase:
    target = row["target_state"]
    return Phase(InstanceState(row["state"]), InstanceState(target) if target else None, row["due_at"])


class SimStore:
    """One account's view of the tables, with the clock that says what time it is in the simulation."""

    def __init__(self, pool: db.Pool, account_id: str, clock: Clock = utcnow) -> None:
        self.pool = pool
        self.account = account_id
        self.clock = clock

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[db.Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"simcloud:{self.account}")
            yield conn

    async def row(self, conn: db.Connection | db.Pool, table: str, what: str, object_id: str) -> Any:
        """The account's row of `table` whose id is `object_id`; `CloudNotFound` (of a `what`) if it has none."""
        row = await conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.{table} WHERE account_id = $1 AND id = $2", self.account, object_id
        )
        if row is None:
            raise CloudNotFound(f"{what} {object_id} does not exist")
        return row

    async def made_by(self, conn: db.Connection, table: str, client_token: str) -> Any:
        """The account's row of `table` that a create with this client token made, or None."""
        return await conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.{table} WHERE account_id = $1 AND client_token = $2", self.account, client_token
        )

    async def rows(self, table: str) -> list[Any]:
        """The account's rows of `table`, oldest first."""
        return await self.pool.fetch(
            f"SELECT * FROM {SCHEMA}.{table} WHERE account_id = $1 ORDER BY created_at, id", self.account
        )

    async def instance_row(self, conn: db.Connection | db.Pool, instance_id: str) -> Any:
        return await conn.fetchrow(
            f"SELECT {INSTANCE_COLUMNS} FROM {SCHEMA}.instances i WHERE i.account_id = $1 AND i.id = $2",
            self.account,
            instance_id,
        )

    async def instance_state(self, conn: db.Connection, instance_id: str, now: datetime) -> tuple[InstanceState, Any]:
        """The instance's state at `now` and its row; `CloudNotFound` if the account has no such instance."""
        row = await self.instance_row(conn, instance_id)
        if row is None:
            raise CloudNotFound(f"instance {instance_id} does not exist")
        return machine.settle(phase_from_row(row), now).state, row
