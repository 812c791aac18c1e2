"""Scripts and server templates, each with immutable numbered versions."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from clanavi.client._calls import Call, body, items_of, model_of, nothing, page_of, path, query
from clanavi.client._endpoints import M, Namespace, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from services.provisioner.templates.schemas import (
    ScriptCreate,
    ScriptOut,
    ScriptVersionIn,
    ScriptVersionOut,
    TemplateCreate,
    TemplateOut,
    TemplateUpdate,
    TemplateVersionIn,
    TemplateVersionOut,
    VersionUpdate,
)

__all__ = ["Scripts", "Templates"]

Body = Mapping[str, Any]
A = TypeVar("A", ScriptOut, TemplateOut)
V = TypeVar("V", ScriptVersionOut, TemplateVersionOut)


class _Versions(Generic[A, V]):
    """The calls scripts and templates share: each is a named thing of a project under `root`, with immutable
    numbered versions."""

    def __init__(self, root: str, out: type[A], version_out: type[V]) -> None:
        self._root = root
        self._out: type[A] = out
        self._version_out: type[V] = version_out

    def listing(self, name: str | None, sort: str | None, order: Order | None, limit: int | None) -> Listing[A]:
        return Listing(self._root, page_of(self._out), query(name=name), query(sort=sort, order=order), limit)

    def get(self, id_: str) -> Call[A]:
        return Call("GET", path(f"{self._root}/{{}}", id_), model_of(self._out))

    def delete(self, id_: str) -> Call[None]:
        return Call("DELETE", path(f"{self._root}/{{}}", id_), nothing)

    def versions(self, id_: str) -> Call[list[V]]:
        return Call("GET", path(f"{self._root}/{{}}/versions", id_), items_of(self._version_out))

    def version(self, id_: str, version: int) -> Call[V]:
        return Call("GET", self._version_path(id_, version), model_of(self._version_out))

    def deprecate(self, id_: str, version: int, deprecated: bool) -> Call[V]:
        content = body(VersionUpdate, VersionUpdate(deprecated=deprecated))
        return Call("PATCH", self._version_path(id_, version), model_of(self._version_out), content=content)

    def delete_version(self, id_: str, version: int) -> Call[None]:
        return Call("DELETE", self._version_path(id_, version), nothing)

    def _version_path(self, id_: str, version: int) -> str:
        return path(f"{self._root}/{{}}/versions/{{}}", id_, str(version))


_SCRIPTS = _Versions("/v1/scripts", ScriptOut, ScriptVersionOut)
_TEMPLATES = _Versions("/v1/templates", TemplateOut, TemplateVersionOut)


class Scripts(Namespace[M]):
    """`/v1/scripts`: boot, operational and decommission scripts; `{{ name }}` in a body is an input's value."""

    @listing
    def list(
        self,
        *,
        name: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[ScriptOut]:
        """The project's scripts, sorted by `created_at` or `name`."""
        return _SCRIPTS.listing(name, sort, order, limit)

    @operation
    def get(self, script_id: str) -> Call[ScriptOut]:
        return _SCRIPTS.get(script_id)

    @operation
    def create(self, script: ScriptCreate | Body, *, idempotency_key: str | None = None) -> Call[ScriptVersionOut]:
        """A new script: its version 1."""
        content = body(ScriptCreate, script)
        return Call("POST", "/v1/scripts", model_of(ScriptVersionOut), content=content, idempotency_key=idempotency_key)

    @operation
    def delete(self, script_id: str) -> Call[None]:
        """Conflict while a template runs one of its versions."""
        return _SCRIPTS.delete(script_id)

    @operation
    def new_version(self, script_id: str, version: ScriptVersionIn | Body) -> Call[ScriptVersionOut]:
        """A new version when the content changed; else the latest, unchanged."""
        route = path("/v1/scripts/{}/versions", script_id)
        return Call("POST", route, model_of(ScriptVersionOut), content=body(ScriptVersionIn, version))

    @operation
    def versions(self, script_id: str) -> Call[builtins.list[ScriptVersionOut]]:
        return _SCRIPTS.versions(script_id)

    @operation
    def version(self, script_id: str, version: int) -> Call[ScriptVersionOut]:
        return _SCRIPTS.version(script_id, version)

    @operation
    def deprecate(self, script_id: str, version: int, *, deprecated: bool = True) -> Call[ScriptVersionOut]:
        return _SCRIPTS.deprecate(script_id, version, deprecated)

    @operation
    def delete_version(self, script_id: str, version: int) -> Call[None]:
        """Conflict while a template runs it, or when it is the latest."""
        return _SCRIPTS.delete_version(script_id, version)


class Templates(Namespace[M]):
    """`/v1/templates`: server templates; launch one with `instances.launch` and `template_id`."""

    @listing
    def list(
        self,
        *,
        name: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[TemplateOut]:
        """The project's server templates, sorted by `created_at` or `name`."""
        return _TEMPLATES.listing(name, sort, order, limit)

    @operation
    def get(self, template_id: str) -> Call[TemplateOut]:
        return _TEMPLATES.get(template_id)

    @operation
    def create(
        self, template: TemplateCreate | Body, *, idempotency_key: str | None = None
    ) -> Call[TemplateVersionOut]:
        """A new template: its version 1, the default."""
        content = body(TemplateCreate, template)
        return Call(
            "POST", "/v1/templates", model_of(TemplateVersionOut), content=content, idempotency_key=idempotency_key
        )

    @operation
    def set_default(self, template_id: str, version: int) -> Call[TemplateOut]:
        content = body(TemplateUpdate, TemplateUpdate(default_version=version))
        return Call("PATCH", path("/v1/templates/{}", template_id), model_of(TemplateOut), content=content)

    @operation
    def delete(self, template_id: str) -> Call[None]:
        """Conflict while live instances were launched from it."""
        return _TEMPLATES.delete(template_id)

    @operation
    def new_version(self, template_id: str, version: TemplateVersionIn | Body) -> Call[TemplateVersionOut]:
        route = path("/v1/templates/{}/versions", template_id)
        return Call("POST", route, model_of(TemplateVersionOut), content=body(TemplateVersionIn, version))

    @operation
    def versions(self, template_id: str) -> Call[builtins.list[TemplateVersionOut]]:
        return _TEMPLATES.versions(template_id)

    @operation
    def version(self, template_id: str, version: int) -> Call[TemplateVersionOut]:
        return _TEMPLATES.version(template_id, version)

    @operation
    def deprecate(self, template_id: str, version: int, *, deprecated: bool = True) -> Call[TemplateVersionOut]:
        return _TEMPLATES.deprecate(template_id, version, deprecated)

    @operation
    def delete_version(self, template_id: str, version: int) -> Call[None]:
        """Conflict while live instances came from it, or when it is the default or the latest."""
        return _TEMPLATES.delete_version(template_id, version)
