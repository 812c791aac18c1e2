"""The provisioner's repositories in memory, behind the same ports as the PostgreSQL ones, for unit tests of its use
cases and of the pending-action engine without any server.

Every repository is a view of one `FakeDatabase`; `kernel.unit_of_work.FakeUnitOfWork` copies it for each
transaction and keeps the copy when the transaction commits. The database's clock (seconds, moved by the test) is
the one thing copies share: leases and due times are read on it, as PostgreSQL reads its own `now()`.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from kernel.crypto import Keyring
from kernel.errors import Conflict
from kernel.keyset import PageRequest
from kernel.unit_of_work import FakeUnitOfWork
from services.provisioner.blocks.domain import LaunchBlock
from services.provisioner.blocks.repository import BlockFilter
from services.provisioner.boot.repository import Booting, BootSaved, DueBoot
from services.provisioner.clouds.directory import CloudDirectory, Connector
from services.provisioner.clouds.domain import Cloud
from services.provisioner.clouds.repository import ENDED, NameTaken, StillReferenced
from services.provisioner.clusters.domain import ACTIVE as CLUSTER_ACTIVE
from services.provisioner.clusters.domain import ClusterRecord, Member
from services.provisioner.clusters.repository import ClusterFilter
from services.provisioner.commands.repository import CommandRecord
from services.provisioner.commands.repository import State as CommandState
from services.provisioner.guardrails.domain import AWAITING_APPROVAL, NOT_COUNTED, Approval, Guardrails, Held
from services.provisioner.guardrails.repository import ApprovalFilter
from services.provisioner.instances.domain import TRANSITIONAL, InstanceRecord, LaunchNames
from services.provisioner.instances.repository import InstanceFilter
from services.provisioner.inventory.domain import Counts, SyncRun, SyncStatus, SyncTrigger
from services.provisioner.inventory.repository import INTERRUPTED
from services.provisioner.placement.repository import Occupancy
from services.provisioner.prices.domain import CatalogVersion, Price, PriceKind, in_force
from services.provisioner.resources.domain import RULES, Kind, ResourceRecord, launch_names
from services.provisioner.resources.handlers import Ports
from services.provisioner.resources.repository import ResourceFilter
from services.provisioner.runs.domain import OUTPUT_LIMIT, RunRecord
from services.provisioner.runs.repository import Output, RunFilter
from services.provisioner.unit_of_work import Repositories
from services.provisioner.work.engine import Engine
from services.provisioner.work.pacing import Pacer, RetryPolicy
from tests.clock import FakeClock
from tests.fakes.cloud import FakeCloud
from tests.fakes.paging import page
from tests.fakes.templates import FakeTemplateRepository, TemplateTables

R = TypeVar("R", InstanceRecord, ResourceRecord, RunRecord)


@dataclass
class Row(Generic[R]):
    """A record as its table keeps it: with when its action is due, who holds it, and its version."""

    record: R
    next_at: float = 0.0
    claim: str | None = None
    claimed_until: float | None = None
    version: int = 1


@dataclass
class Run:
    run: SyncRun
    held_until: float | None


@dataclass
class ScriptRunTables:
    rows: dict[str, Row[RunRecord]] = field(default_factory=dict)
    sealed: dict[str, bytes | None] = field(default_factory=dict)
    # All a run kept of its output, and how many bytes it wrote in all.
    output: dict[str, bytes] = field(default_factory=dict)
    # project -> (public key, sealed private key)
    keys: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass
class FakeDatabase:
    clock: FakeClock = field(default_factory=FakeClock)
    clouds: dict[str, Cloud] = field(default_factory=dict)
    modules: dict[str, bool] = field(default_factory=dict)
    launch_blocks: dict[tuple[str, str], LaunchBlock] = field(default_factory=dict)
    instances: dict[str, Row[InstanceRecord]] = field(default_factory=dict)
    resources: dict[str, Row[ResourceRecord]] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    templates: TemplateTables = field(default_factory=TemplateTables)
    script_runs: ScriptRunTables = field(default_factory=lambda: ScriptRunTables())
    # catalog id -> (the version, its prices)
    price_catalogs: dict[str, tuple[CatalogVersion, tuple[Price, ...]]] = field(default_factory=dict)
    clusters: dict[str, ClusterRecord] = field(default_factory=dict)
    # (cluster id, role, n) -> member (its own record: the instance's state is read from `instances`)
    cluster_members: dict[tuple[str, str, int], Member] = field(default_factory=dict)
    guardrails: dict[str, Guardrails] = field(default_factory=dict)
    approvals: dict[str, Approval] = field(default_factory=dict)
    versions: int = 1

    def __deepcopy__(self, memo: dict[int, Any]) -> FakeDatabase:
        memo[id(self.clock)] = self.clock
        copied = FakeDatabase.__new__(FakeDatabase)
        memo[id(self)] = copied
        for name, value in vars(self).items():
            setattr(copied, name, copy.deepcopy(value, memo))
        return copied

    @property
    def now(self) -> float:
        return self.clock()

    def next_version(self) -> int:
        self.versions += 1
        return self.versions

    def held(self, cloud_id: str) -> bool:
        """Whether the cloud's adapter module is disabled (its rows wait)."""
        cloud = self.clouds.get(cloud_id)
        return cloud is not None and not self.modules.get(cloud.driver, True)


_RECORD_SORTS: dict[str, Callable[[Any], Any]] = {
    "created_at": lambda r: r.created_at,
    "updated_at": lambda r: r.updated_at,
    "name": lambda r: r.name,
    "state": lambda r: r.state,
}
_CLOUD_SORTS: dict[str, Callable[[Any], Any]] = {"created_at": lambda c: c.created_at, "name": lambda c: c.name}


