"""Public (elastic) addresses: allocated to the account, associated with one instance at a time, released.

An associated address shows in the instance's `public_ips`; terminating the instance frees the association.
"""

from __future__ import annotations

from typing import Any

from adapters.base import Address, InstanceState, InvalidCloudState, QuotaExceeded
from adapters.simcloud import ip_pool
from adapters.simcloud.store import SCHEMA, SimStore, check_client_token, new_id
from kernel import db

_ASSOCIABLE = frozenset(
    {InstanceState.RUNNING, InstanceState.STOPPED, InstanceState.STOPPING, InstanceState.STARTING}
    | {InstanceState.REBOOTING, InstanceState.SUSPENDED}
)


def address_from_row(row: Any) -> Address:
    return Address(id=row["id"], ip=row["ip"], instance_id=row["instance_id"], extra={"kind": "elastic"})


async def disassociate_all(store: SimStore, conn: db.Connection, instance_id: str) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.addresses SET instance_id = NULL WHERE account_id = $1 AND instance_id = $2",
        store.account,
        instance_id,
    )


class Addresses:
    def __init__(self, store: SimStore) -> None:
        self._store = store

    async def _row(self, conn: db.Connection, address_id: str) -> Any:
        return await self._store.row(conn, "addresses", "address", address_id)

    async def list(self) -> list[Address]:
        return [address_from_row(r) for r in await self._store.rows("addresses")]

    async def allocate(self, client_token: str) -> Address:
        check_client_token(client_token)
        async with self._store.writing() as conn:
            made = await self._store.made_by(conn, "addresses", client_token)
            if made is not None:
                return address_from_row(made)
            taken = await conn.fetch(f"SELECT ip FROM {SCHEMA}.addresses WHERE account_id = $1", self._store.account)
            ip = ip_pool.pick({r["ip"] for r in taken})
            if ip is None:
                raise QuotaExceeded(f"the account holds all {len(ip_pool.ADDRESSES)} public addresses SimCloud has")
            row = await conn.fetchrow(
                f"""INSERT INTO {SCHEMA}.addresses (account_id, id, ip, created_at, client_token)
                    VALUES ($1, $2, $3, $4, $5) RETURNING *""",
                self._store.account,
                new_id("eip"),
                ip,
                self._store.clock(),
                client_token,
            )
            return address_from_row(row)

    async def associate(self, address_id: str, instance_id: str) -> Address:
        async with self._store.writing() as conn:
            row = await self._row(conn, address_id)
            state, _ = await self._store.instance_state(conn, instance_id, self._store.clock())
            if row["instance_id"] == instance_id:
                return address_from_row(row)  # asked again
            if row["instance_id"] is not None:
                raise InvalidCloudState(f"address {row['ip']} is associated with instance {row['instance_id']}")
            if state not in _ASSOCIABLE:
                raise InvalidCloudState(f"cannot associate an address with an instance that is {state.value}")
            updated = await conn.fetchrow(
                f"UPDATE {SCHEMA}.addresses SET instance_id = $3 WHERE account_id = $1 AND id = $2 RETURNING *",
                self._store.account,
                address_id,
                instance_id,
            )
            return address_from_row(updated)

    async def disassociate(self, address_id: str) -> Address:
        async with self._store.writing() as conn:
            await self._row(conn, address_id)
            updated = await conn.fetchrow(
                f"UPDATE {SCHEMA}.addresses SET instance_id = NULL WHERE account_id = $1 AND id = $2 RETURNING *",
                self._store.account,
                address_id,
            )
            return address_from_row(updated)

    async def release(self, address_id: str) -> None:
        async with self._store.writing() as conn:
            row = await self._row(conn, address_id)
            if row["instance_id"] is not None:
                raise InvalidCloudState(
                    f"address {row['ip']} is associated with instance {row['instance_id']}; disassociate it first"
                )
            await conn.execute(
                f"DELETE FROM {SCHEMA}.addresses WHERE account_id = $1 AND id = $2", self._store.account, address_id
            )
