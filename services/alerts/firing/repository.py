"""The `alerts` table: the live alert of each rule and label set, and those resolved (the history)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.db import Connection
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.alerts.firing.domain import Alert, Inhibitor
from services.alerts.rules.domain import Routing

_COLUMNS = (
    "id, project_id, rule_id, rule_name, kind, severity, fingerprint, group_key, labels, state, holds, value, summary, "
    "started_at, firing_since, last_true_at, resolved_at, correlation_id, last_event_id, updated_at, observed_at"
)
ALERT_LISTING = Listing(
    f"SELECT {_COLUMNS} FROM alerts",
    {"started_at": Column("started_at", "timestamptz"), "updated_at": Column("updated_at", "timestamptz")},
    Column("id", "uuid"),
    default_order="desc",
)


@dataclass(frozen=True)
class AlertFilter:
    project_id: str
    states: tuple[str, ...]
    rule_id: str | None = None
    severity: str | None = None
    instance_id: str | None = None
    kind: str | None = None


def _alert(row: Any) -> Alert:
    return Alert(
        id=str(row["id"]),
        project_id=row["project_id"],
        rule_id=str(row["rule_id"]),
        rule_name=row["rule_name"],
        kind=row["kind"],
        severity=row["severity"],
        fingerprint=row["fingerprint"],
        group_key=row["group_key"],
        labels=row["labels"],
        state=row["state"],
        holds=row["holds"],
        value=row["value"],
        summary=row["summary"],
        started_at=row["started_at"],
        firing_since=row["firing_since"],
        last_true_at=row["last_true_at"],
        resolved_at=row["resolved_at"],
        correlation_id=row["correlation_id"],
        last_event_id=None if row["last_event_id"] is None else str(row["last_event_id"]),
        updated_at=row["updated_at"],
        observed_at=row["observed_at"],
    )


class AlertRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def live(self, rule_id: str, fingerprint: str) -> Alert | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM alerts WHERE rule_id = $1 AND fingerprint = $2 AND state <> 'resolved' FOR UPDATE",
            uuid.UUID(rule_id),
            fingerprint,
        )
        return None if row is None else _alert(row)

    async def last_observed(self, rule_id: str, fingerprint: str) -> datetime | None:
        """When the newest input judged by the rule's resolved alerts of this label set was taken."""
        found: datetime | None = await self._conn.fetchval(
            "SELECT max(observed_at) FROM alerts WHERE rule_id = $1 AND fingerprint = $2 AND state = 'resolved'",
            uuid.UUID(rule_id),
            fingerprint,
        )
        return found

    async def inhibitors(self, project_id: str) -> list[Inhibitor]:
        """The project's firing alerts whose rules inhibit others: each one's labels and its rule's routing."""
        rows = await self._conn.fetch(
            """SELECT a.labels, r.routing FROM alerts a JOIN rules r ON r.id = a.rule_id
               WHERE a.project_id = $1 AND a.state = 'firing' AND r.routing->'inhibits' <> '{}'::jsonb""",
            project_id,
        )
        return [(r["labels"], Routing.from_json(r["routing"])) for r in rows]

    async def live_of_rule(self, rule_id: str) -> list[Alert]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM alerts WHERE rule_id = $1 AND state <> 'resolved' ORDER BY started_at, id"
            " FOR UPDATE",
            uuid.UUID(rule_id),
        )
        return [_alert(r) for r in rows]

    async def live_of_rules(self, rule_ids: Sequence[str]) -> dict[str, list[Alert]]:
        """The live alerts of each of the rules (locked), by rule id; a rule with none is left out."""
        found: dict[str, list[Alert]] = {}
        if not rule_ids:
            return found
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM alerts WHERE rule_id = ANY($1::uuid[]) AND state <> 'resolved'"
            " ORDER BY rule_id, started_at, id FOR UPDATE",
            [uuid.UUID(r) for r in rule_ids],
        )
        for r in rows:
            alert = _alert(r)
            found.setdefault(alert.rule_id, []).append(alert)
        return found

    async def unsettled(self) -> list[Alert]:
        """Every project's alerts that time alone may change: pending and holding, or firing and no longer holding."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM alerts WHERE (state = 'pending' AND holds) OR (state = 'firing' AND NOT holds)"
            " ORDER BY started_at, id FOR UPDATE SKIP LOCKED"
        )
        return [_alert(r) for r in rows]

    async def put(self, a: Alert) -> None:
        await self._conn.execute(
            f"""INSERT INTO alerts ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,
                   $18,$19,$20,$21)
               ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, holds = EXCLUDED.holds, value = EXCLUDED.value,
                   summary = EXCLUDED.summary, firing_since = EXCLUDED.firing_since,
                   last_true_at = EXCLUDED.last_true_at, resolved_at = EXCLUDED.resolved_at,
                   last_event_id = EXCLUDED.last_event_id, updated_at = EXCLUDED.updated_at,
                   observed_at = EXCLUDED.observed_at""",
            uuid.UUID(a.id),
            a.project_id,
            uuid.UUID(a.rule_id),
            a.rule_name,
            a.kind,
            a.severity,
            a.fingerprint,
            a.group_key,
            a.labels,
            a.state,
            a.holds,
            a.value,
            a.summary,
            a.started_at,
            a.firing_since,
            a.last_true_at,
            a.resolved_at,
            a.correlation_id,
            None if a.last_event_id is None else uuid.UUID(a.last_event_id),
            a.updated_at,
            a.observed_at,
        )

    async def drop(self, alert_id: str) -> None:
        await self._conn.execute("DELETE FROM alerts WHERE id = $1", uuid.UUID(alert_id))

    async def get(self, project_id: str, alert_id: str) -> Alert | None:
        try:
            key = uuid.UUID(alert_id)
        except ValueError:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM alerts WHERE id = $1 AND project_id = $2", key, project_id
        )
        return None if row is None else _alert(row)

    async def of_group(self, rule_id: str, group_key: str, resolved_after: datetime | None) -> list[Alert]:
        """A notification group's alerts: those firing, and those resolved since the group last went out."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM alerts WHERE rule_id = $1 AND group_key = $2"
            " AND (state = 'firing' OR (state = 'resolved' AND $3::timestamptz IS NOT NULL AND resolved_at > $3))"
            " ORDER BY started_at, id",
            uuid.UUID(rule_id),
            group_key,
            resolved_after,
        )
        return [_alert(r) for r in rows]

    async def page(self, flt: AlertFilter, request: PageRequest) -> tuple[list[Alert], str | None]:
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .add("state = ANY({}::text[])", list(flt.states))
            .given("rule_id = {}::uuid", flt.rule_id)
            .given("severity = {}", flt.severity)
            .given("labels->>'instance_id' = {}", flt.instance_id)
            .given("kind = {}", flt.kind)
        )
        return await fetch_page(self._conn, ALERT_LISTING, where, request, _alert)
