"""The provisioner's tables (schema `provisioner`): cloud accounts and instance records, and the unit of work that
saves a record together with the events its change caused."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from kernel import outbox
from kernel.db import Connection, Pool
from kernel.events import Envelope, EventPayload, new_event
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.provisioner.domain import TRANSITIONAL, InstanceRecord

WORK_CHANNEL = "provisioner_work"

_COLUMNS = (
    "id, project_id, cloud_id, name, image_id, flavor_id, provider_id, state, pending_action, attempts, "
    "reason, private_ips, correlation_id, last_event_id, created_at, updated_at, key_name, security_group_ids, "
    "zone, tags, launch_options, throttled, pending_since, discovered"
)


class Chained(Protocol):
    """What chaining a record's events reads of it (an instance's or another resource's record)."""

    @property
    def project_id(self) -> str: ...
    @property
    def correlation_id(self) -> str: ...
    @property
    def last_event_id(self) -> str | None: ...


@dataclass(frozen=True)
class CloudAccount:
    id: str
    project_id: str
    name: str
    driver: str
    # The adapter's settings without its secrets (those are in `credentials`).
    config: dict[str, Any]
    enabled: bool
    created_at: datetime
    # The sealed secret fields (`kernel.crypto.Sealed`, bound to the account: `accounts.open_credentials`).
    credentials: bytes | None = field(default=None, repr=False)
    credentials_key_id: str | None = None
    credential_fields: tuple[str, ...] = ()
    updated_at: datetime | None = None
    # "api" or "configuration" (CLANAVI_PROVISIONER_CLOUDS and the built-in `sim`).
    source: str = "configuration"


