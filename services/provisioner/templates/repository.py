"""The `scripts`, `script_versions`, `templates` and `template_versions` tables: the port the use cases name, and its
PostgreSQL implementation. Every lookup carries the project: another project's id finds nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

import asyncpg

from kernel.db import Connection
from kernel.errors import Conflict
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.provisioner.clouds.repository import CloudRepository
from services.provisioner.instances.repository import HeldResources, key_of
from services.provisioner.templates.domain import (
    CloudChoice,
    Requirements,
    ScriptRecord,
    ScriptRef,
    ScriptVersion,
    TemplateRecord,
    TemplateSpec,
    TemplateVersion,
)
from services.provisioner.templates.inputs import InputSpec
from services.provisioner.templates.kept import KeptVersions

NAMED_SORTS = {"created_at": Column("created_at", "timestamptz"), "name": Column("name", "text")}
_KEY = Column("id", "uuid")
_SCRIPT_COLUMNS = "id, project_id, name, latest_version, correlation_id, last_event_id, created_at, updated_at"
_TEMPLATE_COLUMNS = f"{_SCRIPT_COLUMNS}, default_version"
_SCRIPT_VERSION_COLUMNS = "script_id, version, body, phase, timeout_seconds, inputs, deprecated, created_at"
_TEMPLATE_VERSION_COLUMNS = "template_id, version, spec, sealed_values, secret_names, deprecated, created_at"
R = TypeVar("R", ScriptRecord, TemplateRecord)
V = TypeVar("V", ScriptVersion, TemplateVersion)


@dataclass(frozen=True)
class NamedFilter:
    project_id: str
    name: str | None = None


@dataclass(frozen=True)
class Launchable:
    """A template as a launch reads it: the record, the number of the version the launch takes (the one it names,
    else the default), and that version as it is now (None: the template has no such version)."""

    template: TemplateRecord
    version: int
    found: TemplateVersion | None


class TemplateRepository(Protocol):
    """Scripts and templates, and their versions."""

    async def add_script(self, record: ScriptRecord) -> None: ...
    async def get_script(self, project_id: str, script_id: str, *, lock: bool = False) -> ScriptRecord | None: ...
    async def save_script(self, record: ScriptRecord) -> None: ...
    async def delete_script(self, script_id: str) -> None: ...
    async def script_page(self, flt: NamedFilter, request: PageRequest) -> tuple[list[ScriptRecord], str | None]: ...
    async def add_script_version(self, version: ScriptVersion) -> None: ...
    async def script_version(self, script_id: str, version: int) -> ScriptVersion | None: ...
    async def script_versions(self, script_id: str) -> list[ScriptVersion]: ...
    async def script_versions_named(
        self, project_id: str, refs: Collection[ScriptRef], *, hold: bool = False
    ) -> dict[ScriptRef, ScriptVersion]:
        """The project's script versions among `refs` (one of another project's scripts is not found); `hold`: their
        scripts are held (shared) until the transaction ends, so none of those versions is deleted meanwhile."""
        ...

    async def latest_script_versions(self, project_id: str, script_ids: Collection[str]) -> dict[str, int]: ...
    async def deprecate_script_version(self, script_id: str, version: int, deprecated: bool) -> None: ...
    async def delete_script_version(self, script_id: str, version: int) -> None: ...
    async def templates_running(self, refs: Collection[ScriptRef]) -> list[tuple[str, int]]:
        """The template versions (template id, version) that run any of the script versions `refs`."""
        ...

    async def add_template(self, record: TemplateRecord) -> None: ...
    async def get_template(self, project_id: str, template_id: str, *, lock: bool = False) -> TemplateRecord | None: ...
    async def save_template(self, record: TemplateRecord) -> None: ...
    async def delete_template(self, template_id: str) -> None: ...
    async def template_page(
        self, flt: NamedFilter, request: PageRequest
    ) -> tuple[list[TemplateRecord], str | None]: ...
    async def add_template_version(self, version: TemplateVersion) -> None: ...
    async def template_version(self, template_id: str, version: int) -> TemplateVersion | None: ...
    async def template_versions(self, template_id: str) -> list[TemplateVersion]: ...
    async def deprecate_template_version(self, template_id: str, version: int, deprecated: bool) -> None: ...
    async def delete_template_version(self, template_id: str, version: int) -> None: ...
    async def live_instances(self, template_id: str, version: int | None = None) -> list[str]:
        """Ids of the instances launched from the template (that version of it) that have not ended."""
        ...

    async def hold_version(self, project_id: str, template_id: str, version: int) -> bool:
        """Hold the template (shared) until the transaction ends, so that the version is not deleted meanwhile;
        whether the version exists and is not deprecated."""
        ...

    async def launchable(self, project_id: str, template_id: str, version: int | None) -> Launchable | None:
        """The project's template with the version a launch takes (`version`, else the template's default); None
        when the project has no such template."""
        ...

    async def launch_scripts(self, project_id: str, refs: Collection[ScriptRef]) -> dict[ScriptRef, ScriptVersion]:
        """`script_versions_named` for the scripts of a template version found just before, which none of them can
        be deleted under: their `deprecated` flags may be as they were when first read."""
        ...


class TemplateStore(Protocol):
    """The repositories the script and template use cases use."""

    @property
    def clouds(self) -> CloudRepository: ...
    @property
    def templates(self) -> TemplateRepository: ...
    @property
    def resources(self) -> HeldResources: ...


def _inputs(data: Sequence[Mapping[str, Any]]) -> tuple[InputSpec, ...]:
    return tuple(InputSpec.from_json(d) for d in data)


def spec_json(spec: TemplateSpec) -> dict[str, Any]:
    """A template version's spec as stored (and answered)."""
    refs = {
        name: [{"script_id": r.script_id, "version": r.version} for r in refs]
        for name, refs in spec.script_lists().items()
    }
    req = spec.requirements
    return {
        "clouds": [{"cloud_id": c.cloud_id, "image_id": c.image_id, "flavor_id": c.flavor_id} for c in spec.clouds],
        "requirements": None
        if req is None
        else {
            "image_name": req.image_name,
            "min_vcpus": req.min_vcpus,
            "min_ram_mb": req.min_ram_mb,
            "min_disk_gb": req.min_disk_gb,
        },
        "key_name": spec.key_name,
        "security_group_ids": list(spec.security_group_ids),
        "zone": spec.zone,
        "tags": dict(spec.tags),
        **refs,
        "inputs": [i.as_json() for i in spec.inputs],
        "values": dict(spec.values),
        "alerts": [dict(a) for a in spec.alerts],
    }


