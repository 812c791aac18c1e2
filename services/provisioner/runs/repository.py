"""The `script_runs` and `project_keys` tables: the port the run use cases and the engine name, and its PostgreSQL
implementation. Every lookup by id carries the project: another project's run is not found.

Runs asked for together (`batch_id`) are claimed at most `batch_limit` at a time; with a limit of 1 they run in the
order they were asked for (a terminate's decommission scripts). Output is appended in short transactions while the
run's claim holds, keeping the last `OUTPUT_LIMIT` bytes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from kernel.db import Connection, from_row
from kernel.keyset import Listing, PageRequest, Where, fetch_page
from services.provisioner.clouds.repository import CloudRepository
from services.provisioner.instances.repository import InstanceRepository, key_of
from services.provisioner.listing import RECORD_KEY, RECORD_SORTS
from services.provisioner.runs.domain import OUTPUT_LIMIT, RunRecord
from services.provisioner.templates.kept import KeptVersions
from services.provisioner.templates.repository import TemplateRepository
from services.provisioner.work.engine import PendingStore
from services.provisioner.work.table import _DUE, PENDING_COLUMNS, RECORD_COLUMNS, PendingTable, Stored, kept

COLUMNS = (
    "id, project_id, cloud_id, name, instance_id, provider_id, script_id, script_version, phase, timeout_seconds, "
    "inputs, state, pending_action, attempts, throttled, pending_since, reason, problem, exit_code, host_key, "
    "batch_id, batch_limit, started_at, ended_at, output_bytes, correlation_id, last_event_id, created_at, updated_at, "
    "claim_token"
)
RUN_LISTING = Listing(f"SELECT {COLUMNS} FROM script_runs", RECORD_SORTS, RECORD_KEY, default_order="desc")
# A run of a batch may start while fewer than its limit of the batch are held; with a limit of 1, only after every
# run of the batch asked for before it has ended.
_BATCH_ROOM = """(r.batch_id IS NULL OR (
    (SELECT count(*) FROM script_runs b WHERE b.batch_id = r.batch_id AND b.claim_token IS NOT NULL
        AND b.claimed_until >= now() AND b.id <> r.id) < r.batch_limit
    AND (r.batch_limit > 1 OR NOT EXISTS (
        SELECT 1 FROM script_runs b WHERE b.batch_id = r.batch_id AND b.seq < r.seq AND b.pending_action IS NOT NULL))
))"""


@dataclass(frozen=True)
class RunFilter:
    project_id: str
    instance_id: str | None = None
    states: Sequence[str] = ()
    batch_id: str | None = None


@dataclass(frozen=True)
class Output:
    """A stretch of a run's output: `data` starts at byte `offset` of everything it ever wrote (`total`)."""

    offset: int
    data: bytes
    total: int


class RunRepository(PendingStore[RunRecord], Protocol):
    async def add(self, record: RunRecord, sealed_script: bytes | None) -> None: ...
    async def get(self, project_id: str, run_id: str) -> RunRecord | None: ...
    async def page(self, flt: RunFilter, request: PageRequest) -> tuple[list[RunRecord], str | None]: ...
    async def sealed_script(self, run_id: str) -> bytes | None: ...
    async def mark_running(self, record: RunRecord, token: str) -> bool:
        """Save a run that started, while `token` still holds it (its claim is kept)."""
        ...

    async def append_output(self, run_id: str, token: str, data: bytes) -> bool: ...
    async def output(self, project_id: str, run_id: str, offset: int, limit: int) -> Output | None: ...
    async def unended_decommission(self, instance_id: str) -> int: ...
    async def running_instances(
        self, project_id: str, cloud_id: str | None, template_id: str | None, name: str | None
    ) -> list[str]: ...
    async def terminate_when_ready(self, instance_id: str, seconds: float) -> None:
        """Let the instance's terminate wait `seconds` at most (0: make it due now)."""
        ...

    async def project_key(self, project_id: str) -> tuple[str, bytes] | None: ...
    async def add_project_key(self, project_id: str, public_key: str, sealed_private: bytes, at: datetime) -> None:
        """Keep the project's key pair, unless one was kept meanwhile."""
        ...


