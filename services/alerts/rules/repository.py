"""The `rules` table, and what the service learned from the bus to judge them: instances, the metric names pushed in
each project. Every lookup a request makes carries the project."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.db import Connection
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.alerts.rules.domain import Condition, Instance, Routing, Rule

_COLUMNS = (
    "id, project_id, name, kind, severity, spec, channel_ids, routing, correlation_id, last_event_id, created_at, "
    "updated_at"
)
RULE_LISTING = Listing(
    f"SELECT {_COLUMNS} FROM rules",
    {"created_at": Column("created_at", "timestamptz"), "name": Column("name", "text")},
    Column("id", "uuid"),
)


@dataclass(frozen=True)
class RuleFilter:
    project_id: str
    kind: str | None = None
    name: str | None = None
    metric: str | None = None
    channel_id: str | None = None


def key_of(record_id: str) -> uuid.UUID | None:
    """A record's id as its key; None for text that cannot be one (no record has it)."""
    try:
        return uuid.UUID(record_id)
    except ValueError:
        return None


def _rule(row: Any) -> Rule:
    return Rule(
        id=str(row["id"]),
        project_id=row["project_id"],
        name=row["name"],
        kind=row["kind"],
        severity=row["severity"],
        condition=Condition.from_json(row["spec"]),
        channel_ids=tuple(row["channel_ids"]),
        routing=Routing.from_json(row["routing"]),
        correlation_id=row["correlation_id"],
        last_event_id=None if row["last_event_id"] is None else str(row["last_event_id"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class RuleRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _values(r: Rule) -> tuple[Any, ...]:
        return (
            uuid.UUID(r.id),
            r.project_id,
            r.name,
            r.kind,
            r.severity,
            r.condition.as_json(),
            list(r.channel_ids),
            r.routing.as_json(),
            r.correlation_id,
            None if r.last_event_id is None else uuid.UUID(r.last_event_id),
            r.created_at,
            r.updated_at,
        )

    async def add(self, r: Rule) -> bool:
        """False when the project already has a rule of that name."""
        row = await self._conn.fetchrow(
            f"INSERT INTO rules ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
            " ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
            *self._values(r),
        )
        return row is not None

    async def save(self, r: Rule) -> None:
        await self._conn.execute(
            """UPDATE rules SET name = $3, kind = $4, severity = $5, spec = $6, channel_ids = $7, routing = $8,
                   correlation_id = $9, last_event_id = $10, created_at = $11, updated_at = $12
               WHERE id = $1 AND project_id = $2""",
            *self._values(r),
        )

    async def name_taken(self, project_id: str, name: str, other_than: str) -> bool:
        found = await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM rules WHERE project_id = $1 AND name = $2 AND id <> $3)",
            project_id,
            name,
            uuid.UUID(other_than),
        )
        return bool(found)

    async def get(self, project_id: str, rule_id: str, *, lock: bool = False) -> Rule | None:
        key = key_of(rule_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM rules WHERE id = $1 AND project_id = $2" + (" FOR UPDATE" if lock else ""),
            key,
            project_id,
        )
        return None if row is None else _rule(row)

    async def delete(self, project_id: str, rule_id: str) -> None:
        await self._conn.execute("DELETE FROM rules WHERE id = $1 AND project_id = $2", uuid.UUID(rule_id), project_id)

    async def naming_channel(self, project_id: str, channel_id: str, limit: int = 5) -> tuple[list[str], int]:
        """The names of up to `limit` of the project's rules that send to the channel, and how many do."""
        rows = await self._conn.fetch(
            "SELECT name, count(*) OVER () AS total FROM rules WHERE project_id = $1 AND channel_ids ? $2"
            " ORDER BY name LIMIT $3",
            project_id,
            channel_id,
            limit,
        )
        return [r["name"] for r in rows], (rows[0]["total"] if rows else 0)

    async def of_metrics(self, project_id: str, metrics: Iterable[str]) -> list[Rule]:
        """The project's threshold and no-data rules on any of `metrics`."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM rules WHERE project_id = $1 AND kind IN ('threshold', 'no_data')"
            " AND spec->>'metric' = ANY($2::text[]) ORDER BY created_at, id",
            project_id,
            list(metrics),
        )
        return [_rule(r) for r in rows]

    async def of_event(self, project_id: str, event_type: str) -> list[Rule]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM rules WHERE project_id = $1 AND kind = 'event_rate'"
            " AND spec->>'event_type' = $2 ORDER BY created_at, id",
            project_id,
            event_type,
        )
        return [_rule(r) for r in rows]

    async def of_kind(self, project_id: str | None, kind: str) -> list[Rule]:
        """A project's rules of a kind, or (no project) every project's: the evaluator's pass."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM rules WHERE kind = $1 AND ($2::text IS NULL OR project_id = $2)"
            " ORDER BY created_at, id",
            kind,
            project_id,
        )
        return [_rule(r) for r in rows]

    async def by_ids(self, ids: Iterable[str]) -> dict[str, Rule]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM rules WHERE id = ANY($1::uuid[])", [uuid.UUID(i) for i in ids]
        )
        return {str(r["id"]): _rule(r) for r in rows}

    async def page(self, flt: RuleFilter, request: PageRequest) -> tuple[list[Rule], str | None]:
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .given("kind = {}", flt.kind)
            .given("name = {}", flt.name)
            .given("spec->>'metric' = {}", flt.metric)
            .given("channel_ids ? {}", flt.channel_id)
        )
        return await fetch_page(self._conn, RULE_LISTING, where, request, _rule)


