"""Zone outages, SimCloud's fault injection for failover: a zone taken down puts every instance there that is not
ending into `error` (a real outage leaves them so when it ends: they are replaced, not revived) and fails every
launch there until it is brought up again."""

from __future__ import annotations

from adapters.base import InstanceState as S
from adapters.simcloud import machine
from adapters.simcloud.store import SCHEMA, SimStore, phase_from_row
from kernel import db


# What a launch into a down zone, or an instance caught in one, shows as its reason.
def reason(zone: str) -> str:
    return f"simulated zone outage: zone {zone} is down"


async def is_down(store: SimStore, conn: db.Connection | db.Pool, zone: str) -> bool:
    found = await conn.fetchval(
        f"SELECT true FROM {SCHEMA}.zone_outages WHERE account_id = $1 AND zone = $2", store.account, zone
    )
    return bool(found)


async def set_down(store: SimStore, conn: db.Connection, zone: str) -> list[str]:
    """Take `zone` down (again is harmless); the ids of the instances it put in error."""
    now = store.clock()
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.zone_outages (account_id, zone, since) VALUES ($1, $2, $3)
            ON CONFLICT DO NOTHING""",
        store.account,
        zone,
        now,
    )
    rows = await conn.fetch(
        f"""SELECT id, state, target_state, due_at FROM {SCHEMA}.instances
            WHERE account_id = $1 AND zone = $2 FOR UPDATE""",
        store.account,
        zone,
    )
    hit = []
    for row in rows:
        state = machine.settle(phase_from_row(row), now).state
        if state in (S.TERMINATING, S.TERMINATED, S.ERROR):
            continue
        await conn.execute(
            f"""UPDATE {SCHEMA}.instances SET state = 'error', target_state = NULL, due_at = NULL, reason = $3
                WHERE account_id = $1 AND id = $2""",
            store.account,
            row["id"],
            reason(zone),
        )
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.instance_phases (account_id, instance_id, at, state, target_state, due_at)
                VALUES ($1, $2, $3, 'error', NULL, NULL)""",
            store.account,
            row["id"],
            now,
        )
        hit.append(row["id"])
    return hit


async def set_up(store: SimStore, conn: db.Connection, zone: str) -> None:
    await conn.execute(f"DELETE FROM {SCHEMA}.zone_outages WHERE account_id = $1 AND zone = $2", store.account, zone)


__all__ = ["is_down", "reason", "set_down", "set_up"]