def _record(row: Any) -> InstanceRecord:
    return InstanceRecord(
        id=str(row["id"]),
        project_id=row["project_id"],
        cloud_id=row["cloud_id"],
        name=row["name"],
        image_id=row["image_id"],
        flavor_id=row["flavor_id"],
        provider_id=row["provider_id"],
        state=row["state"],
        pending_action=row["pending_action"],
        attempts=row["attempts"],
        reason=row["reason"],
        private_ips=tuple(row["private_ips"]),
        correlation_id=row["correlation_id"],
        last_event_id=str(row["last_event_id"]) if row["last_event_id"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        key_name=row["key_name"],
        security_group_ids=tuple(row["security_group_ids"]),
        zone=row["zone"],
        tags=row["tags"],
        launch_options=row["launch_options"],
        throttled=row["throttled"],
        pending_since=row["pending_since"],
        discovered=row["discovered"],
    )


def _account(row: Any) -> CloudAccount:
    return CloudAccount(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        driver=row["driver"],
        config=row["config"],
        enabled=row["enabled"],
        created_at=row["created_at"],
        credentials=row["credentials"],
        credentials_key_id=row["credentials_key_id"],
        credential_fields=tuple(row["credential_fields"]),
        updated_at=row["updated_at"],
        source=row["source"],
    )


# --- cloud accounts -------------------------------------------------------------------------------------------

# The project the accounts from configuration (and the built-in `sim`) belong to.
DEFAULT_PROJECT = "default"


# Notified (payload: the account's id) when an account changes or goes: every replica drops its connected adapter.
CLOUDS_CHANNEL = "provisioner_clouds"

_CLOUD_COLUMNS = (
    "id, project_id, name, driver, config, enabled, created_at, updated_at, credentials, credentials_key_id, "
    "credential_fields, source"
)


async def upsert_cloud(
    pool: Pool | Connection,
    *,
    cloud_id: str,
    name: str,
    driver: str,
    config: dict[str, Any],
    enabled: bool = True,
    project_id: str = DEFAULT_PROJECT,
    credentials: bytes | None = None,
    credentials_key_id: str | None = None,
    credential_fields: Sequence[str] = (),
    source: str = "configuration",
) -> None:
    """Create or replace an account (the provisioner's start uses `accounts_handlers.configure`, which also seals
    the secrets and records the change's event)."""
    await pool.execute(
        f"""INSERT INTO clouds ({_CLOUD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, now(), now(), $7, $8, $9, $10)
           ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config, name = EXCLUDED.name,
               driver = EXCLUDED.driver, enabled = EXCLUDED.enabled, credentials = EXCLUDED.credentials,
               credentials_key_id = EXCLUDED.credentials_key_id, credential_fields = EXCLUDED.credential_fields,
               source = EXCLUDED.source, updated_at = now()""",
        cloud_id,
        project_id,
        name,
        driver,
        config,
        enabled,
        credentials,
        credentials_key_id,
        list(credential_fields),
        source,
    )


async def insert_cloud(conn: Connection, account: CloudAccount) -> CloudAccount:
    """Raises NameTaken when the project has an account of that name."""
    try:
        row = await conn.fetchrow(
            f"""INSERT INTO clouds ({_CLOUD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $11, $11, $7, $8, $9, $10)
                RETURNING {_CLOUD_COLUMNS}""",
            account.id,
            account.project_id,
            account.name,
            account.driver,
            account.config,
            account.enabled,
            account.credentials,
            account.credentials_key_id,
            list(account.credential_fields),
            account.source,
            account.created_at,
        )
    except asyncpg.UniqueViolationError as exc:
        raise _taken(exc, account) from None
    return _account(row)


async def update_cloud(conn: Connection, account: CloudAccount) -> CloudAccount:
    """Save every field but the id, project and source; tell every replica to reconnect. NameTaken as insert."""
    try:
        row = await conn.fetchrow(
            f"""UPDATE clouds SET name = $2, driver = $3, config = $4, enabled = $5, credentials = $6,
                    credentials_key_id = $7, credential_fields = $8, updated_at = now()
                WHERE id = $1 RETURNING {_CLOUD_COLUMNS}""",
            account.id,
            account.name,
            account.driver,
            account.config,
            account.enabled,
            account.credentials,
            account.credentials_key_id,
            list(account.credential_fields),
        )
    except asyncpg.UniqueViolationError as exc:
        raise _taken(exc, account) from None
    await conn.execute("SELECT pg_notify($1, $2)", CLOUDS_CHANNEL, account.id)
    return _account(row)


class NameTaken(Exception):
    def __init__(self, account: CloudAccount) -> None:
        super().__init__(f"project {account.project_id} has a cloud account named {account.name} already")
        self.account = account


def _taken(exc: asyncpg.UniqueViolationError, account: CloudAccount) -> Exception:
    if getattr(exc, "constraint_name", None) == "clouds_names":
        return NameTaken(account)
    return exc


async def delete_cloud(conn: Connection, cloud_id: str) -> None:
    await conn.execute("DELETE FROM clouds WHERE id = $1", cloud_id)
    await conn.execute("SELECT pg_notify($1, $2)", CLOUDS_CHANNEL, cloud_id)


async def list_clouds(pool: Pool | Connection, project_id: str | None = None) -> list[CloudAccount]:
    """Every account (of one project, when given), oldest first."""
    rows = await pool.fetch(
        f"SELECT {_CLOUD_COLUMNS} FROM clouds WHERE $1::text IS NULL OR project_id = $1 ORDER BY created_at, id",
        project_id,
    )
    return [_account(r) for r in rows]


CLOUD_LISTING = Listing(
    f"SELECT {_CLOUD_COLUMNS} FROM clouds",
    {"created_at": Column("created_at", "timestamptz"), "name": Column("name", "text")},
    Column("id", "text"),
)


async def page_clouds(
    pool: Pool, project_id: str, *, driver: str | None, name: str | None, request: PageRequest
) -> tuple[list[CloudAccount], str | None]:
    """One page of a project's accounts, and the cursor of the next page (None on the last)."""
    where = Where().add("project_id = {}", project_id).given("driver = {}", driver).given("name = {}", name)
    return await fetch_page(pool, CLOUD_LISTING, where, request, _account)


async def get_cloud(pool: Pool | Connection, cloud_id: str) -> CloudAccount | None:
    """Any project's account: for the worker and the provisioner's start (requests use `owned_cloud`)."""
    row = await pool.fetchrow(f"SELECT {_CLOUD_COLUMNS} FROM clouds WHERE id = $1", cloud_id)
    return _account(row) if row else None


async def owned_cloud(pool: Pool | Connection, project_id: str, cloud_id: str) -> CloudAccount | None:
    row = await pool.fetchrow(
        f"SELECT {_CLOUD_COLUMNS} FROM clouds WHERE id = $1 AND project_id = $2", cloud_id, project_id
    )
    return _account(row) if row else None


async def lock_cloud(conn: Connection, cloud_id: str) -> CloudAccount | None:
    """Any project's account, locked: for the provisioner's start (requests use `lock_owned_cloud`)."""
    row = await conn.fetchrow(f"SELECT {_CLOUD_COLUMNS} FROM clouds WHERE id = $1 FOR UPDATE", cloud_id)
    return _account(row) if row else None


async def lock_owned_cloud(conn: Connection, project_id: str, cloud_id: str) -> CloudAccount | None:
    row = await conn.fetchrow(
        f"SELECT {_CLOUD_COLUMNS} FROM clouds WHERE id = $1 AND project_id = $2 FOR UPDATE", cloud_id, project_id
    )
    return _account(row) if row else None


async def cloud_named(pool: Pool | Connection, project_id: str, name: str) -> CloudAccount | None:
    row = await pool.fetchrow(
        f"SELECT {_CLOUD_COLUMNS} FROM clouds WHERE project_id = $1 AND name = $2", project_id, name
    )
    return _account(row) if row else None


async def sealed_with_other_keys(pool: Pool | Connection, key_id: str) -> list[CloudAccount]:
    """Accounts whose credentials were sealed with another key than `key_id`."""
    rows = await pool.fetch(
        f"""SELECT {_CLOUD_COLUMNS} FROM clouds WHERE credentials IS NOT NULL AND credentials_key_id <> $1
            ORDER BY id""",
        key_id,
    )
    return [_account(r) for r in rows]


async def rewrap_cloud(conn: Pool | Connection, cloud_id: str, *, before: bytes, after: bytes, key_id: str) -> bool:
    """Replace the sealed credentials, unless they changed meanwhile; True when replaced."""
    done = await conn.fetchval(
        """UPDATE clouds SET credentials = $3, credentials_key_id = $4 WHERE id = $1 AND credentials = $2
           RETURNING true""",
        cloud_id,
        before,
        after,
        key_id,
    )
    return bool(done)


async def cloud_usage(conn: Connection, cloud_id: str, gone: Mapping[str, str]) -> dict[str, list[str]]:
    """Ids of the records Clanavi keeps of live things in the cloud, by kind ("instances", and each resource kind
    of `gone`, which names the kind's final state). A record whose creation failed before reaching the cloud is
    not live."""
    found: dict[str, list[str]] = {}
    rows = await conn.fetch(
        """SELECT id FROM instances WHERE cloud_id = $1 AND state NOT IN ('terminated', 'gone')
               AND (provider_id IS NOT NULL OR pending_action IS NOT NULL)
           ORDER BY created_at""",
        cloud_id,
    )
    if rows:
        found["instances"] = [str(r["id"]) for r in rows]
    rows = await conn.fetch(
        """SELECT r.kind, r.id FROM resources r JOIN unnest($2::text[], $3::text[]) AS g (kind, gone) ON g.kind = r.kind
           WHERE r.cloud_id = $1 AND r.state NOT IN (g.gone, 'gone')
             AND (r.provider_id IS NOT NULL OR r.pending_action IS NOT NULL)
           ORDER BY r.created_at""",
        cloud_id,
        list(gone),
        list(gone.values()),
    )
    for row in rows:
        found.setdefault(row["kind"], []).append(str(row["id"]))
    return found


async def forget_cloud_records(conn: Connection, cloud_id: str) -> dict[str, list[str]]:
    """Delete every record of the cloud's instances and resources (none of them is touched in the cloud); their
    ids by kind ("instances", or the resource kind)."""
    forgotten: dict[str, list[str]] = {}
    rows = await conn.fetch("DELETE FROM resources WHERE cloud_id = $1 RETURNING kind, id", cloud_id)
    for row in rows:
        forgotten.setdefault(row["kind"], []).append(str(row["id"]))
    rows = await conn.fetch("DELETE FROM instances WHERE cloud_id = $1 RETURNING id", cloud_id)
    if rows:
        forgotten["instances"] = [str(r["id"]) for r in rows]
    return forgotten


# --- adapter modules ------------------------------------------------------------------------------------------

# Rows of accounts whose adapter module is disabled wait: the worker neither carries out nor follows them.
NOT_HELD = "cloud_id NOT IN (SELECT c.id FROM clouds c JOIN modules m ON m.name = c.driver WHERE NOT m.enabled)"


async def disabled_modules(pool: Pool | Connection) -> set[str]:
    return {r["name"] for r in await pool.fetch("SELECT name FROM modules WHERE NOT enabled")}


async def recorded_modules(pool: Pool | Connection) -> dict[str, bool]:
    return {r["name"]: bool(r["enabled"]) for r in await pool.fetch("SELECT name, enabled FROM modules")}


async def set_module(conn: Connection, name: str, *, enabled: bool) -> bool:
    """Record the module's state; True when it changed (a module without a row was enabled)."""
    row = await conn.fetchrow("SELECT enabled FROM modules WHERE name = $1 FOR UPDATE", name)
    before = True if row is None else bool(row["enabled"])
    await conn.execute(
        """INSERT INTO modules (name, enabled) VALUES ($1, $2)
           ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, updated_at = now()""",
        name,
        enabled,
    )
    return before != enabled


async def clouds_using(conn: Pool | Connection, driver: str) -> list[str]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM clouds WHERE driver = $1 ORDER BY id", driver)]


# --- instances ------------------------------------------------------------------------------------------------


async def insert(conn: Connection, record: InstanceRecord) -> None:
    await conn.execute(
        """INSERT INTO instances (id, project_id, cloud_id, name, image_id, flavor_id, provider_id, state,
               pending_action, attempts, reason, private_ips, correlation_id, last_event_id, created_at, updated_at,
               key_name, security_group_ids, zone, tags, launch_options, throttled, pending_since)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                   $22, $23)""",
        uuid.UUID(record.id),
        record.project_id,
        record.cloud_id,
        record.name,
        record.image_id,
        record.flavor_id,
        record.provider_id,
        record.state,
        record.pending_action,
        record.attempts,
        record.reason,
        list(record.private_ips),
        record.correlation_id,
        record.last_event_id,
        record.created_at,
        record.updated_at,
        record.key_name,
        list(record.security_group_ids),
        record.zone,
        dict(record.tags),
        dict(record.launch_options),
        record.throttled,
        record.pending_since,
    )


async def save(conn: Connection, record: InstanceRecord, *, retry_in: float = 0.0) -> None:
    await conn.execute(
        """UPDATE instances SET provider_id = $2, state = $3, pending_action = $4, attempts = $5, reason = $6,
               private_ips = $7, correlation_id = $8, last_event_id = $9, updated_at = now(),
               next_attempt_at = now() + make_interval(secs => $10), launch_options = $11, throttled = $12,
               pending_since = $13, zone = $14
           WHERE id = $1""",
        uuid.UUID(record.id),
        record.provider_id,
        record.state,
        record.pending_action,
        record.attempts,
        record.reason,
        list(record.private_ips),
        record.correlation_id,
        record.last_event_id,
        retry_in,
        dict(record.launch_options),
        record.throttled,
        record.pending_since,
        record.zone,
    )


async def commit_change(
    conn: Connection,
    record: InstanceRecord,
    events: Sequence[EventPayload],
    *,
    new: bool = False,
    retry_in: float = 0.0,
) -> InstanceRecord:
    """Save the record and queue its events in the caller's transaction; events chain by causation."""
    envelopes, causation = chain_events(record, events)
    record = replace(record, last_event_id=causation)
    if new:
        await insert(conn, record)
    else:
        await save(conn, record, retry_in=retry_in)
    await outbox.add(conn, *envelopes)
    if record.pending_action is not None:
        await conn.execute(f"NOTIFY {WORK_CHANNEL}")
    if record.state == "terminated" and record.provider_id is not None:
        await _after_termination(conn, record.id)
    return record


async def _after_termination(conn: Connection, instance_id: str) -> None:
    """Volumes and addresses the cloud held on a terminated instance are checked with it again: the worker follows
    them until the cloud reports them free (or, after a grace, still held)."""
    await conn.execute(
        """UPDATE resources SET state = CASE kind WHEN 'volume' THEN 'detaching' ELSE 'disassociating' END,
               updated_at = now()
           WHERE attrs->>'instance_id' = $1 AND pending_action IS NULL
             AND ((kind = 'volume' AND state = 'in-use') OR (kind = 'address' AND state = 'associated'))""",
        instance_id,
    )


async def get(conn: Connection | Pool, project_id: str, instance_id: str) -> InstanceRecord | None:
    try:
        key = uuid.UUID(instance_id)
    except ValueError:
        return None
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM instances WHERE id = $1 AND project_id = $2", key, project_id)
    return _record(row) if row else None


async def lock(conn: Connection, project_id: str, instance_id: str) -> InstanceRecord | None:
    try:
        key = uuid.UUID(instance_id)
    except ValueError:
        return None
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM instances WHERE id = $1 AND project_id = $2 FOR UPDATE", key, project_id
    )
    return _record(row) if row else None