class RunStore(Protocol):
    """The repositories the run use cases read."""

    @property
    def clouds(self) -> CloudRepository: ...
    @property
    def instances(self) -> InstanceRepository: ...
    @property
    def templates(self) -> TemplateRepository: ...
    @property
    def runs(self) -> RunRepository: ...


def record_of(row: Any) -> RunRecord:
    return from_row(RunRecord, row)


class PostgresRunRepository(PendingTable[RunRecord]):
    table = "script_runs"
    columns = COLUMNS
    changing: ClassVar[Stored] = {
        **PENDING_COLUMNS,
        "problem": kept,
        "exit_code": kept,
        "host_key": kept,
        "started_at": kept,
        "ended_at": kept,
    }
    inserted: ClassVar[Stored] = {
        **RECORD_COLUMNS,
        "instance_id": uuid.UUID,
        "script_id": uuid.UUID,
        "script_version": kept,
        "phase": kept,
        "timeout_seconds": kept,
        "inputs": dict,
        "batch_id": lambda v: uuid.UUID(v) if v else None,
        "batch_limit": kept,
        **changing,
    }

    def __init__(self, conn: Connection, memory: KeptVersions | None = None) -> None:
        """`memory`: what the service keeps of records that never change (projects' run keys among them)."""
        super().__init__(conn)
        self._memory = memory

    def _record(self, row: Any) -> RunRecord:
        return record_of(row)

    async def add(self, record: RunRecord, sealed_script: bytes | None) -> None:
        await self._insert(record)
        await self._conn.execute(
            "UPDATE script_runs SET sealed_script = $2 WHERE id = $1", uuid.UUID(record.id), sealed_script
        )

    async def get(self, project_id: str, run_id: str) -> RunRecord | None:
        key = key_of(run_id)
        return await self._one("id = $1 AND project_id = $2", key, project_id) if key else None

    async def page(self, flt: RunFilter, request: PageRequest) -> tuple[list[RunRecord], str | None]:
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .given("instance_id = {}::uuid", flt.instance_id)
            .given("state = ANY({}::text[])", flt.states)
            .given("batch_id = {}::uuid", flt.batch_id)
        )
        return await fetch_page(self._conn, RUN_LISTING, where, request, record_of)

    async def sealed_script(self, run_id: str) -> bytes | None:
        found: bytes | None = await self._conn.fetchval(
            "SELECT sealed_script FROM script_runs WHERE id = $1", uuid.UUID(run_id)
        )
        return found

    async def due(self, limit: int) -> list[str]:
        rows = await self._conn.fetch(
            f"SELECT id FROM script_runs r WHERE {_DUE} AND {_BATCH_ROOM} ORDER BY next_attempt_at, seq LIMIT $1",
            limit,
        )
        return [str(r["id"]) for r in rows]

    async def claim(self, record_id: str, token: str, lease: float) -> RunRecord | None:
        batch = await self._conn.fetchval("SELECT batch_id FROM script_runs WHERE id = $1", uuid.UUID(record_id))
        if batch is not None:
            # One claim of a batch at a time decides on its room.
            await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", str(batch))
        row = await self._conn.fetchrow(
            f"""UPDATE script_runs r SET claim_token = $2, claimed_until = now() + make_interval(secs => $3)
                WHERE id = $1 AND {_DUE} AND {_BATCH_ROOM} RETURNING {COLUMNS}""",
            uuid.UUID(record_id),
            uuid.UUID(token),
            lease,
        )
        return record_of(row) if row else None

    async def mark_running(self, record: RunRecord, token: str) -> bool:
        done = await self._conn.fetchval(
            """UPDATE script_runs SET state = $3, host_key = $4, started_at = $5, last_event_id = $6,
                   sealed_script = NULL, updated_at = now()
               WHERE id = $1 AND claim_token = $2 RETURNING true""",
            uuid.UUID(record.id),
            uuid.UUID(token),
            record.state,
            record.host_key,
            record.started_at,
            uuid.UUID(record.last_event_id) if record.last_event_id else None,
        )
        return bool(done)

    async def append_output(self, run_id: str, token: str, data: bytes) -> bool:
        done = await self._conn.fetchval(
            """UPDATE script_runs SET
                   output = substring(output || $3
                                      FROM greatest(1, octet_length(output) + octet_length($3) - $4::int + 1)),
                   output_bytes = output_bytes + octet_length($3), updated_at = now()
               WHERE id = $1 AND claim_token = $2 RETURNING true""",
            uuid.UUID(run_id),
            uuid.UUID(token),
            data,
            OUTPUT_LIMIT,
        )
        return bool(done)

    async def output(self, project_id: str, run_id: str, offset: int, limit: int) -> Output | None:
        key = key_of(run_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            """SELECT output_bytes, output_bytes - octet_length(output) AS kept_from,
                      substring(output FROM greatest(1, $3::bigint - (output_bytes - octet_length(output)) + 1)::int
                                FOR $4::int) AS data
               FROM script_runs WHERE id = $1 AND project_id = $2""",
            key,
            project_id,
            offset,
            limit,
        )
        if row is None:
            return None
        start = max(offset, row["kept_from"])
        return Output(offset=min(start, row["output_bytes"]), data=bytes(row["data"]), total=row["output_bytes"])

    async def running_instances(
        self, project_id: str, cloud_id: str | None, template_id: str | None, name: str | None
    ) -> list[str]:
        rows = await self._conn.fetch(
            """SELECT id FROM instances WHERE project_id = $1 AND state = 'running' AND pending_action IS NULL
                   AND ($2::text IS NULL OR cloud_id = $2) AND ($3::text IS NULL OR template_id::text = $3)
                   AND ($4::text IS NULL OR name = $4)
               ORDER BY created_at, id LIMIT 1000""",
            project_id,
            cloud_id,
            template_id,
            name,
        )
        return [str(r["id"]) for r in rows]

    async def unended_decommission(self, instance_id: str) -> int:
        found: int = await self._conn.fetchval(
            """SELECT count(*) FROM script_runs
               WHERE instance_id = $1 AND phase = 'decommission' AND pending_action IS NOT NULL""",
            uuid.UUID(instance_id),
        )
        return found

    async def terminate_when_ready(self, instance_id: str, seconds: float) -> None:
        await self._conn.execute(
            """UPDATE instances SET next_attempt_at = now() + make_interval(secs => $2)
               WHERE id = $1 AND pending_action = 'terminate'""",
            uuid.UUID(instance_id),
            seconds,
        )

    async def project_key(self, project_id: str) -> tuple[str, bytes] | None:
        kept = self._memory.project_key(project_id) if self._memory is not None else None
        if kept is not None:
            return kept
        row = await self._conn.fetchrow(
            "SELECT public_key, sealed_private FROM project_keys WHERE project_id = $1", project_id
        )
        if row is None:
            return None
        found = (row["public_key"], bytes(row["sealed_private"]))
        if self._memory is not None:
            self._memory.keep_project_key(project_id, found)
        return found

    async def add_project_key(self, project_id: str, public_key: str, sealed_private: bytes, at: datetime) -> None:
        await self._conn.execute(
            """INSERT INTO project_keys (project_id, public_key, sealed_private, created_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (project_id) DO NOTHING""",
            project_id,
            public_key,
            sealed_private,
            at,
        )

    async def moving(self) -> list[RunRecord]:
        return []  # nothing to follow: a run ends when its worker's session does

    async def lock_moving(self, ids: Sequence[str]) -> list[RunRecord]:
        return []


__all__ = ["COLUMNS", "Output", "PostgresRunRepository", "RunFilter", "RunRepository", "RunStore", "record_of"]
