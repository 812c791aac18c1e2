"""Scripts and server templates, each with immutable numbered versions."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

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


def _deprecation(deprecated: bool) -> bytes:
    return body(VersionUpdate, VersionUpdate(deprecated=deprecated))


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
        return Listing("/v1/scripts", page_of(ScriptOut), query(name=name), query(sort=sort, order=order), limit)

    @operation
    def get(self, script_id: str) -> Call[ScriptOut]:
        return Call("GET", path("/v1/scripts/{}", script_id), model_of(ScriptOut))

    @operation
    def create(self, script: ScriptCreate | Body, *, idempotency_key: str | None = None) -> Call[ScriptVersionOut]:
        """A new script: its version 1."""
        content = body(ScriptCreate, script)
        return Call("POST", "/v1/scripts", model_of(ScriptVersionOut), content=content, idempotency_key=idempotency_key)

    @operation
    def delete(self, script_id: str) -> Call[None]:
        """Conflict while a template runs one of its versions."""
        return Call("DELETE", path("/v1/scripts/{}", script_id), nothing)

    @operation
    def new_version(self, script_id: str, version: ScriptVersionIn | Body) -> Call[ScriptVersionOut]:
        """A new version when the content changed; else the latest, unchanged."""
        route = path("/v1/scripts/{}/versions", script_id)
        return Call("POST", route, model_of(ScriptVersionOut), content=body(ScriptVersionIn, version))

    @operation
    def versions(self, script_id: str) -> Call[builtins.list[ScriptVersionOut]]:
        return Call("GET", path("/v1/scripts/{}/versions", script_id), items_of(ScriptVersionOut))

    @operation
    def version(self, script_id: str, version: int) -> Call[ScriptVersionOut]:
        return Call("GET", path("/v1/scripts/{}/versions/{}", script_id, str(version)), model_of(ScriptVersionOut))

    @operation
    def deprecate(self, script_id: str, version: int, *, deprecated: bool = True) -> Call[ScriptVersionOut]:
        route = path("/v1/scripts/{}/versions/{}", script_id, str(version))
        return Call("PATCH", route, model_of(ScriptVersionOut), content=_deprecation(deprecated))

    @operation
    def delete_version(self, script_id: str, version: int) -> Call[None]:
        """Conflict while a template runs it, or when it is the latest."""
        return Call("DELETE", path("/v1/scripts/{}/versions/{}", script_id, str(version)), nothing)


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
        return Listing("/v1/templates", page_of(TemplateOut), query(name=name), query(sort=sort, order=order), limit)

    @operation
    def get(self, template_id: str) -> Call[TemplateOut]:
        return Call("GET", path("/v1/templates/{}", template_id), model_of(TemplateOut))

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
        return Call("DELETE", path("/v1/templates/{}", template_id), nothing)

    @operation
    def new_version(self, template_id: str, version: TemplateVersionIn | Body) -> Call[TemplateVersionOut]:
        route = path("/v1/templates/{}/versions", template_id)
        return Call("POST", route, model_of(TemplateVersionOut), content=body(TemplateVersionIn, version))

    @operation
    def versions(self, template_id: str) -> Call[builtins.list[TemplateVersionOut]]:
        return Call("GET", path("/v1/templates/{}/versions", template_id), items_of(TemplateVersionOut))

    @operation
    def version(self, template_id: str, version: int) -> Call[TemplateVersionOut]:
        route = path("/v1/templates/{}/versions/{}", template_id, str(version))
        return Call("GET", route, model_of(TemplateVersionOut))

    @operation
    def deprecate(self, template_id: str, version: int, *, deprecated: bool = True) -> Call[TemplateVersionOut]:
        route = path("/v1/templates/{}/versions/{}", template_id, str(version))
        return Call("PATCH", route, model_of(TemplateVersionOut), content=_deprecation(deprecated))

    @operation
    def delete_version(self, template_id: str, version: int) -> Call[None]:
        """Conflict while live instances came from it, or when it is the default or the latest."""
        return Call("DELETE", path("/v1/templates/{}/versions/{}", template_id, str(version)), nothing)
