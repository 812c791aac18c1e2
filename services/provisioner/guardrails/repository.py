"""The `guardrails` and `approvals` tables, and the statements on `instances` that the guard-rails make (what a project
holds, the lifetimes due for a warning or their end): the ports the use cases name, and their PostgreSQL
implementations. Every lookup by id carries the project."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kernel.db import Connection, from_row
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.provisioner.guardrails.domain import (
    AWAITING_APPROVAL,
    NOT_COUNTED,
    Approval,
    ApprovalState,
    Guardrails,
    Held,
)
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.instances.repository import COLUMNS as INSTANCE_COLUMNS
from services.provisioner.instances.repository import key_of, record_of

_RAILS = (
    "project_id, version, max_instances, max_vcpus, max_monthly_cost, currency, required_tags, max_lifetime_hours, "
    "expiry_action, expiry_warnings, approval_threshold, changed_by, changed_at, correlation_id, last_event_id"
)
_APPROVALS = (
    "id, project_id, instance_id, state, monthly, currency, threshold, requested_by, decided_by, reason, created_at, "
    "updated_at, decided_at, correlation_id, last_event_id"
)
APPROVAL_LISTING = Listing(
    f"SELECT {_APPROVALS} FROM approvals",
    {"created_at": Column("created_at", "timestamptz"), "updated_at": Column("updated_at", "timestamptz")},
    Column("id", "uuid"),
)


@dataclass(frozen=True)
class ApprovalFilter:
    project_id: str
    states: Sequence[ApprovalState] = ()
    instance_id: str | None = None


class GuardrailRepository(Protocol):
    async def get(self, project_id: str) -> Guardrails | None: ...
    async def lock(self, project_id: str) -> Guardrails | None:
        """The project's guard-rails, its row locked until the transaction ends: launches that count against them,
        and changes of them, then go one at a time."""
        ...

    async def save(self, rails: Guardrails) -> None: ...
    async def held(self, project_id: str) -> list[Held]:
        """What the project's instances that count against its quotas hold, by cloud and flavor."""
        ...

    async def add_approval(self, approval: Approval) -> None: ...
    async def approval(self, project_id: str, approval_id: str) -> Approval | None: ...
    async def lock_approval(self, project_id: str, approval_id: str) -> Approval | None: ...
    async def save_approval(self, approval: Approval) -> None: ...
    async def approvals(self, flt: ApprovalFilter, request: PageRequest) -> tuple[list[Approval], str | None]: ...
    async def lapsed_approvals(self, before: datetime, limit: int) -> list[Approval]:
        """Approvals still waiting that were asked for before `before`, locked (those another transaction holds are
        skipped)."""
        ...

    async def expiring(self, now: datetime, limit: int) -> list[InstanceRecord]:
        """Instances with a warning or their end due at `now`, locked (those another transaction holds are
        skipped)."""
        ...

    async def set_expiry(self, instance_id: str, expires_at: datetime | None, warnings_sent: int) -> None: ...
    async def expired(self, instance_id: str, at: datetime) -> None: ...


def _rails(row: Any) -> Guardrails:
    return from_row(
        Guardrails,
        row,
        currency=row["currency"].strip() if row["currency"] else None,
        required_tags={k: tuple(v) for k, v in row["required_tags"].items()},
        expiry_warnings=tuple(float(h) for h in row["expiry_warnings"]),
    )


def _approval(row: Any) -> Approval:
    return from_row(Approval, row, currency=row["currency"].strip())


class PostgresGuardrailRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, project_id: str) -> Guardrails | None:
        row = await self._conn.fetchrow(f"SELECT {_RAILS} FROM guardrails WHERE project_id = $1", project_id)
        return _rails(row) if row else None

    async def lock(self, project_id: str) -> Guardrails | None:
        row = await self._conn.fetchrow(f"SELECT {_RAILS} FROM guardrails WHERE project_id = $1 FOR UPDATE", project_id)
        return _rails(row) if row else None

    async def save(self, rails: Guardrails) -> None:
        await self._conn.execute(
            f"""INSERT INTO guardrails ({_RAILS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                    $15)
                ON CONFLICT (project_id) DO UPDATE SET
                    version = EXCLUDED.version, max_instances = EXCLUDED.max_instances,
                    max_vcpus = EXCLUDED.max_vcpus, max_monthly_cost = EXCLUDED.max_monthly_cost,
                    currency = EXCLUDED.currency, required_tags = EXCLUDED.required_tags,
                    max_lifetime_hours = EXCLUDED.max_lifetime_hours, expiry_action = EXCLUDED.expiry_action,
                    expiry_warnings = EXCLUDED.expiry_warnings, approval_threshold = EXCLUDED.approval_threshold,
                    changed_by = EXCLUDED.changed_by, changed_at = EXCLUDED.changed_at,
                    correlation_id = EXCLUDED.correlation_id, last_event_id = EXCLUDED.last_event_id""",
            rails.project_id,
            rails.version,
            rails.max_instances,
            rails.max_vcpus,
            rails.max_monthly_cost,
            rails.currency,
            {k: list(v) for k, v in rails.required_tags.items()},
            rails.max_lifetime_hours,
            rails.expiry_action,
            list(rails.expiry_warnings),
            rails.approval_threshold,
            rails.changed_by,
            rails.changed_at,
            rails.correlation_id,
            rails.last_event_id,
        )

    async def held(self, project_id: str) -> list[Held]:
        rows = await self._conn.fetch(
            """SELECT cloud_id, flavor_id, image_id, count(*) AS count, coalesce(sum(vcpus), 0) AS vcpus,
                      count(*) FILTER (WHERE vcpus IS NULL) AS vcpus_unknown
               FROM instances WHERE project_id = $1 AND NOT state = ANY($2::text[])
               GROUP BY cloud_id, flavor_id, image_id ORDER BY cloud_id, flavor_id, image_id""",
            project_id,
            sorted(NOT_COUNTED),
        )
        return [
            Held(r["cloud_id"], r["flavor_id"], r["count"], r["vcpus"], r["vcpus_unknown"], r["image_id"]) for r in rows
        ]

    async def add_approval(self, approval: Approval) -> None:
        await self._conn.execute(
            f"INSERT INTO approvals ({_APPROVALS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
            "$14, $15)",
            uuid.UUID(approval.id),
            approval.project_id,
            uuid.UUID(approval.instance_id),
            approval.state,
            approval.monthly,
            approval.currency,
            approval.threshold,
            approval.requested_by,
            approval.decided_by,
            approval.reason,
            approval.created_at,
            approval.updated_at,
            approval.decided_at,
            approval.correlation_id,
            approval.last_event_id,
        )

    async def _approval(self, project_id: str, approval_id: str, lock: str = "") -> Approval | None:
        key = key_of(approval_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_APPROVALS} FROM approvals WHERE id = $1 AND project_id = $2 {lock}", key, project_id
        )
        return _approval(row) if row else None

    async def approval(self, project_id: str, approval_id: str) -> Approval | None:
        return await self._approval(project_id, approval_id)

    async def lock_approval(self, project_id: str, approval_id: str) -> Approval | None:
        return await self._approval(project_id, approval_id, "FOR UPDATE")

    async def save_approval(self, approval: Approval) -> None:
        await self._conn.execute(
            """UPDATE approvals SET state = $2, decided_by = $3, reason = $4, decided_at = $5, updated_at = $6,
                   last_event_id = $7, correlation_id = $8
               WHERE id = $1""",
            uuid.UUID(approval.id),
            approval.state,
            approval.decided_by,
            approval.reason,
            approval.decided_at,
            approval.updated_at,
            approval.last_event_id,
            approval.correlation_id,
        )

    async def approvals(self, flt: ApprovalFilter, request: PageRequest) -> tuple[list[Approval], str | None]:
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .given("state = ANY({}::text[])", flt.states)
            .given("instance_id = {}", key_of(flt.instance_id) if flt.instance_id else None)
        )
        return await fetch_page(self._conn, APPROVAL_LISTING, where, request, _approval)

    async def lapsed_approvals(self, before: datetime, limit: int) -> list[Approval]:
        rows = await self._conn.fetch(
            f"""SELECT {_APPROVALS} FROM approvals WHERE state = 'pending' AND created_at < $1
                ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
            before,
            limit,
        )
        return [_approval(r) for r in rows]

    async def expiring(self, now: datetime, limit: int) -> list[InstanceRecord]:
        # The next warning not sent yet is the one at index `warnings_sent` (warnings are kept longest first).
        rows = await self._conn.fetch(
            f"""SELECT {INSTANCE_COLUMNS} FROM instances
                WHERE expires_at IS NOT NULL AND expired_at IS NULL AND NOT state = ANY($2::text[])
                  AND (expires_at <= $1
                       OR expires_at - make_interval(secs => ((expiry_warnings ->> warnings_sent)::float8 * 3600))
                          <= $1)
                ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED""",
            now,
            # A launch waiting for approval is not in its cloud: its approval decides first.
            sorted(NOT_COUNTED | {AWAITING_APPROVAL}),
            limit,
        )
        return [record_of(r) for r in rows]

    async def set_expiry(self, instance_id: str, expires_at: datetime | None, warnings_sent: int) -> None:
        await self._conn.execute(
            "UPDATE instances SET expires_at = $2, warnings_sent = $3, updated_at = now() WHERE id = $1",
            uuid.UUID(instance_id),
            expires_at,
            warnings_sent,
        )

    async def expired(self, instance_id: str, at: datetime) -> None:
        await self._conn.execute("UPDATE instances SET expired_at = $2 WHERE id = $1", uuid.UUID(instance_id), at)


__all__ = [
    "APPROVAL_LISTING",
    "ApprovalFilter",
    "GuardrailRepository",
    "PostgresGuardrailRepository",
]