def _instance(r: Any) -> Instance:
    return Instance(
        instance_id=r["instance_id"],
        project_id=r["project_id"],
        cloud_id=r["cloud_id"],
        tags=r["tags"],
        template_id=r["template_id"],
        state=r["state"],
        template_version=r["template_version"],
    )


class KnowledgeRepository:
    """What the bus told: instances and the metric names pushed in each project."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def learn_instance(self, i: Instance, at: datetime) -> None:
        await self._conn.execute(
            """INSERT INTO instances (instance_id, project_id, cloud_id, tags, template_id, template_version, state,
                   updated_at)
               VALUES ($1,$2,$3,$4,$5,$8,$6,$7)
               ON CONFLICT (instance_id) DO UPDATE SET tags = EXCLUDED.tags, template_id = EXCLUDED.template_id,
                   template_version = EXCLUDED.template_version, state = EXCLUDED.state,
                   updated_at = EXCLUDED.updated_at""",
            i.instance_id,
            i.project_id,
            i.cloud_id,
            dict(i.tags),
            i.template_id,
            i.state,
            at,
            i.template_version,
        )

    async def set_state(self, instance_id: str, state: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE instances SET state = $2, updated_at = $3 WHERE instance_id = $1", instance_id, state, at
        )

    async def forget_instance(self, instance_id: str) -> None:
        await self._conn.execute("DELETE FROM instances WHERE instance_id = $1", instance_id)
        await self._conn.execute("DELETE FROM series WHERE instance_id = $1", instance_id)

    async def instances(self, project_id: str, ids: Iterable[str]) -> dict[str, Instance]:
        rows = await self._conn.fetch(
            "SELECT * FROM instances WHERE project_id = $1 AND instance_id = ANY($2::text[])", project_id, list(ids)
        )
        return {r["instance_id"]: _instance(r) for r in rows}

    async def learn_template_alerts(
        self, project_id: str, template_id: str, version: int, name: str, specs: list[dict[str, Any]]
    ) -> None:
        await self._conn.execute(
            """INSERT INTO template_alerts (template_id, version, project_id, name, specs) VALUES ($1,$2,$3,$4,$5)
               ON CONFLICT (template_id, version) DO NOTHING""",
            template_id,
            version,
            project_id,
            name,
            specs,
        )

    async def template_alerts(self, project_id: str, template_id: str, version: int) -> tuple[str, list[Any]] | None:
        """A template version's name and alert specs, when it has any."""
        row = await self._conn.fetchrow(
            "SELECT name, specs FROM template_alerts WHERE project_id = $1 AND template_id = $2 AND version = $3",
            project_id,
            template_id,
            version,
        )
        return None if row is None else (row["name"], row["specs"])

    async def saw_metrics(self, project_id: str, names: Iterable[str], at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO metric_names (project_id, name, first_seen) SELECT $1, unnest($2::text[]), $3"
            " ON CONFLICT DO NOTHING",
            project_id,
            sorted(set(names)),
            at,
        )

    async def metric_known(self, project_id: str, name: str) -> bool:
        found = await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM metric_names WHERE project_id = $1 AND name = $2)", project_id, name
        )
        return bool(found)

    async def saw_series(
        self,
        project_id: str,
        metric: str,
        series_key: str,
        instance_id: str | None,
        labels: dict[str, str],
        at: datetime,
    ) -> None:
        await self._conn.execute(
            """INSERT INTO series (project_id, metric, series_key, instance_id, labels, last_at)
               VALUES ($1,$2,$3,$4,$5,$6)
               ON CONFLICT (project_id, metric, series_key) DO UPDATE
               SET last_at = GREATEST(series.last_at, EXCLUDED.last_at)""",
            project_id,
            metric,
            series_key,
            instance_id,
            labels,
            at,
        )

    async def quiet_series(
        self, watched: Sequence[tuple[str, str, datetime]]
    ) -> list[tuple[int, str | None, dict[str, str], datetime]]:
        """The series that have not reported since when each (project id, metric, since) of `watched` asks, all
        asked with one statement: (the index of what asked, instance id, labels, last report), in that order."""
        if not watched:
            return []
        rows = await self._conn.fetch(
            """SELECT q.n, s.instance_id, s.labels, s.last_at
               FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS q(project_id, metric, since, n)
               JOIN series s ON s.project_id = q.project_id AND s.metric = q.metric AND s.last_at < q.since
               ORDER BY q.n, s.series_key""",
            [w[0] for w in watched],
            [w[1] for w in watched],
            [w[2] for w in watched],
        )
        return [(r["n"] - 1, r["instance_id"], r["labels"], r["last_at"]) for r in rows]

    async def instances_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Instance]:
        """The instances of each (project id, instance id) of `keys` that are known, with one statement."""
        pairs = sorted(set(keys))
        if not pairs:
            return {}
        rows = await self._conn.fetch(
            """SELECT i.* FROM instances i JOIN unnest($1::text[], $2::text[]) AS k(project_id, instance_id)
               ON i.project_id = k.project_id AND i.instance_id = k.instance_id""",
            [p for p, _ in pairs],
            [i for _, i in pairs],
        )
        return {(r["project_id"], r["instance_id"]): _instance(r) for r in rows}

    async def hit(self, rule_id: str, event_id: str, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO event_hits (rule_id, event_id, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            uuid.UUID(rule_id),
            uuid.UUID(event_id),
            at,
        )

    async def hits_since(self, rule_id: str, since: datetime) -> int:
        await self._conn.execute("DELETE FROM event_hits WHERE rule_id = $1 AND at < $2", uuid.UUID(rule_id), since)
        count = await self._conn.fetchval("SELECT count(*) FROM event_hits WHERE rule_id = $1", uuid.UUID(rule_id))
        return int(count or 0)