def _page(records: list[Any], request: PageRequest) -> tuple[list[Any], str | None]:
    return page(records, request, _RECORD_SORTS, key=lambda r: r.id)


class _Pending(Generic[R]):
    """The engine's statements on one table of rows."""

    def __init__(self, db: FakeDatabase, rows: dict[str, Row[R]]) -> None:
        self.db = db
        self.rows: dict[str, Row[R]] = rows

    def _shown(self, row: Row[R]) -> R:
        return row.record

    def _due(self, row: Row[R]) -> bool:
        now = self.db.now
        return (
            row.record.pending_action is not None
            and row.next_at <= now
            and (row.claimed_until is None or row.claimed_until < now)
            and not self.db.held(row.record.cloud_id)
        )

    async def due(self, limit: int) -> list[str]:
        due = sorted((r for r in self.rows.values() if self._due(r)), key=lambda r: r.next_at)
        return [r.record.id for r in due[:limit]]

    async def claim(self, record_id: str, token: str, lease: float) -> R | None:
        row = self.rows.get(record_id)
        if row is None or not self._due(row):
            return None
        row.claim, row.claimed_until = token, self.db.now + lease
        return self._shown(row)

    async def extend(self, record_id: str, token: str, lease: float) -> bool:
        row = self.rows.get(record_id)
        if row is None or row.claim != token:
            return False
        row.claimed_until = self.db.now + lease
        return True

    async def release(self, record_id: str, token: str) -> bool:
        row = self.rows.get(record_id)
        if row is None or row.claim != token:
            return False
        row.claim = row.claimed_until = None
        return True

    async def discard(self, record_id: str, token: str) -> bool:
        row = self.rows.get(record_id)
        if row is None or row.claim != token:
            return False
        del self.rows[record_id]
        return True

    def write(
        self,
        record: R,
        *,
        retry_in: float = 0.0,
        only_for: str | None = None,
        hold: str | None = None,
        lease: float = 0,
    ) -> R | None:
        row = self.rows.get(record.id)
        if row is None or (only_for is not None and row.claim != only_for):
            return None
        row.record = replace(record, updated_at=datetime.now(UTC))
        row.next_at = self.db.now + retry_in
        row.claim, row.claimed_until = hold, (self.db.now + lease if hold is not None else None)
        row.version = self.db.next_version()
        return self._shown(row)

    async def save(self, record: R) -> R:
        saved = self.write(record)
        if saved is None:
            raise LookupError(record.id)
        return saved

    async def settle(self, record: R, token: str, *, retry_in: float) -> R | None:
        return self.write(record, retry_in=retry_in, only_for=token)


_KEPT_ON_SAVE = ("boot", "expires_at", "warnings_sent", "expired_at")


class FakeInstanceRepository(_Pending[InstanceRecord]):
    def __init__(self, db: FakeDatabase) -> None:
        super().__init__(db, db.instances)

    def _shown(self, row: Row[InstanceRecord]) -> InstanceRecord:
        in_flight = row.claim is not None and row.claimed_until is not None and row.claimed_until >= self.db.now
        return replace(row.record, in_flight=in_flight)

    def write(
        self,
        record: InstanceRecord,
        *,
        retry_in: float = 0.0,
        only_for: str | None = None,
        hold: str | None = None,
        lease: float = 0,
    ) -> InstanceRecord | None:
        # As on PostgreSQL, a save never writes the boot section (only the boot follower does), nor the lifetime
        # (only the guard-rails' statements do).
        row = self.rows.get(record.id)
        stored = row.record if row is not None else record
        kept = {f: getattr(stored, f) for f in _KEPT_ON_SAVE}
        return super().write(
            replace(record, in_flight=False, **kept), retry_in=retry_in, only_for=only_for, hold=hold, lease=lease
        )

    async def add(self, record: InstanceRecord) -> None:
        self.rows[record.id] = Row(replace(record, in_flight=False), self.db.now, version=self.db.next_version())

    async def get(self, project_id: str, instance_id: str) -> InstanceRecord | None:
        row = self.rows.get(instance_id)
        return self._shown(row) if row is not None and row.record.project_id == project_id else None

    lock = get

    async def running(self, limit: int) -> list[InstanceRecord]:
        found = [self._shown(r) for r in self.rows.values() if r.record.state == "running"]
        return [r for r in found if r.pending_action is None and r.provider_id is not None][:limit]

    async def lock_running(self, ids: Sequence[str]) -> list[InstanceRecord]:
        return [r for r in await self.running(len(self.rows)) if r.id in ids]

    async def owned_ids(self, project_id: str, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if i in self.rows and self.rows[i].record.project_id == project_id}

    async def retag(self, instance_id: str, tags: dict[str, str]) -> None:
        row = self.rows[instance_id]
        row.record = replace(row.record, tags=dict(tags))

    async def project_of(self, instance_id: str) -> str | None:
        row = self.rows.get(instance_id)
        return row.record.project_id if row is not None else None

    async def page(self, flt: InstanceFilter, request: PageRequest) -> tuple[list[InstanceRecord], str | None]:
        return _page([self._shown(r) for r in self.rows.values() if _matches(r.record, flt)], request)

    async def using_security_group(self, project_id: str, group_id: str) -> list[str]:
        return [
            r.record.id
            for r in self.rows.values()
            if r.record.project_id == project_id
            and group_id in r.record.security_group_ids
            and r.record.state not in ("terminated", "gone")
        ]

    async def moving(self) -> list[InstanceRecord]:
        return [
            self._shown(r)
            for r in self.rows.values()
            if r.record.pending_action is None
            and r.record.state in TRANSITIONAL
            and r.record.provider_id is not None
            and not self.db.held(r.record.cloud_id)
        ]

    async def lock_moving(self, ids: Sequence[str]) -> list[InstanceRecord]:
        return [
            self._shown(self.rows[i])
            for i in ids
            if i in self.rows
            and self.rows[i].record.pending_action is None
            and self.rows[i].record.state in TRANSITIONAL
        ]