async def claim_action(conn: Connection, instance_id: str) -> InstanceRecord | None:
    """Lock an instance whose action is due, unless another worker holds it already."""
    row = await claim_due_row(conn, "instances", _COLUMNS, instance_id)
    return _record(row) if row else None


async def due_actions(pool: Pool, limit: int) -> list[str]:
    return await due_ids(pool, "instances", limit)


async def moving(pool: Pool) -> list[InstanceRecord]:
    """Instances in a transition the cloud is carrying out, which the worker follows."""
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS} FROM instances
            WHERE pending_action IS NULL AND state = ANY($1::text[]) AND provider_id IS NOT NULL AND {NOT_HELD}""",
        sorted(TRANSITIONAL),
    )
    return [_record(r) for r in rows]


async def lock_moving(conn: Connection, ids: Sequence[str]) -> list[InstanceRecord]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM instances
            WHERE id = ANY($1::uuid[]) AND pending_action IS NULL AND state = ANY($2::text[])
            FOR UPDATE SKIP LOCKED""",
        [uuid.UUID(i) for i in ids],
        sorted(TRANSITIONAL),
    )
    return [_record(r) for r in rows]


async def of_cloud(conn: Connection | Pool, cloud_id: str) -> list[tuple[InstanceRecord, str]]:
    """Every instance record of an account, each with its row version (`xmin`, which every update changes)."""
    rows = await conn.fetch(f"SELECT {_COLUMNS}, xmin::text AS version FROM instances WHERE cloud_id = $1", cloud_id)
    return [(_record(r), r["version"]) for r in rows]


