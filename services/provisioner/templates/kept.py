"""Template and script versions, and projects' run keys, kept in memory between launches, so that a launch from a
template reads from the database only what can still change.

A version never changes once made: only its `deprecated` flag and its existence can. Every launch therefore reads
the template, whether the version still exists and whether it is deprecated (one query), and takes the version's
content from here when an earlier launch read it already. The script versions a template version runs cannot be
deleted while that version exists (`templates_running`), so once the template version is found they need no query
either. A project's run key (the key pair runs log in with, which template launches authorize) is made once and is
never replaced nor removed. Every key carries the project the record was read in, so nothing one project read answers
another.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from cachetools import LRUCache

from services.provisioner.templates.domain import ScriptRef, ScriptVersion, TemplateVersion

__all__ = ["KeptVersions"]

# Template versions kept (each holds its scripts' references and sealed values, a few kilobytes at most); a launch
# from one that was evicted reads it again.
TEMPLATE_VERSIONS = 512
SCRIPT_VERSIONS = 2048
PROJECT_KEYS = 1024


class KeptVersions:
    """Versions as read, by project; the `deprecated` flag they carry is the one they had when read, so callers
    take that flag from the database, never from here."""

    def __init__(
        self, templates: int = TEMPLATE_VERSIONS, scripts: int = SCRIPT_VERSIONS, keys: int = PROJECT_KEYS
    ) -> None:
        self._templates: LRUCache[tuple[str, str, int], TemplateVersion] = LRUCache(templates)
        self._scripts: LRUCache[tuple[str, ScriptRef], ScriptVersion] = LRUCache(scripts)
        self._keys: LRUCache[str, tuple[str, bytes]] = LRUCache(keys)

    def project_key(self, project_id: str) -> tuple[str, bytes] | None:
        """The project's run key (public key, sealed private key) as read before."""
        return self._keys.get(project_id)

    def keep_project_key(self, project_id: str, key: tuple[str, bytes]) -> None:
        self._keys[project_id] = key

    def template(self, project_id: str, template_id: str, version: int) -> TemplateVersion | None:
        return self._templates.get((project_id, template_id, version))

    def keep_template(self, project_id: str, found: TemplateVersion) -> None:
        self._templates[project_id, found.template_id, found.version] = found

    def scripts(self, project_id: str, refs: Collection[ScriptRef]) -> dict[ScriptRef, ScriptVersion]:
        """The kept versions among `refs` (those missing were not read yet, or were evicted)."""
        found = {}
        for ref in refs:
            version = self._scripts.get((project_id, ref))
            if version is not None:
                found[ref] = version
        return found

    def keep_scripts(self, project_id: str, found: Mapping[ScriptRef, ScriptVersion]) -> None:
        for ref, version in found.items():
            self._scripts[project_id, ref] = version