def _matches(record: InstanceRecord | ResourceRecord, flt: InstanceFilter | ResourceFilter) -> bool:
    return (
        record.project_id == flt.project_id
        and flt.cloud_id in (None, record.cloud_id)
        and (not flt.states or record.state in flt.states)
        and flt.name in (None, record.name)
        and flt.discovered in (None, record.discovered)
        and getattr(flt, "cluster_id", None) in (None, getattr(record, "cluster_id", None))
    )


class FakeResourceRepository(_Pending[ResourceRecord]):
    def __init__(self, db: FakeDatabase) -> None:
        super().__init__(db, db.resources)

    async def add(self, record: ResourceRecord, *, claim: str | None = None, lease: float = 0.0) -> None:
        if record.kind in ("key_pair", "security_group") and any(
            (r.record.cloud_id, r.record.kind, r.record.name) == (record.cloud_id, record.kind, record.name)
            and r.record.state != "deleted"
            for r in self.rows.values()
        ):
            raise Conflict(f"A {record.kind} named {record.name} exists already.")
        until = self.db.now + lease if claim is not None else None
        self.rows[record.id] = Row(record, self.db.now, claim, until, self.db.next_version())

    async def hold(self, record: ResourceRecord, token: str, lease: float) -> ResourceRecord:
        saved = self.write(record, hold=token, lease=lease)
        assert saved is not None
        return saved

    async def get(self, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord | None:
        row = self.rows.get(resource_id)
        if row is None or (row.record.project_id, row.record.kind) != (project_id, kind):
            return None
        return row.record

    lock = get

    async def find(self, resource_id: str) -> ResourceRecord | None:
        row = self.rows.get(resource_id)
        return row.record if row else None

    async def named(self, project_id: str, kind: Kind, cloud_id: str, name: str) -> ResourceRecord | None:
        found = [
            r.record
            for r in self.rows.values()
            if (r.record.project_id, r.record.kind, r.record.cloud_id, r.record.name)
            == (project_id, kind, cloud_id, name)
            and r.record.state != RULES[kind].gone
        ]
        return max(found, key=lambda r: r.created_at) if found else None

    async def many(self, project_id: str, kind: Kind, ids: Sequence[str]) -> list[ResourceRecord]:
        return [r for i in ids if (r := await self.get(project_id, kind, i)) is not None]

    async def provider_ids(self, cloud_id: str, kind: Kind) -> set[str]:
        return {
            r.record.provider_id
            for r in self.rows.values()
            if (r.record.cloud_id, r.record.kind) == (cloud_id, kind) and r.record.provider_id is not None
        }

    async def page(self, flt: ResourceFilter, request: PageRequest) -> tuple[list[ResourceRecord], str | None]:
        return _page(
            [
                r.record
                for r in self.rows.values()
                if _matches(r.record, flt)
                and r.record.kind == flt.kind
                and flt.instance_id in (None, r.record.attrs.get("instance_id"))
                and flt.volume_id in (None, r.record.attrs.get("volume_id"))
            ],
            request,
        )

    async def launch_names(
        self, project_id: str, cloud_id: str, key_name: str | None, group_ids: Sequence[str]
    ) -> LaunchNames:
        key = await self.named(project_id, "key_pair", cloud_id, key_name) if key_name is not None else None
        return launch_names(key, await self.many(project_id, "security_group", group_ids), cloud_id)

    async def release_held_by(self, instance_id: str) -> None:
        for row in self.rows.values():
            r = row.record
            if r.attrs.get("instance_id") == instance_id and r.pending_action is None:
                if (r.kind, r.state) in (("volume", "in-use"), ("address", "associated")):
                    state = "detaching" if r.kind == "volume" else "disassociating"
                    row.record = replace(r, state=state, updated_at=datetime.now(UTC))

    async def moving(self) -> list[ResourceRecord]:
        return [
            r.record
            for r in self.rows.values()
            if r.record.pending_action is None
            and r.record.provider_id is not None
            and r.record.state in r.record.rules.followed
            and not self.db.held(r.record.cloud_id)
        ]

    async def lock_moving(self, ids: Sequence[str]) -> list[ResourceRecord]:
        return [self.rows[i].record for i in ids if i in self.rows and self.rows[i].record.pending_action is None]


class FakeCloudRepository:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    async def get(self, project_id: str, cloud_id: str) -> Cloud | None:
        cloud = self.db.clouds.get(cloud_id)
        return cloud if cloud is not None and cloud.project_id == project_id else None

    lock = get

    async def find(self, cloud_id: str) -> Cloud | None:
        return self.db.clouds.get(cloud_id)

    lock_any = find

    async def named(self, project_id: str, name: str) -> Cloud | None:
        return next((c for c in self.db.clouds.values() if (c.project_id, c.name) == (project_id, name)), None)

    async def of_project(self, project_id: str) -> list[Cloud]:
        return [c for c in await self.every() if c.project_id == project_id]

    async def every(self) -> list[Cloud]:
        return sorted(self.db.clouds.values(), key=lambda c: (c.created_at, c.id))

    async def page(
        self, project_id: str, *, driver: str | None, name: str | None, request: PageRequest
    ) -> tuple[list[Cloud], str | None]:
        found = [c for c in await self.of_project(project_id) if driver in (None, c.driver) and name in (None, c.name)]
        return page(found, request, _CLOUD_SORTS, key=lambda c: c.id)

    async def add(self, cloud: Cloud) -> Cloud:
        if await self.named(cloud.project_id, cloud.name) is not None:
            raise NameTaken(cloud)
        self.db.clouds[cloud.id] = replace(cloud, updated_at=cloud.created_at)
        return self.db.clouds[cloud.id]

    async def update(self, cloud: Cloud) -> Cloud:
        other = await self.named(cloud.project_id, cloud.name)
        if other is not None and other.id != cloud.id:
            raise NameTaken(cloud)
        self.db.clouds[cloud.id] = replace(cloud, updated_at=datetime.now(UTC))
        return self.db.clouds[cloud.id]

    async def delete(self, cloud_id: str) -> None:
        held = {r.record.cloud_id for r in self.db.instances.values()}
        if cloud_id in held | {r.record.cloud_id for r in self.db.resources.values()}:
            raise StillReferenced(cloud_id)
        self.db.clouds.pop(cloud_id, None)

    async def sealed_with_other_keys(self, key_id: str) -> list[Cloud]:
        return [c for c in await self.every() if c.credentials is not None and c.credentials_key_id != key_id]

    async def rewrap(self, cloud_id: str, *, before: bytes, after: bytes, key_id: str) -> bool:
        cloud = self.db.clouds.get(cloud_id)
        if cloud is None or cloud.credentials != before:
            return False
        self.db.clouds[cloud_id] = replace(cloud, credentials=after, credentials_key_id=key_id)
        return True

    async def usage(self, cloud_id: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for row in self.db.instances.values():
            r = row.record
            live = r.provider_id is not None or r.pending_action is not None
            if r.cloud_id == cloud_id and r.state not in ("terminated", "gone") and live:
                found.setdefault("instances", []).append(r.id)
        for res in self.db.resources.values():
            q = res.record
            live = q.provider_id is not None or q.pending_action is not None
            if q.cloud_id == cloud_id and q.state not in ENDED and live:
                found.setdefault(q.kind, []).append(q.id)
        return found

    async def forget_records(self, cloud_id: str) -> dict[str, list[str]]:
        forgotten: dict[str, list[str]] = {}
        for rid, res in list(self.db.resources.items()):
            if res.record.cloud_id == cloud_id:
                forgotten.setdefault(res.record.kind, []).append(rid)
                del self.db.resources[rid]
        for iid, row in list(self.db.instances.items()):
            if row.record.cloud_id == cloud_id:
                forgotten.setdefault("instances", []).append(iid)
                del self.db.instances[iid]
        return forgotten

    async def using_driver(self, driver: str) -> list[str]:
        return sorted(c.id for c in self.db.clouds.values() if c.driver == driver)


class FakeModuleRepository:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    async def disabled(self) -> set[str]:
        return {name for name, enabled in self.db.modules.items() if not enabled}

    async def recorded(self) -> dict[str, bool]:
        return dict(self.db.modules)

    async def set(self, name: str, *, enabled: bool) -> bool:
        before = self.db.modules.get(name, True)
        self.db.modules[name] = enabled
        return before != enabled


class FakeInventoryRepository:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def _volumes(self, cloud_id: str) -> list[Row[ResourceRecord]]:
        return [r for r in self.db.resources.values() if (r.record.cloud_id, r.record.kind) == (cloud_id, "volume")]

    async def instances(self, cloud_id: str) -> list[tuple[InstanceRecord, str]]:
        return [(r.record, str(r.version)) for r in self.db.instances.values() if r.record.cloud_id == cloud_id]

    async def volumes(self, cloud_id: str) -> list[tuple[ResourceRecord, str]]:
        return [(r.record, str(r.version)) for r in self._volumes(cloud_id)]

    async def instance_versions(self, cloud_id: str) -> dict[str, str]:
        return {record.id: version for record, version in await self.instances(cloud_id)}

    async def volume_versions(self, cloud_id: str) -> dict[str, str]:
        return {record.id: version for record, version in await self.volumes(cloud_id)}

    async def security_group_ids(self, cloud_id: str) -> dict[str, str]:
        return {
            r.record.provider_id: r.record.id
            for r in self.db.resources.values()
            if (r.record.cloud_id, r.record.kind) == (cloud_id, "security_group")
            and r.record.provider_id is not None
            and r.record.state != "deleted"
        }

    async def instance_ids(self, cloud_id: str) -> dict[str, str]:
        return {
            r.record.provider_id: r.record.id
            for r in self.db.instances.values()
            if r.record.cloud_id == cloud_id
            and r.record.provider_id is not None
            and r.record.state not in ("terminated", "gone")
        }

    def _adopt(self, rows: dict[str, Row[R]], records: Sequence[R]) -> set[str]:
        inserted = set()
        for record in records:
            taken = {(r.record.cloud_id, r.record.provider_id) for r in rows.values()}
            if (record.cloud_id, record.provider_id) not in taken:
                rows[record.id] = Row(record, version=self.db.next_version())
                inserted.add(record.id)
        return inserted

    async def adopt_instances(self, records: Sequence[InstanceRecord]) -> set[str]:
        return self._adopt(self.db.instances, records)

    async def adopt_volumes(self, records: Sequence[ResourceRecord]) -> set[str]:
        return self._adopt(self.db.resources, records)

    def _correct(self, rows: dict[str, Row[R]], changes: Sequence[tuple[R, str]]) -> set[str]:
        updated = set()
        for after, version in changes:
            row = rows.get(after.id)
            if row is not None and str(row.version) == version and row.record.pending_action is None:
                row.record = after
                row.version = self.db.next_version()
                updated.add(after.id)
        return updated

    async def correct_instances(self, changes: Sequence[tuple[InstanceRecord, str]]) -> set[str]:
        return self._correct(self.db.instances, changes)

    async def correct_volumes(self, changes: Sequence[tuple[ResourceRecord, str]]) -> set[str]:
        return self._correct(self.db.resources, changes)

    async def start_run(
        self, *, cloud_id: str, project_id: str, trigger: SyncTrigger, correlation_id: str, lease: float
    ) -> SyncRun | None:
        now = self.db.now
        for held in self.db.runs.values():
            expired = held.held_until is None or held.held_until < now
            if held.run.cloud_id == cloud_id and held.run.status == "running" and expired:
                held.run = replace(held.run, status="failed", finished_at=datetime.now(UTC), error=INTERRUPTED)
                held.held_until = None
        if await self.running(cloud_id) is not None:
            return None
        started = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=now)
        run = SyncRun(
            f"run-{len(self.db.runs) + 1}",
            cloud_id,
            project_id,
            trigger,
            "running",
            started,
            None,
            Counts(),
            None,
            correlation_id,
        )
        self.db.runs[run.id] = Run(run, now + lease)
        return run

    async def hold_run(self, run_id: str, lease: float) -> bool:
        held = self.db.runs.get(run_id)
        if held is None or held.run.status != "running":
            return False
        held.held_until = self.db.now + lease
        return True

    async def finish_run(self, run_id: str, *, status: SyncStatus, counts: Counts, error: str | None) -> SyncRun:
        held = self.db.runs[run_id]
        held.run = replace(held.run, status=status, counts=counts, error=error, finished_at=datetime.now(UTC))
        held.held_until = None
        return held.run

    async def running(self, cloud_id: str) -> SyncRun | None:
        return next(
            (h.run for h in self.db.runs.values() if h.run.cloud_id == cloud_id and h.run.status == "running"), None
        )

    async def get_run(self, project_id: str, cloud_id: str, run_id: str) -> SyncRun | None:
        held = self.db.runs.get(run_id)
        if held is None or (held.run.project_id, held.run.cloud_id) != (project_id, cloud_id):
            return None
        return held.run

    async def page_runs(self, project_id: str, cloud_id: str, request: PageRequest) -> tuple[list[SyncRun], str | None]:
        runs = [h.run for h in self.db.runs.values() if (h.run.project_id, h.run.cloud_id) == (project_id, cloud_id)]
        runs.sort(key=lambda r: r.started_at, reverse=True)
        start = int(request.cursor or 0)
        return runs[start : start + request.limit], None

    async def last_started(self) -> dict[str, datetime]:
        last: dict[str, datetime] = {}
        for h in self.db.runs.values():
            last[h.run.cloud_id] = max(last.get(h.run.cloud_id, h.run.started_at), h.run.started_at)
        return last


class FakeBootRepository:
    """The boot follower's statements on the fake `instances` table; the next reading's time is kept beside it."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.read_at: dict[str, datetime | None] = {}

    async def due(self, limit: int, first_after: timedelta) -> list[DueBoot]:
        now = datetime.fromtimestamp(self.db.now, UTC)

        def read_at(record: InstanceRecord) -> datetime:
            return self.read_at.get(record.id) or record.created_at + first_after

        def first_and_running(record: InstanceRecord) -> bool:
            return self.read_at.get(record.id) is None and record.state == "running"

        due = [
            row.record
            for row in self.db.instances.values()
            if row.record.boot is not None
            and row.record.boot["state"] in ("pending", "running")
            and (read_at(row.record) <= now or first_and_running(row.record))
        ]
        return [DueBoot(r.id, r.cloud_id, r.provider_id, r.state) for r in sorted(due, key=read_at)[:limit]]

    async def lock(self, instance_ids: Sequence[str]) -> list[Booting]:
        rows = (self.db.instances.get(i) for i in sorted(set(instance_ids)))
        records = [row.record for row in rows if row is not None]
        return [Booting(**{f.name: getattr(r, f.name) for f in fields(Booting)}) for r in records if r.boot is not None]

    async def save(self, saved: Sequence[BootSaved]) -> None:
        for s in saved:
            row = self.db.instances[s.instance_id]
            row.record = replace(
                row.record, boot=dict(s.boot), last_event_id=s.last_event_id or row.record.last_event_id
            )
            self.read_at[s.instance_id] = s.read_at


class FakeRunRepository(_Pending[RunRecord]):
    """Script runs: a batch's runs are claimed at most its limit at a time, in order with a limit of 1."""

    def __init__(self, db: FakeDatabase) -> None:
        super().__init__(db, db.script_runs.rows)
        self.t = db.script_runs

    def _shown(self, row: Row[RunRecord]) -> RunRecord:
        return replace(row.record, claim_token=row.claim)

    def _due(self, row: Row[RunRecord]) -> bool:
        if not super()._due(row):
            return False
        run = row.record
        if run.batch_id is None:
            return True
        batch = [r for r in self.rows.values() if r.record.batch_id == run.batch_id]
        held = sum(
            1 for r in batch if r.record.id != run.id and r.claim is not None and (r.claimed_until or 0) >= self.db.now
        )
        order = list(self.rows)
        earlier_open = any(
            order.index(r.record.id) < order.index(run.id) and r.record.pending_action is not None for r in batch
        )
        return held < (run.batch_limit or 1) and (run.batch_limit != 1 or not earlier_open)

    async def add(self, record: RunRecord, sealed_script: bytes | None) -> None:
        self.rows[record.id] = Row(record, self.db.now, version=self.db.next_version())
        self.t.sealed[record.id] = sealed_script
        self.t.output[record.id] = b""

    async def get(self, project_id: str, run_id: str) -> RunRecord | None:
        row = self.rows.get(run_id)
        return row.record if row is not None and row.record.project_id == project_id else None

    async def page(self, flt: RunFilter, request: PageRequest) -> tuple[list[RunRecord], str | None]:
        return _page(
            [
                r.record
                for r in self.rows.values()
                if r.record.project_id == flt.project_id
                and flt.instance_id in (None, r.record.instance_id)
                and flt.batch_id in (None, r.record.batch_id)
                and (not flt.states or r.record.state in flt.states)
            ],
            request,
        )

    async def sealed_script(self, run_id: str) -> bytes | None:
        return self.t.sealed.get(run_id)

    async def mark_running(self, record: RunRecord, token: str) -> bool:
        row = self.rows.get(record.id)
        if row is None or row.claim != token:
            return False
        row.record = replace(record, claim_token=token)
        self.t.sealed[record.id] = None
        return True

    async def append_output(self, run_id: str, token: str, data: bytes) -> bool:
        row = self.rows.get(run_id)
        if row is None or row.claim != token:
            return False
        self.t.output[run_id] = (self.t.output[run_id] + data)[-OUTPUT_LIMIT:]
        row.record = replace(row.record, output_bytes=row.record.output_bytes + len(data))
        return True

    async def output(self, project_id: str, run_id: str, offset: int, limit: int) -> Output | None:
        run = await self.get(project_id, run_id)
        if run is None:
            return None
        kept = self.t.output[run_id]
        kept_from = run.output_bytes - len(kept)
        start = min(max(offset, kept_from), run.output_bytes)
        return Output(start, kept[start - kept_from : start - kept_from + limit], run.output_bytes)

    async def unended_decommission(self, instance_id: str) -> int:
        return sum(
            1
            for r in self.rows.values()
            if r.record.instance_id == instance_id
            and r.record.phase == "decommission"
            and r.record.pending_action is not None
        )

    async def running_instances(
        self, project_id: str, cloud_id: str | None, template_id: str | None, name: str | None
    ) -> list[str]:
        return [
            i.record.id
            for i in self.db.instances.values()
            if i.record.project_id == project_id
            and i.record.state == "running"
            and i.record.pending_action is None
            and cloud_id in (None, i.record.cloud_id)
            and template_id in (None, i.record.template_id)
            and name in (None, i.record.name)
        ]

    async def terminate_when_ready(self, instance_id: str, seconds: float) -> None:
        row = self.db.instances.get(instance_id)
        if row is not None and row.record.pending_action == "terminate":
            row.next_at = self.db.now + seconds

    async def project_key(self, project_id: str) -> tuple[str, bytes] | None:
        return self.t.keys.get(project_id)

    async def add_project_key(self, project_id: str, public_key: str, sealed_private: bytes, at: datetime) -> None:
        self.t.keys.setdefault(project_id, (public_key, sealed_private))

    async def moving(self) -> list[RunRecord]:
        return []

    async def lock_moving(self, ids: Sequence[str]) -> list[RunRecord]:
        return []


class FakePriceRepository:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    async def add(self, catalog: CatalogVersion, prices: Sequence[Price]) -> None:
        self.db.price_catalogs[catalog.id] = (catalog, tuple(prices))

    async def versions(self, project_id: str, cloud_id: str) -> list[CatalogVersion]:
        found = [v for v, _ in self.db.price_catalogs.values() if (v.project_id, v.cloud_id) == (project_id, cloud_id)]
        return sorted(found, key=lambda v: -v.version)

    async def in_force(self, project_id: str, cloud_id: str, at: datetime) -> CatalogVersion | None:
        return in_force(await self.versions(project_id, cloud_id), at)

    async def latest_version(self, cloud_id: str) -> int:
        return max((v.version for v, _ in self.db.price_catalogs.values() if v.cloud_id == cloud_id), default=0)

    async def prices(self, catalog_id: str, *, kind: PriceKind | None = None, region: str | None = None) -> list[Price]:
        held = self.db.price_catalogs[catalog_id][1]
        return [p for p in held if kind in (None, p.kind) and (region is None or p.region in ("", region))]


class FakeClusterRepository:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    async def add(self, cluster: ClusterRecord) -> None:
        self.db.clusters[cluster.id] = cluster

    async def get(self, project_id: str, cluster_id: str, *, lock: bool = False) -> ClusterRecord | None:
        found = self.db.clusters.get(cluster_id)
        return found if found is not None and found.project_id == project_id else None

    async def save(self, cluster: ClusterRecord) -> None:
        self.db.clusters[cluster.id] = cluster

    async def page(self, flt: ClusterFilter, request: PageRequest) -> tuple[list[ClusterRecord], str | None]:
        found = [
            c
            for c in self.db.clusters.values()
            if c.project_id == flt.project_id
            and (not flt.states or c.state in flt.states)
            and flt.name in (None, c.name)
        ]
        return _page(found, request)

    async def active(self) -> list[str]:
        return [c.id for c in self.db.clusters.values() if c.state in CLUSTER_ACTIVE or c.tidying]

    async def lock_active(self, cluster_id: str) -> ClusterRecord | None:
        found = self.db.clusters.get(cluster_id)
        return found if found is not None and (found.state in CLUSTER_ACTIVE or found.tidying) else None

    async def members(self, cluster_id: str) -> list[Member]:
        mine = [m for (c, _, _), m in self.db.cluster_members.items() if c == cluster_id]
        shown = []
        for m in mine:
            row = self.db.instances.get(m.instance_id or "")
            shown.append(replace(m, instance_state=row.record.state if row is not None else None))
        return sorted(shown, key=lambda m: (m.created_at, m.role, m.n))

    async def add_members(self, members: Sequence[Member]) -> None:
        for m in members:
            self.db.cluster_members[(m.cluster_id, m.role, m.n)] = m

    async def update_members(self, members: Sequence[Member]) -> None:
        for m in members:
            held = self.db.cluster_members[(m.cluster_id, m.role, m.n)]
            self.db.cluster_members[(m.cluster_id, m.role, m.n)] = replace(
                held, status=m.status, retired=m.retired, replaced_by=m.replaced_by
            )

    async def attach(self, member: Member, instance_id: str) -> bool:
        key = (member.cluster_id, member.role, member.n)
        held = self.db.cluster_members[key]
        if held.status != "planned" or held.retired:
            return False
        self.db.cluster_members[key] = replace(held, instance_id=instance_id, status="launched")
        return True

    async def refuse(self, member: Member, reason: str) -> None:
        key = (member.cluster_id, member.role, member.n)
        held = self.db.cluster_members[key]
        if held.status == "planned":
            self.db.cluster_members[key] = replace(held, status="refused", reason=reason)


class FakeGuardrailRepository:
    """The guard-rails, approvals and lifetimes over the fake tables; a lock is the whole copy a fake transaction
    works on, so it locks nothing more."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    async def get(self, project_id: str) -> Guardrails | None:
        return self.db.guardrails.get(project_id)

    lock = get

    async def save(self, rails: Guardrails) -> None:
        self.db.guardrails[rails.project_id] = rails

    async def held(self, project_id: str) -> list[Held]:
        groups: dict[tuple[str, str, str], list[InstanceRecord]] = {}
        for row in self.db.instances.values():
            r = row.record
            if r.project_id == project_id and r.state not in NOT_COUNTED:
                groups.setdefault((r.cloud_id, r.flavor_id, r.image_id), []).append(r)
        return [
            Held(c, f, len(rs), sum(r.vcpus or 0 for r in rs), sum(1 for r in rs if r.vcpus is None), i)
            for (c, f, i), rs in sorted(groups.items())
        ]

    async def add_approval(self, approval: Approval) -> None:
        self.db.approvals[approval.id] = approval

    async def approval(self, project_id: str, approval_id: str) -> Approval | None:
        found = self.db.approvals.get(approval_id)
        return found if found is not None and found.project_id == project_id else None

    lock_approval = approval

    async def save_approval(self, approval: Approval) -> None:
        self.db.approvals[approval.id] = approval

    async def approvals(self, flt: ApprovalFilter, request: PageRequest) -> tuple[list[Approval], str | None]:
        found = [
            a
            for a in self.db.approvals.values()
            if a.project_id == flt.project_id
            and (not flt.states or a.state in flt.states)
            and flt.instance_id in (None, a.instance_id)
        ]
        sorts: dict[str, Callable[[Approval], Any]] = {
            "created_at": lambda a: a.created_at,
            "updated_at": lambda a: a.updated_at,
        }
        return page(found, request, sorts, key=lambda a: a.id)

    async def lapsed_approvals(self, before: datetime, limit: int) -> list[Approval]:
        found = [a for a in self.db.approvals.values() if a.state == "pending" and a.created_at < before]
        return sorted(found, key=lambda a: a.created_at)[:limit]

    async def expiring(self, now: datetime, limit: int) -> list[InstanceRecord]:
        found = []
        for row in self.db.instances.values():
            r = row.record
            if r.expires_at is None or r.expired_at is not None or r.state in NOT_COUNTED | {AWAITING_APPROVAL}:
                continue
            upcoming = r.expiry_warnings[r.warnings_sent] if r.warnings_sent < len(r.expiry_warnings) else None
            if r.expires_at <= now or (upcoming is not None and r.expires_at - timedelta(hours=upcoming) <= now):
                found.append(r)
        return sorted(found, key=lambda r: r.expires_at or now)[:limit]

    async def set_expiry(self, instance_id: str, expires_at: datetime | None, warnings_sent: int) -> None:
        row = self.db.instances[instance_id]
        row.record = replace(row.record, expires_at=expires_at, warnings_sent=warnings_sent)

    async def expired(self, instance_id: str, at: datetime) -> None:
        row = self.db.instances[instance_id]
        row.record = replace(row.record, expired_at=at)


class FakePlacementRepository:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    async def occupancy(self, project_id: str, group: str | None) -> Occupancy:
        live = [
            r.record
            for r in self.db.instances.values()
            if r.record.project_id == project_id and r.record.state not in ("terminated", "gone", "error")
        ]
        servers = Counter((i.cloud_id, i.zone) for i in live)
        members = Counter(
            (i.cloud_id, i.zone)
            for i in live
            if group is not None and (i.launch_options.get("placement") or {}).get("group") == group
        )
        return Occupancy(dict(servers), dict(members))


class FakeBlockRepository:
    """Launch blocks in memory, applied in the order the real table keeps (period, moment, event id)."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    async def apply(self, block: LaunchBlock) -> bool:
        key = (block.project_id, block.budget_id)
        held = self.db.launch_blocks.get(key)
        if held is not None and (block.period, block.changed_at, block.event_id) <= (
            held.period,
            held.changed_at,
            held.event_id,
        ):
            return False
        self.db.launch_blocks[key] = block
        return True

    async def active(self, project_id: str) -> list[LaunchBlock]:
        return [b for b in self.db.launch_blocks.values() if b.project_id == project_id and b.blocked]

    async def page(self, flt: BlockFilter, request: PageRequest) -> tuple[list[LaunchBlock], str | None]:
        rows = [
            b
            for b in await self.active(flt.project_id)
            if flt.scope_kind in (None, b.scope_kind) and flt.budget_id in (None, b.budget_id)
        ]
        sorts: dict[str, Callable[[LaunchBlock], Any]] = {
            "blocked_at": lambda b: b.changed_at,
            "budget_name": lambda b: b.budget_name,
        }
        return page(rows, request, sorts, key=lambda b: b.budget_id)


class FakeCommandRepository:
    """Commands in memory (claims never lapse: a unit test has no killed worker)."""

    def __init__(self) -> None:
        self.rows: dict[str, CommandRecord] = {}
        self.claimed: set[str] = set()

    async def add(self, record: CommandRecord) -> bool:
        made = {r.makes_instance for r in self.rows.values()} - {None}
        if record.id in self.rows or record.makes_instance in made:
            return False
        self.rows[record.id] = record
        return True

    async def claim(self, lease: float) -> CommandRecord | None:
        for record in sorted(self.rows.values(), key=lambda r: r.created_at):
            if record.state == "pending" and record.id not in self.claimed:
                self.claimed.add(record.id)
                return record
        return None

    async def replacing(self) -> list[CommandRecord]:
        return [r for r in self.rows.values() if r.state == "replacing"]

    async def lock(self, command_id: str) -> CommandRecord | None:
        return self.rows.get(command_id)

    async def settle(self, command_id: str, state: CommandState, *, reason: str | None = None) -> None:
        self.rows[command_id] = replace(self.rows[command_id], state=state, reason=reason)
        self.claimed.discard(command_id)

    async def later(self, command_id: str, seconds: float, reason: str) -> None:
        self.rows[command_id] = replace(self.rows[command_id], reason=reason)


def fake_repositories(db: FakeDatabase) -> Repositories:
    return Repositories(
        clouds=FakeCloudRepository(db),
        modules=FakeModuleRepository(db),
        instances=FakeInstanceRepository(db),
        resources=FakeResourceRepository(db),
        inventory=FakeInventoryRepository(db),
        templates=FakeTemplateRepository(db.templates),
        boots=FakeBootRepository(db),
        runs=FakeRunRepository(db),
        prices=FakePriceRepository(db),
        clusters=FakeClusterRepository(db),
        guardrails=FakeGuardrailRepository(db),
        placements=FakePlacementRepository(db),
        commands=FakeCommandRepository(),
        launch_blocks=FakeBlockRepository(db),
    )


def fake_unit_of_work(db: FakeDatabase | None = None) -> FakeUnitOfWork[Repositories]:
    return FakeUnitOfWork(fake_repositories(db or FakeDatabase()))


def database(uow: FakeUnitOfWork[Repositories]) -> FakeDatabase:
    """The committed state of a fake unit of work's database."""
    clouds = uow.repos.clouds
    assert isinstance(clouds, FakeCloudRepository)
    return clouds.db


# --- a provisioner made of fakes -----------------------------------------------------------------------------------

PROJECT = "p"
KEY = "unit-secret-key-0123456789abcdef0123456"


@dataclass
class FakeProvisioner:
    """The provisioner's use cases and engine over the fakes: one cloud `sim` of project `p`, served by `cloud`."""

    uow: FakeUnitOfWork[Repositories]
    cloud: FakeCloud
    clouds: CloudDirectory
    engine: Engine

    @property
    def ports(self) -> Ports:
        return Ports(self.uow, self.clouds, self.engine)

    @property
    def db(self) -> FakeDatabase:
        """The committed database (each commit replaces it): a test changes it to set up what it needs."""
        return database(self.uow)

    def event_types(self) -> list[str]:
        return self.uow.event_types()

    def step_engine(self, *, lease: float | None = None) -> Engine:
        """Another worker's engine on the same database (with its own pacer)."""
        return Engine(self.uow, self.clouds, policy=self.engine.policy, pacer=pacer(self.db.clock), lease=lease or 30.0)


def pacer(clock: FakeClock) -> Pacer:
    return Pacer(clock=clock, rand=lambda: 0.5)


def a_cloud(cloud_id: str = "sim", *, project_id: str = PROJECT, name: str = "SimCloud", **fields: Any) -> Cloud:
    return Cloud(
        id=cloud_id,
        project_id=project_id,
        name=name,
        driver=fields.pop("driver", "simcloud"),
        config=fields.pop("config", {}),
        enabled=fields.pop("enabled", True),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        **fields,
    )


def provisioner(
    cloud: FakeCloud | None = None,
    *,
    policy: RetryPolicy | None = None,
    lease: float = 30.0,
    connect: Connector | None = None,
) -> FakeProvisioner:
    db = FakeDatabase()
    db.clouds["sim"] = a_cloud()
    uow = fake_unit_of_work(db)
    cloud = cloud or FakeCloud()
    clouds = CloudDirectory(uow, connected={"sim": cloud}, connect=connect, keyring=Keyring(KEY), endpoint_deny=())
    engine = Engine(
        uow,
        clouds,
        policy=policy or RetryPolicy(max_attempts=3, throttle_budget=60.0),
        pacer=pacer(db.clock),
        lease=lease,
    )
    return FakeProvisioner(uow, cloud, clouds, engine)


__all__ = [
    "KEY",
    "PROJECT",
    "FakeCloudRepository",
    "FakeDatabase",
    "FakeGuardrailRepository",
    "FakeInstanceRepository",
    "FakeInventoryRepository",
    "FakeModuleRepository",
    "FakeProvisioner",
    "FakeResourceRepository",
    "FakeRunRepository",
    "Row",
    "a_cloud",
    "database",
    "fake_repositories",
    "fake_unit_of_work",
    "pacer",
    "provisioner",
]