async def using_security_group(conn: Connection | Pool, project_id: str, group_id: str) -> list[str]:
    """Ids of the project's instances launched with a security group (a Clanavi id) that are not terminated."""
    rows = await conn.fetch(
        """SELECT id FROM instances
           WHERE project_id = $1 AND $2 = ANY(security_group_ids) AND state NOT IN ('terminated', 'gone')
           ORDER BY created_at""",
        project_id,
        group_id,
    )
    return [str(r["id"]) for r in rows]


# The columns of the sorts a record listing (instances, and each kind of the other resources) offers
# (services.provisioner.listing.RecordSort); the first is the default.
RECORD_SORTS: dict[str, Column] = {
    "created_at": Column("created_at", "timestamptz"),
    "updated_at": Column("updated_at", "timestamptz"),
    "name": Column("name", "text"),
    "state": Column("state", "text"),
}
RECORD_KEY = Column("id", "uuid")
INSTANCE_LISTING = Listing(f"SELECT {_COLUMNS} FROM instances", RECORD_SORTS, RECORD_KEY)


@dataclass(frozen=True)
class InstanceFilter:
    project_id: str
    cloud_id: str | None = None
    states: Sequence[str] = ()
    name: str | None = None
    # Only records an inventory sync adopted (True) or only Clanavi's own (False).
    discovered: bool | None = None


