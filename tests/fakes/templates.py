"""An in-memory `TemplateRepository` (services/provisioner/templates/repository.py) over the fake database, for the
unit tests of the script and template use cases."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import TypeVar

from kernel.errors import Conflict
from kernel.keyset import PageRequest
from services.provisioner.templates.domain import (
    ScriptRecord,
    ScriptRef,
    ScriptVersion,
    TemplateRecord,
    TemplateVersion,
)
from services.provisioner.templates.repository import Launchable, NamedFilter

__all__ = ["FakeTemplateRepository", "TemplateTables"]


@dataclass
class TemplateTables:
    scripts: dict[str, ScriptRecord] = field(default_factory=dict)
    script_versions: dict[tuple[str, int], ScriptVersion] = field(default_factory=dict)
    templates: dict[str, TemplateRecord] = field(default_factory=dict)
    template_versions: dict[tuple[str, int], TemplateVersion] = field(default_factory=dict)
    # instance id -> (template id, version, ended)
    launched: dict[str, tuple[str, int, bool]] = field(default_factory=dict)


Named = TypeVar("Named", ScriptRecord, TemplateRecord)


def _page(items: list[Named], flt: NamedFilter, request: PageRequest) -> tuple[list[Named], str | None]:
    chosen = sorted(
        (i for i in items if i.project_id == flt.project_id and flt.name in (None, i.name)),
        key=lambda i: (i.created_at, i.id),
    )
    start = int(request.cursor or 0)
    following = start + request.limit
    return chosen[start:following], str(following) if following < len(chosen) else None


class FakeTemplateRepository:
    def __init__(self, tables: TemplateTables) -> None:
        self.t = tables

    async def add_script(self, record: ScriptRecord) -> None:
        if any(s.project_id == record.project_id and s.name == record.name for s in self.t.scripts.values()):
            raise Conflict("name taken", errors=[{"location": "body.name", "message": "name taken in this project"}])
        self.t.scripts[record.id] = record

    async def get_script(self, project_id: str, script_id: str, *, lock: bool = False) -> ScriptRecord | None:
        found = self.t.scripts.get(script_id)
        return found if found is not None and found.project_id == project_id else None

    async def save_script(self, record: ScriptRecord) -> None:
        self.t.scripts[record.id] = record

    async def delete_script(self, script_id: str) -> None:
        del self.t.scripts[script_id]
        for key in [k for k in self.t.script_versions if k[0] == script_id]:
            del self.t.script_versions[key]

    async def script_page(self, flt: NamedFilter, request: PageRequest) -> tuple[list[ScriptRecord], str | None]:
        return _page(list(self.t.scripts.values()), flt, request)

    async def add_script_version(self, version: ScriptVersion) -> None:
        self.t.script_versions[version.script_id, version.version] = version

    async def script_version(self, script_id: str, version: int) -> ScriptVersion | None:
        return self.t.script_versions.get((script_id, version))

    async def script_versions(self, script_id: str) -> list[ScriptVersion]:
        return sorted((v for k, v in self.t.script_versions.items() if k[0] == script_id), key=lambda v: v.version)

    async def script_versions_named(
        self, project_id: str, refs: Collection[ScriptRef], *, hold: bool = False
    ) -> dict[ScriptRef, ScriptVersion]:
        found = {}
        for ref in refs:
            script = self.t.scripts.get(ref.script_id)
            version = self.t.script_versions.get((ref.script_id, ref.version))
            if script is not None and script.project_id == project_id and version is not None:
                found[ref] = version
        return found

    async def latest_script_versions(self, project_id: str, script_ids: Collection[str]) -> dict[str, int]:
        return {
            s.id: s.latest_version for s in self.t.scripts.values() if s.id in script_ids and s.project_id == project_id
        }

    async def deprecate_script_version(self, script_id: str, version: int, deprecated: bool) -> None:
        key = (script_id, version)
        self.t.script_versions[key] = replace(self.t.script_versions[key], deprecated=deprecated)

    async def delete_script_version(self, script_id: str, version: int) -> None:
        del self.t.script_versions[script_id, version]

    async def templates_running(self, refs: Collection[ScriptRef]) -> list[tuple[str, int]]:
        wanted = set(refs)
        return sorted(k for k, v in self.t.template_versions.items() if wanted & set(v.spec.script_refs()))

    async def add_template(self, record: TemplateRecord) -> None:
        if any(t.project_id == record.project_id and t.name == record.name for t in self.t.templates.values()):
            raise Conflict("name taken", errors=[{"location": "body.name", "message": "name taken in this project"}])
        self.t.templates[record.id] = record

    async def get_template(self, project_id: str, template_id: str, *, lock: bool = False) -> TemplateRecord | None:
        found = self.t.templates.get(template_id)
        return found if found is not None and found.project_id == project_id else None

    async def save_template(self, record: TemplateRecord) -> None:
        self.t.templates[record.id] = record

    async def delete_template(self, template_id: str) -> None:
        del self.t.templates[template_id]
        for key in [k for k in self.t.template_versions if k[0] == template_id]:
            del self.t.template_versions[key]

    async def template_page(self, flt: NamedFilter, request: PageRequest) -> tuple[list[TemplateRecord], str | None]:
        return _page(list(self.t.templates.values()), flt, request)

    async def add_template_version(self, version: TemplateVersion) -> None:
        self.t.template_versions[version.template_id, version.version] = version

    async def template_version(self, template_id: str, version: int) -> TemplateVersion | None:
        return self.t.template_versions.get((template_id, version))

    async def template_versions(self, template_id: str) -> list[TemplateVersion]:
        found = (v for k, v in self.t.template_versions.items() if k[0] == template_id)
        return sorted(found, key=lambda v: v.version)

    async def deprecate_template_version(self, template_id: str, version: int, deprecated: bool) -> None:
        key = (template_id, version)
        self.t.template_versions[key] = replace(self.t.template_versions[key], deprecated=deprecated)

    async def delete_template_version(self, template_id: str, version: int) -> None:
        del self.t.template_versions[template_id, version]

    async def live_instances(self, template_id: str, version: int | None = None) -> list[str]:
        return [
            i for i, (t, v, ended) in self.t.launched.items() if t == template_id and version in (None, v) and not ended
        ]

    async def hold_version(self, project_id: str, template_id: str, version: int) -> bool:
        template = self.t.templates.get(template_id)
        found = self.t.template_versions.get((template_id, version))
        return template is not None and template.project_id == project_id and found is not None and not found.deprecated

    async def launchable(self, project_id: str, template_id: str, version: int | None) -> Launchable | None:
        template = await self.get_template(project_id, template_id)
        if template is None:
            return None
        n = version or template.default_version
        return Launchable(template, n, self.t.template_versions.get((template.id, n)))

    async def launch_scripts(self, project_id: str, refs: Collection[ScriptRef]) -> dict[ScriptRef, ScriptVersion]:
        return await self.script_versions_named(project_id, refs)
