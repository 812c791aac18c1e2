"""The `channels` table (a webhook's secret sealed, read only to sign), the notification `groups` and the
`deliveries`. Every lookup a request makes carries the project; the notifier's passes claim due rows of every
project with a lease."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kernel.db import Connection
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.alerts.channels.domain import Channel, Delivery

_CHANNEL_COLUMNS = "id, project_id, name, kind, url, email_to, enabled, disabled_reason, created_at, updated_at"
CHANNEL_LISTING = Listing(
    f"SELECT {_CHANNEL_COLUMNS} FROM channels",
    {"created_at": Column("created_at", "timestamptz"), "name": Column("name", "text")},
    Column("id", "uuid"),
)
_DELIVERY_COLUMNS = (
    "id, project_id, channel_id, body, state, attempts, next_attempt_at, last_status, last_error, created_at, "
    "updated_at"
)
DELIVERY_LISTING = Listing(
    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries",
    {"created_at": Column("created_at", "timestamptz")},
    Column("id", "uuid"),
    default_order="desc",
)


@dataclass(frozen=True)
class ChannelFilter:
    project_id: str
    kind: str | None = None
    name: str | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class DeliveryFilter:
    project_id: str
    channel_id: str
    state: str | None = None


@dataclass(frozen=True)
class Group:
    channel_id: str
    rule_id: str
    group_key: str
    project_id: str
    last_sent_at: datetime | None
    flushed_at: datetime | None


def _key(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _channel(row: Any) -> Channel:
    return Channel(
        id=str(row["id"]),
        project_id=row["project_id"],
        name=row["name"],
        kind=row["kind"],
        url=row["url"],
        email_to=tuple(row["email_to"]),
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=str(row["id"]),
        project_id=row["project_id"],
        channel_id=str(row["channel_id"]),
        body=row["body"],
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class ChannelRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, c: Channel, sealed_secret: bytes | None) -> bool:
        """False when the project already has a channel of that name."""
        row = await self._conn.fetchrow(
            f"INSERT INTO channels ({_CHANNEL_COLUMNS}, secret) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
            " ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
            uuid.UUID(c.id),
            c.project_id,
            c.name,
            c.kind,
            c.url,
            list(c.email_to),
            c.enabled,
            c.disabled_reason,
            c.created_at,
            c.updated_at,
            sealed_secret,
        )
        return row is not None

    async def get(self, project_id: str, channel_id: str, *, lock: bool = False) -> Channel | None:
        key = _key(channel_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE id = $1 AND project_id = $2{' FOR UPDATE' if lock else ''}",
            key,
            project_id,
        )
        return None if row is None else _channel(row)

    async def existing(self, project_id: str, ids: Iterable[str]) -> set[str]:
        """Those of `ids` that are the project's channels, kept from deletion until the transaction ends (a rule that
        names them is being written)."""
        keys = [k for k in (_key(i) for i in ids) if k is not None]
        rows = await self._conn.fetch(
            "SELECT id FROM channels WHERE project_id = $1 AND id = ANY($2::uuid[]) FOR SHARE", project_id, keys
        )
        return {str(r["id"]) for r in rows}

    async def sending(self, channel_id: str) -> tuple[Channel, bytes | None] | None:
        """The channel and its sealed secret, to send a delivery with."""
        row = await self._conn.fetchrow(
            f"SELECT {_CHANNEL_COLUMNS}, secret FROM channels WHERE id = $1", uuid.UUID(channel_id)
        )
        return None if row is None else (_channel(row), row["secret"])

    async def set_enabled(self, channel_id: str, enabled: bool, reason: str, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE channels SET enabled = $2, disabled_reason = $3, updated_at = $4 WHERE id = $1",
            uuid.UUID(channel_id),
            enabled,
            reason,
            now,
        )

    async def delete(self, project_id: str, channel_id: str) -> None:
        await self._conn.execute(
            "DELETE FROM channels WHERE id = $1 AND project_id = $2", uuid.UUID(channel_id), project_id
        )

    async def page(self, flt: ChannelFilter, request: PageRequest) -> tuple[list[Channel], str | None]:
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .given("kind = {}", flt.kind)
            .given("name = {}", flt.name)
            .given("enabled = {}", flt.enabled)
        )
        return await fetch_page(self._conn, CHANNEL_LISTING, where, request, _channel)


class GroupRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def changed(
        self,
        project_id: str,
        rule_id: str,
        group_key: str,
        channel_ids: Iterable[str],
        now: datetime,
        wait: float,
        interval: float,
    ) -> None:
        """An alert of the group changed: a new group goes out after `wait`, one that went out before no sooner than
        `interval` after it last did; a group already due keeps its time."""
        await self._conn.execute(
            """INSERT INTO groups (channel_id, rule_id, group_key, project_id, due_at)
               SELECT c.id, $2, $3, $1, $4::timestamptz + make_interval(secs => $5)
               FROM channels c WHERE c.project_id = $1 AND c.id = ANY($6::uuid[])
               ON CONFLICT (channel_id, rule_id, group_key) DO UPDATE SET due_at = COALESCE(groups.due_at,
                   CASE WHEN groups.last_sent_at IS NULL THEN $4::timestamptz + make_interval(secs => $5)
                        ELSE GREATEST($4::timestamptz, groups.last_sent_at + make_interval(secs => $7)) END)""",
            project_id,
            uuid.UUID(rule_id),
            group_key,
            now,
            wait,
            [uuid.UUID(c) for c in channel_ids],
            interval,
        )

    async def claim_due(self, now: datetime, limit: int = 100) -> list[Group]:
        rows = await self._conn.fetch(
            """SELECT channel_id, rule_id, group_key, project_id, last_sent_at, flushed_at FROM groups
               WHERE due_at <= $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
            now,
            limit,
        )
        return [
            Group(
                str(r["channel_id"]),
                str(r["rule_id"]),
                r["group_key"],
                r["project_id"],
                r["last_sent_at"],
                r["flushed_at"],
            )
            for r in rows
        ]

    async def flushed(self, g: Group, now: datetime, still_firing: bool) -> None:
        """The group went out now; one with nothing firing any more starts afresh (its next alert waits
        group_wait)."""
        await self._conn.execute(
            """UPDATE groups SET due_at = NULL, flushed_at = $4::timestamptz,
                   last_sent_at = CASE WHEN $5 THEN $4::timestamptz ELSE NULL END
               WHERE channel_id = $1 AND rule_id = $2 AND group_key = $3""",
            uuid.UUID(g.channel_id),
            uuid.UUID(g.rule_id),
            g.group_key,
            now,
            still_firing,
        )

    async def repeat_due(self, now: datetime) -> None:
        """Groups that went out and are still firing are due again once the rule's repeat_interval has passed."""
        await self._conn.execute(
            """UPDATE groups g SET due_at = $1 FROM rules r
               WHERE g.rule_id = r.id AND g.due_at IS NULL AND g.last_sent_at IS NOT NULL
                 AND g.last_sent_at + make_interval(secs => (r.routing->>'repeat_interval_seconds')::float8) <= $1
                 AND EXISTS (SELECT 1 FROM alerts a WHERE a.rule_id = g.rule_id AND a.group_key = g.group_key
                             AND a.state = 'firing')""",
            now,
        )


class DeliveryRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, d: Delivery) -> None:
        await self._conn.execute(
            f"INSERT INTO deliveries ({_DELIVERY_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
            *self._values(d),
        )

    async def save(self, d: Delivery) -> None:
        await self._conn.execute(
            """UPDATE deliveries SET state = $2, attempts = $3, next_attempt_at = $4, last_status = $5,
                   last_error = $6, updated_at = $7 WHERE id = $1""",
            uuid.UUID(d.id),
            d.state,
            d.attempts,
            d.next_attempt_at,
            d.last_status,
            d.last_error,
            d.updated_at,
        )

    @staticmethod
    def _values(d: Delivery) -> tuple[Any, ...]:
        return (
            uuid.UUID(d.id),
            d.project_id,
            uuid.UUID(d.channel_id),
            d.body,
            d.state,
            d.attempts,
            d.next_attempt_at,
            d.last_status,
            d.last_error,
            d.created_at,
            d.updated_at,
        )

    async def claim_due(self, now: datetime, lease: float, limit: int = 50) -> list[Delivery]:
        """Due deliveries, leased: their next attempt moves `lease` seconds on, so that a process that dies while
        sending leaves them to be tried again, and no other process sends them meanwhile."""
        rows = await self._conn.fetch(
            f"""UPDATE deliveries SET next_attempt_at = $2 WHERE id IN (
                    SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $1
                    ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                RETURNING {_DELIVERY_COLUMNS}""",
            now,
            now + timedelta(seconds=lease),
            limit,
        )
        return [_delivery(r) for r in rows]

    async def abandon_of_channel(self, channel_id: str, reason: str, now: datetime) -> None:
        await self._conn.execute(
            """UPDATE deliveries SET state = 'failed', next_attempt_at = NULL, last_error = $2, updated_at = $3
               WHERE channel_id = $1 AND state = 'pending'""",
            uuid.UUID(channel_id),
            reason,
            now,
        )

    async def page(self, flt: DeliveryFilter, request: PageRequest) -> tuple[list[Delivery], str | None]:
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .add("channel_id = {}", uuid.UUID(flt.channel_id))
            .given("state = {}", flt.state)
        )
        return await fetch_page(self._conn, DELIVERY_LISTING, where, request, _delivery)
