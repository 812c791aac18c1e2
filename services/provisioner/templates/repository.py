"""The `scripts`, `script_versions`, `templates` and `template_versions` tables: the port the use cases name, and its
PostgreSQL implementation. Every lookup carries the project: another project's id finds nothing."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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

NAMED_SORTS = {"created_at": Column("created_at", "timestamptz"), "name": Column("name", "text")}
_KEY = Column("id", "uuid")
_SCRIPT_COLUMNS = "id, project_id, name, latest_version, correlation_id, last_event_id, created_at, updated_at"
_TEMPLATE_COLUMNS = f"{_SCRIPT_COLUMNS}, default_version"
SCRIPT_LISTING = Listing(f"SELECT {_SCRIPT_COLUMNS} FROM scripts", NAMED_SORTS, _KEY)
TEMPLATE_LISTING = Listing(f"SELECT {_TEMPLATE_COLUMNS} FROM templates", NAMED_SORTS, _KEY)
_SCRIPT_VERSION_COLUMNS = "script_id, version, body, phase, timeout_seconds, inputs, deprecated, created_at"
_TEMPLATE_VERSION_COLUMNS = "template_id, version, spec, sealed_values, secret_names, deprecated, created_at"


@dataclass(frozen=True)
class NamedFilter:
    project_id: str
    name: str | None = None


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


class PostgresTemplateRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # scripts

    async def add_script(self, record: ScriptRecord) -> None:
        try:
            await self._conn.execute(
                f"INSERT INTO scripts ({_SCRIPT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                uuid.UUID(record.id),
                record.project_id,
                record.name,
                record.latest_version,
                record.correlation_id,
                record.last_event_id,
                record.created_at,
                record.updated_at,
            )
        except asyncpg.UniqueViolationError:
            raise _name_taken("script", record.name) from None

    async def get_script(self, project_id: str, script_id: str, *, lock: bool = False) -> ScriptRecord | None:
        key = key_of(script_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_SCRIPT_COLUMNS} FROM scripts WHERE id = $1 AND project_id = $2{' FOR UPDATE' if lock else ''}",
            key,
            project_id,
        )
        return _script(row) if row else None

    async def save_script(self, record: ScriptRecord) -> None:
        await self._conn.execute(
            "UPDATE scripts SET latest_version = $2, last_event_id = $3, updated_at = $4 WHERE id = $1",
            uuid.UUID(record.id),
            record.latest_version,
            record.last_event_id,
            record.updated_at,
        )

    async def delete_script(self, script_id: str) -> None:
        await self._conn.execute("DELETE FROM scripts WHERE id = $1", uuid.UUID(script_id))

    async def script_page(self, flt: NamedFilter, request: PageRequest) -> tuple[list[ScriptRecord], str | None]:
        where = Where().add("project_id = {}", flt.project_id).given("name = {}", flt.name)
        return await fetch_page(self._conn, SCRIPT_LISTING, where, request, _script)

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
        row = await self._conn.fetchrow(
            f"SELECT {_SCRIPT_VERSION_COLUMNS} FROM script_versions WHERE script_id = $1 AND version = $2",
            uuid.UUID(script_id),
            version,
        )
        return _script_version(row) if row else None

    async def script_versions(self, script_id: str) -> list[ScriptVersion]:
        rows = await self._conn.fetch(
            f"SELECT {_SCRIPT_VERSION_COLUMNS} FROM script_versions WHERE script_id = $1 ORDER BY version",
            uuid.UUID(script_id),
        )
        return [_script_version(r) for r in rows]

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
        await self._conn.execute(
            "UPDATE script_versions SET deprecated = $3 WHERE script_id = $1 AND version = $2",
            uuid.UUID(script_id),
            version,
            deprecated,
        )

    async def delete_script_version(self, script_id: str, version: int) -> None:
        await self._conn.execute(
            "DELETE FROM script_versions WHERE script_id = $1 AND version = $2", uuid.UUID(script_id), version
        )

    async def templates_running(self, refs: Collection[ScriptRef]) -> list[tuple[str, int]]:
        rows = await self._conn.fetch(
            "SELECT template_id, version FROM template_versions WHERE script_refs && $1::text[] "
            "ORDER BY template_id, version",
            [r.key for r in refs],
        )
        return [(str(r["template_id"]), r["version"]) for r in rows]

    # templates

    async def add_template(self, record: TemplateRecord) -> None:
        try:
            await self._conn.execute(
                f"INSERT INTO templates ({_TEMPLATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                uuid.UUID(record.id),
                record.project_id,
                record.name,
                record.latest_version,
                record.correlation_id,
                record.last_event_id,
                record.created_at,
                record.updated_at,
                record.default_version,
            )
        except asyncpg.UniqueViolationError:
            raise _name_taken("template", record.name) from None

    async def get_template(self, project_id: str, template_id: str, *, lock: bool = False) -> TemplateRecord | None:
        key = key_of(template_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_TEMPLATE_COLUMNS} FROM templates WHERE id = $1 AND project_id = $2"
            f"{' FOR UPDATE' if lock else ''}",
            key,
            project_id,
        )
        return _template(row) if row else None

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
        await self._conn.execute("DELETE FROM templates WHERE id = $1", uuid.UUID(template_id))

    async def template_page(self, flt: NamedFilter, request: PageRequest) -> tuple[list[TemplateRecord], str | None]:
        where = Where().add("project_id = {}", flt.project_id).given("name = {}", flt.name)
        return await fetch_page(self._conn, TEMPLATE_LISTING, where, request, _template)

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
        row = await self._conn.fetchrow(
            f"SELECT {_TEMPLATE_VERSION_COLUMNS} FROM template_versions WHERE template_id = $1 AND version = $2",
            uuid.UUID(template_id),
            version,
        )
        return _template_version(row) if row else None

    async def template_versions(self, template_id: str) -> list[TemplateVersion]:
        rows = await self._conn.fetch(
            f"SELECT {_TEMPLATE_VERSION_COLUMNS} FROM template_versions WHERE template_id = $1 ORDER BY version",
            uuid.UUID(template_id),
        )
        return [_template_version(r) for r in rows]

    async def deprecate_template_version(self, template_id: str, version: int, deprecated: bool) -> None:
        await self._conn.execute(
            "UPDATE template_versions SET deprecated = $3 WHERE template_id = $1 AND version = $2",
            uuid.UUID(template_id),
            version,
            deprecated,
        )

    async def delete_template_version(self, template_id: str, version: int) -> None:
        await self._conn.execute(
            "DELETE FROM template_versions WHERE template_id = $1 AND version = $2", uuid.UUID(template_id), version
        )

    async def live_instances(self, template_id: str, version: int | None = None) -> list[str]:
        rows = await self._conn.fetch(
            """SELECT id FROM instances
               WHERE template_id = $1 AND ($2::int IS NULL OR template_version = $2)
                 AND state NOT IN ('terminated', 'gone')
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


__all__ = [
    "NAMED_SORTS",
    "SCRIPT_LISTING",
    "TEMPLATE_LISTING",
    "NamedFilter",
    "PostgresTemplateRepository",
    "TemplateRepository",
    "TemplateStore",
    "spec_json",
    "spec_of",
]