def spec_of(data: Mapping[str, Any]) -> TemplateSpec:
    def refs(name: str) -> tuple[ScriptRef, ...]:
        return tuple(ScriptRef(r["script_id"], r["version"]) for r in data.get(name, ()))

    req = data.get("requirements")
    return TemplateSpec(
        clouds=tuple(CloudChoice(**c) for c in data["clouds"]),
        requirements=Requirements(**req) if req else None,
        key_name=data.get("key_name"),
        security_group_ids=tuple(data.get("security_group_ids", ())),
        zone=data.get("zone"),
        tags=dict(data.get("tags", {})),
        boot_scripts=refs("boot_scripts"),
        operational_scripts=refs("operational_scripts"),
        decommission_scripts=refs("decommission_scripts"),
        inputs=_inputs(data.get("inputs", ())),
        values=dict(data.get("values", {})),
        alerts=tuple(data.get("alerts", ())),
    )


def _script(row: Any) -> ScriptRecord:
    return ScriptRecord(
        id=str(row["id"]),
        project_id=row["project_id"],
        name=row["name"],
        latest_version=row["latest_version"],
        correlation_id=row["correlation_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_event_id=str(row["last_event_id"]) if row["last_event_id"] else None,
    )


def _template(row: Any) -> TemplateRecord:
    return TemplateRecord(
        id=str(row["id"]),
        project_id=row["project_id"],
        name=row["name"],
        latest_version=row["latest_version"],
        default_version=row["default_version"],
        correlation_id=row["correlation_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_event_id=str(row["last_event_id"]) if row["last_event_id"] else None,
    )


def _script_version(row: Any) -> ScriptVersion:
    return ScriptVersion(
        script_id=str(row["script_id"]),
        version=row["version"],
        body=row["body"],
        phase=row["phase"],
        timeout_seconds=row["timeout_seconds"],
        inputs=_inputs(row["inputs"]),
        deprecated=row["deprecated"],
        created_at=row["created_at"],
    )


def _template_version(row: Any) -> TemplateVersion:
    return TemplateVersion(
        template_id=str(row["template_id"]),
        version=row["version"],
        spec=spec_of(row["spec"]),
        sealed_values=row["sealed_values"],
        secret_names=tuple(row["secret_names"]),
        deprecated=row["deprecated"],
        created_at=row["created_at"],
    )


def _name_taken(what: str, name: str) -> Conflict:
    return Conflict(
        f"A {what} named {name} already exists in this project.",
        errors=[{"location": "body.name", "message": "name taken in this project"}],
    )


def _uuids(ids: Collection[str]) -> list[uuid.UUID]:
    return [k for k in (key_of(i) for i in ids) if k is not None]


class _Versioned(Generic[R, V]):
    """A named thing of a project with immutable numbered versions, as stored: scripts and templates keep theirs
    alike, in a table of their own and a table of their versions whose `owner` column names them."""

    def __init__(
        self,
        table: str,
        columns: str,
        record: Callable[[Any], R],
        versions: str,
        owner: str,
        version_columns: str,
        version: Callable[[Any], V],
    ) -> None:
        self.listing = Listing(f"SELECT {columns} FROM {table}", NAMED_SORTS, _KEY)
        self._table, self._columns, self._versions, self._owner = table, columns, versions, owner
        self._version_columns = version_columns
        self._record: Callable[[Any], R] = record
        self._version: Callable[[Any], V] = version

    async def add(self, conn: Connection, record: R, *more: Any) -> None:
        """Insert `record`: the columns every named thing has, then `more` (its own); a name taken in the project is
        a conflict."""
        values = (
            uuid.UUID(record.id),
            record.project_id,
            record.name,
            record.latest_version,
            record.correlation_id,
            record.last_event_id,
            record.created_at,
            record.updated_at,
            *more,
        )
        marks = ", ".join(f"${n}" for n in range(1, len(values) + 1))
        try:
            await conn.execute(f"INSERT INTO {self._table} ({self._columns}) VALUES ({marks})", *values)
        except asyncpg.UniqueViolationError:
            raise _name_taken(self._table.removesuffix("s"), record.name) from None

    async def get(self, conn: Connection, project_id: str, id_: str, *, lock: bool) -> R | None:
        key = key_of(id_)
        if key is None:
            return None
        row = await conn.fetchrow(
            f"SELECT {self._columns} FROM {self._table} WHERE id = $1 AND project_id = $2"
            f"{' FOR UPDATE' if lock else ''}",
            key,
            project_id,
        )
        return self._record(row) if row else None

    async def delete(self, conn: Connection, id_: str) -> None:
        await conn.execute(f"DELETE FROM {self._table} WHERE id = $1", uuid.UUID(id_))

    async def page(self, conn: Connection, flt: NamedFilter, request: PageRequest) -> tuple[list[R], str | None]:
        where = Where().add("project_id = {}", flt.project_id).given("name = {}", flt.name)
        return await fetch_page(conn, self.listing, where, request, self._record)

    async def version(self, conn: Connection, owner_id: str, version: int) -> V | None:
        row = await conn.fetchrow(
            f"SELECT {self._version_columns} FROM {self._versions} WHERE {self._owner} = $1 AND version = $2",
            uuid.UUID(owner_id),
            version,
        )
        return self._version(row) if row else None

    async def versions(self, conn: Connection, owner_id: str) -> list[V]:
        rows = await conn.fetch(
            f"SELECT {self._version_columns} FROM {self._versions} WHERE {self._owner} = $1 ORDER BY version",
            uuid.UUID(owner_id),
        )
        return [self._version(r) for r in rows]

    async def deprecate(self, conn: Connection, owner_id: str, version: int, deprecated: bool) -> None:
        await conn.execute(
            f"UPDATE {self._versions} SET deprecated = $3 WHERE {self._owner} = $1 AND version = $2",
            uuid.UUID(owner_id),
            version,
            deprecated,
        )

    async def delete_version(self, conn: Connection, owner_id: str, version: int) -> None:
        await conn.execute(
            f"DELETE FROM {self._versions} WHERE {self._owner} = $1 AND version = $2", uuid.UUID(owner_id), version
        )


_SCRIPTS = _Versioned(
    "scripts", _SCRIPT_COLUMNS, _script, "script_versions", "script_id", _SCRIPT_VERSION_COLUMNS, _script_version
)
_TEMPLATES = _Versioned(
    "templates",
    _TEMPLATE_COLUMNS,
    _template,
    "template_versions",
    "template_id",
    _TEMPLATE_VERSION_COLUMNS,
    _template_version,
)
SCRIPT_LISTING = _SCRIPTS.listing
TEMPLATE_LISTING = _TEMPLATES.listing


_LAUNCHABLE = f"""SELECT {", ".join(f"t.{c}" for c in _TEMPLATE_COLUMNS.split(", "))},
        v.version AS found_version, v.deprecated AS found_deprecated
    FROM templates t LEFT JOIN template_versions v
        ON v.template_id = t.id AND v.version = COALESCE($3::int, t.default_version)
    WHERE t.id = $1 AND t.project_id = $2"""


class PostgresTemplateRepository:
    """The tables on one connection; `kept`: the versions launches read before (see `kept`), shared by every
    connection of the service (without it, launches read every version)."""

    def __init__(self, conn: Connection, kept: KeptVersions | None = None) -> None:
        self._conn = conn
        self._kept = kept

    # scripts

    async def add_script(self, record: ScriptRecord) -> None:
        await _SCRIPTS.add(self._conn, record)

    async def get_script(self, project_id: str, script_id: str, *, lock: bool = False) -> ScriptRecord | None:
        return await _SCRIPTS.get(self._conn, project_id, script_id, lock=lock)

    async def save_script(self, record: ScriptRecord) -> None:
        await self._conn.execute(
            "UPDATE scripts SET latest_version = $2, last_event_id = $3, updated_at = $4 WHERE id = $1",
            uuid.UUID(record.id),
            record.latest_version,
            record.last_event_id,
            record.updated_at,
        )

    async def delete_script(self, script_id: str) -> None:
        await _SCRIPTS.delete(self._conn, script_id)

    async def script_page(self, flt: NamedFilter, request: PageRequest) -> tuple[list[ScriptRecord], str | None]:
        return await _SCRIPTS.page(self._conn, flt, request)

    async def add_script_version(self, version: ScriptVersion) -> None:
        await self._conn.execute(
            f"INSERT INTO script_versions ({_SCRIPT_VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            uuid.UUID(version.script_id),
            version.version,
            version.body,
            version.phase,
            version.timeout_seconds,
            [i.as_json() for i in version.inputs],
            version.deprecated,
            version.created_at,
        )

    async def script_version(self, script_id: str, version: int) -> ScriptVersion | None:
        return await _SCRIPTS.version(self._conn, script_id, version)

    async def script_versions(self, script_id: str) -> list[ScriptVersion]:
        return await _SCRIPTS.versions(self._conn, script_id)

    async def script_versions_named(
        self, project_id: str, refs: Collection[ScriptRef], *, hold: bool = False
    ) -> dict[ScriptRef, ScriptVersion]:
        wanted = [r for r in refs if key_of(r.script_id) is not None]
        if not wanted:
            return {}
        rows = await self._conn.fetch(
            f"""SELECT {", ".join(f"v.{c}" for c in _SCRIPT_VERSION_COLUMNS.split(", "))}
                FROM script_versions v JOIN scripts s ON s.id = v.script_id
                WHERE s.project_id = $1
                  AND (v.script_id, v.version) IN (SELECT * FROM unnest($2::uuid[], $3::int[]))
                {"FOR SHARE OF s" if hold else ""}""",
            project_id,
            [uuid.UUID(r.script_id) for r in wanted],
            [r.version for r in wanted],
        )
        found = [_script_version(r) for r in rows]
        return {ScriptRef(v.script_id, v.version): v for v in found}

    async def latest_script_versions(self, project_id: str, script_ids: Collection[str]) -> dict[str, int]:
        rows = await self._conn.fetch(
            "SELECT id, latest_version FROM scripts WHERE project_id = $1 AND id = ANY($2::uuid[])",
            project_id,
            _uuids(script_ids),
        )
        return {str(r["id"]): r["latest_version"] for r in rows}

    async def deprecate_script_version(self, script_id: str, version: int, deprecated: bool) -> None:
        await _SCRIPTS.deprecate(self._conn, script_id, version, deprecated)

    async def delete_script_version(self, script_id: str, version: int) -> None:
        await _SCRIPTS.delete_version(self._conn, script_id, version)

    async def templates_running(self, refs: Collection[ScriptRef]) -> list[tuple[str, int]]:
        rows = await self._conn.fetch(
            "SELECT template_id, version FROM template_versions WHERE script_refs && $1::text[] "
            "ORDER BY template_id, version",
            [r.key for r in refs],
        )
        return [(str(r["template_id"]), r["version"]) for r in rows]

    # templates

    async def add_template(self, record: TemplateRecord) -> None:
        await _TEMPLATES.add(self._conn, record, record.default_version)

    async def get_template(self, project_id: str, template_id: str, *, lock: bool = False) -> TemplateRecord | None:
        return await _TEMPLATES.get(self._conn, project_id, template_id, lock=lock)

    async def save_template(self, record: TemplateRecord) -> None:
        await self._conn.execute(
            """UPDATE templates SET latest_version = $2, default_version = $3, last_event_id = $4, updated_at = $5
               WHERE id = $1""",
            uuid.UUID(record.id),
            record.latest_version,
            record.default_version,
            record.last_event_id,
            record.updated_at,
        )

    async def delete_template(self, template_id: str) -> None:
        await _TEMPLATES.delete(self._conn, template_id)

    async def template_page(self, flt: NamedFilter, request: PageRequest) -> tuple[list[TemplateRecord], str | None]:
        return await _TEMPLATES.page(self._conn, flt, request)

    async def add_template_version(self, version: TemplateVersion) -> None:
        await self._conn.execute(
            f"""INSERT INTO template_versions ({_TEMPLATE_VERSION_COLUMNS}, script_refs)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            uuid.UUID(version.template_id),
            version.version,
            spec_json(version.spec),
            version.sealed_values,
            list(version.secret_names),
            version.deprecated,
            version.created_at,
            [r.key for r in version.spec.script_refs()],
        )

    async def template_version(self, template_id: str, version: int) -> TemplateVersion | None:
        return await _TEMPLATES.version(self._conn, template_id, version)

    async def template_versions(self, template_id: str) -> list[TemplateVersion]:
        return await _TEMPLATES.versions(self._conn, template_id)

    async def deprecate_template_version(self, template_id: str, version: int, deprecated: bool) -> None:
        await _TEMPLATES.deprecate(self._conn, template_id, version, deprecated)

    async def delete_template_version(self, template_id: str, version: int) -> None:
        await _TEMPLATES.delete_version(self._conn, template_id, version)

    async def live_instances(self, template_id: str, version: int | None = None) -> list[str]:
        rows = await self._conn.fetch(
            """SELECT id FROM instances
               WHERE template_id = $1 AND ($2::int IS NULL OR template_version = $2)
                 AND state NOT IN ('terminated', 'gone', 'rejected')
               ORDER BY created_at""",
            uuid.UUID(template_id),
            version,
        )
        return [str(r["id"]) for r in rows]

    async def hold_version(self, project_id: str, template_id: str, version: int) -> bool:
        key = key_of(template_id)
        if key is None:
            return False
        usable = await self._conn.fetchval(
            """SELECT NOT v.deprecated FROM templates t JOIN template_versions v ON v.template_id = t.id
               WHERE t.id = $1 AND t.project_id = $2 AND v.version = $3
               FOR SHARE OF t""",
            key,
            project_id,
            version,
        )
        return bool(usable)

    async def launchable(self, project_id: str, template_id: str, version: int | None) -> Launchable | None:
        key = key_of(template_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(_LAUNCHABLE, key, project_id, version or None)
        if row is None:
            return None
        template = _template(row)
        n = version or template.default_version
        if row["found_version"] is None:
            return Launchable(template, n, None)
        found = self._kept.template(project_id, template.id, n) if self._kept is not None else None
        if found is None:
            found = await self.template_version(template.id, n)
            if found is None:  # deleted since the row above was read
                return Launchable(template, n, None)
            if self._kept is not None:
                self._kept.keep_template(project_id, found)
        return Launchable(template, n, replace(found, deprecated=row["found_deprecated"]))

    async def launch_scripts(self, project_id: str, refs: Collection[ScriptRef]) -> dict[ScriptRef, ScriptVersion]:
        if self._kept is None:
            return await self.script_versions_named(project_id, refs)
        found = self._kept.scripts(project_id, refs)
        missing = [r for r in refs if r not in found]
        if missing:
            read = await self.script_versions_named(project_id, missing)
            self._kept.keep_scripts(project_id, read)
            found.update(read)
        return found


__all__ = [
    "NAMED_SORTS",
    "SCRIPT_LISTING",
    "TEMPLATE_LISTING",
    "Launchable",
    "NamedFilter",
    "PostgresTemplateRepository",
    "TemplateRepository",
    "TemplateStore",
    "spec_json",
    "spec_of",
]