async def page(pool: Pool, flt: InstanceFilter, request: PageRequest) -> tuple[list[InstanceRecord], str | None]:
    """One page of a project's instances, and the cursor of the next page (None on the last)."""
    return await fetch_page(pool, INSTANCE_LISTING, record_filters(flt), request, _record)


class RecordFilter(Protocol):
    """The filters every record listing has (InstanceFilter, and the other resources' ResourceFilter)."""

    @property
    def project_id(self) -> str: ...
    @property
    def cloud_id(self) -> str | None: ...
    @property
    def states(self) -> Sequence[str]: ...
    @property
    def name(self) -> str | None: ...
    @property
    def discovered(self) -> bool | None: ...


def record_filters(flt: RecordFilter) -> Where:
    """The conditions of the filters every record listing has; None (or no states) filters nothing."""
    return (
        Where()
        .add("project_id = {}", flt.project_id)
        .given("cloud_id = {}", flt.cloud_id)
        .given("state = ANY({}::text[])", flt.states)
        .given("name = {}", flt.name)
        .given("discovered = {}", flt.discovered)
    )


# --- shared by the instances' and the other resources' tables -----------------------------------------------


def chain_events(record: Chained, events: Sequence[EventPayload]) -> tuple[list[Envelope], str | None]:
    """The envelopes of a record's new events, each caused by the one before (the first by the record's last
    event), and the id of the last (the record's last event id after them)."""
    envelopes = []
    causation = record.last_event_id
    for payload in events:
        envelope = new_event(
            payload, project_id=record.project_id, correlation_id=record.correlation_id, causation_id=causation
        )
        envelopes.append(envelope)
        causation = str(envelope.id)
    return envelopes, causation


async def claim_due_row(conn: Connection, table: str, columns: str, record_id: str) -> Any:
    """Lock a row of `table` whose action is due, unless another worker holds it already (None then)."""
    return await conn.fetchrow(
        f"""SELECT {columns} FROM {table}
            WHERE id = $1 AND pending_action IS NOT NULL AND next_attempt_at <= now() AND {NOT_HELD}
            FOR UPDATE SKIP LOCKED""",
        uuid.UUID(record_id),
    )


async def due_ids(pool: Pool, table: str, limit: int) -> list[str]:
    """Ids of the rows of `table` whose action is due, the longest due first."""
    rows = await pool.fetch(
        f"""SELECT id FROM {table} WHERE pending_action IS NOT NULL AND next_attempt_at <= now() AND {NOT_HELD}
           ORDER BY next_attempt_at LIMIT $1""",
        limit,
    )
    return [str(r["id"]) for r in rows]
