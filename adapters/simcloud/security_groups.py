"""Security groups and their rules; a group cannot go while an instance that is not terminated uses it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import CloudNotFound, InvalidCloudRequest, InvalidCloudState, SecurityGroup, SecurityRule
from adapters.simcloud import rules
from adapters.simcloud.store import ALIVE, SCHEMA, SimStore, new_id
from kernel import db

MAX_NAME = 255
MAX_DESCRIPTION = 255
MAX_RULES = 120


def _rule(row: Any) -> SecurityRule:
    return SecurityRule(row["direction"], row["protocol"], row["from_port"], row["to_port"], row["cidr"])


async def missing_groups(store: SimStore, conn: db.Connection, group_ids: Sequence[str]) -> list[str]:
    """Those of `group_ids` the account does not have."""
    if not group_ids:
        return []
    found = await conn.fetch(
        f"SELECT id FROM {SCHEMA}.security_groups WHERE account_id = $1 AND id = ANY($2::text[])",
        store.account,
        list(group_ids),
    )
    have = {r["id"] for r in found}
    return [g for g in group_ids if g not in have]


class SecurityGroups:
    def __init__(self, store: SimStore) -> None:
        self._store = store

    async def _groups(self, conn: db.Connection | db.Pool, group_id: str | None = None) -> list[SecurityGroup]:
        account = self._store.account
        groups = await conn.fetch(
            f"""SELECT * FROM {SCHEMA}.security_groups
                WHERE account_id = $1 AND ($2::text IS NULL OR id = $2) ORDER BY name""",
            account,
            group_id,
        )
        rule_rows = await conn.fetch(
            f"""SELECT * FROM {SCHEMA}.security_rules
                WHERE account_id = $1 AND ($2::text IS NULL OR group_id = $2) ORDER BY seq""",
            account,
            group_id,
        )
        by_group: dict[str, list[SecurityRule]] = {}
        for r in rule_rows:
            by_group.setdefault(r["group_id"], []).append(_rule(r))
        return [
            SecurityGroup(
                id=g["id"],
                name=g["name"],
                description=g["description"],
                rules=tuple(by_group.get(g["id"], ())),
                extra={"created_at": g["created_at"].isoformat()},
            )
            for g in groups
        ]

    async def _group(self, conn: db.Connection | db.Pool, group_id: str) -> SecurityGroup:
        found = await self._groups(conn, group_id)
        if not found:
            raise CloudNotFound(f"security group {group_id} does not exist")
        return found[0]

    async def list(self) -> list[SecurityGroup]:
        return await self._groups(self._store.pool)

    async def create(self, name: str, description: str) -> SecurityGroup:
        if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
            raise InvalidCloudRequest(f"a security group name is 1 to {MAX_NAME} printable characters")
        if len(description) > MAX_DESCRIPTION or not description.isprintable():
            raise InvalidCloudRequest(f"a description is at most {MAX_DESCRIPTION} printable characters")
        async with self._store.writing() as conn:
            group_id = await conn.fetchval(
                f"""INSERT INTO {SCHEMA}.security_groups (account_id, id, name, description, created_at)
                    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, name) DO NOTHING RETURNING id""",
                self._store.account,
                new_id("sg"),
                name,
                description,
                self._store.clock(),
            )
            if group_id is None:
                raise InvalidCloudRequest(f"a security group named {name!r} already exists")
            return await self._group(conn, group_id)

    async def delete(self, group_id: str) -> None:
        async with self._store.writing() as conn:
            await self._group(conn, group_id)
            users = await conn.fetch(
                f"""SELECT i.id FROM {SCHEMA}.instances i
                    WHERE i.account_id = $1 AND $3 = ANY(i.security_group_ids) AND {ALIVE} ORDER BY i.id LIMIT 5""",
                self._store.account,
                self._store.clock(),
                group_id,
            )
            if users:
                names = ", ".join(r["id"] for r in users)
                raise InvalidCloudState(f"security group {group_id} is in use by instances {names}")
            await conn.execute(
                f"DELETE FROM {SCHEMA}.security_groups WHERE account_id = $1 AND id = $2", self._store.account, group_id
            )

    def _rule_row(self, group_id: str, rule: SecurityRule) -> tuple[object, ...]:
        """A rule's columns, in the order of `security_rules` ($1 to $7)."""
        return (self._store.account, group_id, rule.direction, rule.protocol, rule.from_port, rule.to_port, rule.cidr)

    async def authorize(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        rule = rules.canonical(rule)
        async with self._store.writing() as conn:
            group = await self._group(conn, group_id)
            if rule in group.rules:
                raise InvalidCloudRequest(f"security group {group_id} already has this rule")
            if len(group.rules) >= MAX_RULES:
                raise InvalidCloudRequest(f"a security group holds at most {MAX_RULES} rules")
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.security_rules
                    (account_id, group_id, direction, protocol, from_port, to_port, cidr)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                *self._rule_row(group_id, rule),
            )
            return await self._group(conn, group_id)

    async def revoke(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        rule = rules.canonical(rule)
        async with self._store.writing() as conn:
            await self._group(conn, group_id)
            removed = await conn.fetchval(
                f"""DELETE FROM {SCHEMA}.security_rules
                    WHERE account_id = $1 AND group_id = $2 AND direction = $3 AND protocol = $4
                      AND from_port IS NOT DISTINCT FROM $5 AND to_port IS NOT DISTINCT FROM $6 AND cidr = $7
                    RETURNING seq""",
                *self._rule_row(group_id, rule),
            )
            if removed is None:
                raise CloudNotFound(f"security group {group_id} has no such rule")
            return await self._group(conn, group_id)
