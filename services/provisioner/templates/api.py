"""The routes of scripts, server templates and their versions: parse, call a handler, shape the answer. Reached only
through the gateway, which serves them from these declarations. A secret value never appears in an answer: a
template version shows it as `********`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, Response

from kernel.authz import Operator, Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from kernel.keyset import PageRequest
from kernel.listing_query import page_query
from services.provisioner.clouds.api import clouds_of
from services.provisioner.schemas import ListOf, Page
from services.provisioner.state import correlation_id, uow_of
from services.provisioner.templates import handlers
from services.provisioner.templates.domain import (
    LATEST,
    CloudChoice,
    Requirements,
    ScriptContent,
    ScriptRef,
    ScriptVersion,
    TemplateSpec,
    TemplateVersion,
)
from services.provisioner.templates.inputs import MASK, InputSpec
from services.provisioner.templates.repository import NamedFilter, spec_json
from services.provisioner.templates.schemas import (
    InputIn,
    InputOut,
    ScriptCreate,
    ScriptOut,
    ScriptRefIn,
    ScriptVersionIn,
    ScriptVersionOut,
    TemplateCreate,
    TemplateOut,
    TemplateUpdate,
    TemplateVersionIn,
    TemplateVersionOut,
    VersionUpdate,
)

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
scripts = Routes(router, "scripts")
templates = Routes(router, "templates")
NamedPaging = Annotated[PageRequest, Depends(page_query(Literal["created_at", "name"]))]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _inputs(given: list[InputIn]) -> tuple[InputSpec, ...]:
    return tuple(InputSpec(**{**i.model_dump(), "choices": tuple(i.choices)}) for i in given)


def _content(body: ScriptVersionIn) -> ScriptContent:
    return ScriptContent(body.body, body.phase, body.timeout_seconds, _inputs(body.inputs))


def _refs(given: list[ScriptRefIn]) -> tuple[ScriptRef, ...]:
    return tuple(ScriptRef(r.script_id, r.version or LATEST) for r in given)


def _spec(body: TemplateVersionIn) -> TemplateSpec:
    req = body.requirements
    return TemplateSpec(
        clouds=tuple(CloudChoice(c.cloud_id, c.image_id, c.flavor_id) for c in body.clouds),
        requirements=Requirements(**req.model_dump()) if req is not None else None,
        key_name=body.key_name,
        security_group_ids=tuple(body.security_group_ids),
        zone=body.zone,
        tags=dict(body.tags),
        boot_scripts=_refs(body.boot_scripts),
        operational_scripts=_refs(body.operational_scripts),
        decommission_scripts=_refs(body.decommission_scripts),
        inputs=_inputs(body.inputs),
        values=dict(body.values),
        alerts=tuple(body.alerts),
    )


def script_version_out(version: ScriptVersion) -> ScriptVersionOut:
    return ScriptVersionOut(
        script_id=version.script_id,
        version=version.version,
        body=version.body,
        phase=version.phase,
        timeout_seconds=version.timeout_seconds,
        inputs=[InputOut.model_validate(i.as_json()) for i in version.inputs],
        deprecated=version.deprecated,
        created_at=version.created_at,
    )


def template_version_out(version: TemplateVersion) -> TemplateVersionOut:
    data = spec_json(version.spec)
    data["values"] = {**data["values"], **dict.fromkeys(version.secret_names, MASK)}
    return TemplateVersionOut.model_validate(
        {
            **data,
            "template_id": version.template_id,
            "version": version.version,
            "deprecated": version.deprecated,
            "created_at": version.created_at,
        }
    )


# scripts


@scripts.post(
    "/scripts",
    ScriptVersionOut,
    "Create a script (its version 1)",
    status=201,
    problems=(403, 409),
    description="A `#!` shell script or `#cloud-config` (boot scripts only). `{{ name }}` in the body is replaced "
    "by the value of input `name` when a server is launched; every name used must be declared in `inputs`. Names "
    "are unique in a project (409). Event `script.created`.",
)
async def create_script(request: Request, body: ScriptCreate, caller: Operator) -> Response:
    _, version = await handlers.create_script(
        uow_of(request),
        project_id=caller.project_id,
        name=body.name,
        content=_content(body),
        correlation_id=correlation_id(),
    )
    return answer(script_version_out(version), status=201)


@scripts.get("/scripts", Page[ScriptOut], "List scripts")
async def list_scripts(request: Request, caller: Reader, paging: NamedPaging, name: str | None = None) -> Response:
    flt = NamedFilter(project_id=caller.project_id, name=name)
    records, next_cursor = await handlers.page_scripts(uow_of(request), flt, paging)
    return page_answer(ScriptOut, records, next_cursor)


@scripts.get("/scripts/{script_id}", ScriptOut, "One script", problems=(404,))
async def get_script(request: Request, script_id: str, caller: Reader) -> Response:
    record = await handlers.get_script(uow_of(request), caller.project_id, script_id)
    return answer(ScriptOut.model_validate(record, from_attributes=True))


@scripts.delete(
    "/scripts/{script_id}",
    summary="Delete a script and its versions (409 while a template runs one of them)",
    status=204,
    problems=(403, 404, 409),
)
async def delete_script(request: Request, script_id: str, caller: Operator) -> Response:
    await handlers.delete_script(
        uow_of(request), project_id=caller.project_id, script_id=script_id, correlation_id=correlation_id()
    )
    return Response(status_code=204)


@scripts.post(
    "/scripts/{script_id}/versions",
    ScriptVersionOut,
    "Make a new version of a script (201), or answer the latest when nothing changed (200)",
    status=201,
    problems=(403, 404),
)
async def create_script_version(request: Request, script_id: str, body: ScriptVersionIn, caller: Operator) -> Response:
    version, created = await handlers.add_script_version(
        uow_of(request),
        project_id=caller.project_id,
        script_id=script_id,
        content=_content(body),
        correlation_id=correlation_id(),
    )
    return answer(script_version_out(version), status=201 if created else 200)


@scripts.get("/scripts/{script_id}/versions", ListOf[ScriptVersionOut], "A script's versions", problems=(404,))
async def list_script_versions(request: Request, script_id: str, caller: Reader) -> Response:
    versions = await handlers.script_versions(uow_of(request), caller.project_id, script_id)
    return answer(ListOf[ScriptVersionOut](items=[script_version_out(v) for v in versions]))


@scripts.get("/scripts/{script_id}/versions/{version}", ScriptVersionOut, "One version of a script", problems=(404,))
async def get_script_version(request: Request, script_id: str, version: Version, caller: Reader) -> Response:
    found = await handlers.script_version(uow_of(request), caller.project_id, script_id, version)
    return answer(script_version_out(found))


@scripts.patch(
    "/scripts/{script_id}/versions/{version}",
    ScriptVersionOut,
    "Deprecate a script version (or take it back): no new template version may name a deprecated one",
    problems=(403, 404),
)
async def update_script_version(
    request: Request, script_id: str, version: Version, body: VersionUpdate, caller: Operator
) -> Response:
    found = await handlers.deprecate_script_version(
        uow_of(request),
        project_id=caller.project_id,
        script_id=script_id,
        version=version,
        deprecated=body.deprecated,
        correlation_id=correlation_id(),
    )
    return answer(script_version_out(found))


@scripts.delete(
    "/scripts/{script_id}/versions/{version}",
    summary="Delete a script version (409 while a template runs it, or when it is the latest)",
    status=204,
    problems=(403, 404, 409),
)
async def delete_script_version(request: Request, script_id: str, version: Version, caller: Operator) -> Response:
    await handlers.delete_script_version(
        uow_of(request),
        project_id=caller.project_id,
        script_id=script_id,
        version=version,
        correlation_id=correlation_id(),
    )
    return Response(status_code=204)


# templates


@templates.post(
    "/templates",
    TemplateVersionOut,
    "Create a server template (its version 1, the default)",
    status=201,
    problems=(403, 409),
    description="An image and flavor per cloud (`clouds`), or `requirements` a cloud's catalogue is searched for at "
    "launch; the key pair, security groups, zone and tags of its servers; the script versions it runs (a reference "
    "without `version` takes the script's latest, recorded as a number); its own inputs and its values of any "
    "input (secrets are sealed and shown as `********`); alert specs kept for the alerts service. Every problem is "
    "a 422 naming its field. Event `template.created`.",
)
async def create_template(request: Request, body: TemplateCreate, caller: Operator) -> Response:
    _, version = await handlers.create_template(
        uow_of(request),
        clouds_of(request).keyring,
        project_id=caller.project_id,
        name=body.name,
        draft=_spec(body),
        correlation_id=correlation_id(),
    )
    return answer(template_version_out(version), status=201)


@templates.get("/templates", Page[TemplateOut], "List server templates")
async def list_templates(request: Request, caller: Reader, paging: NamedPaging, name: str | None = None) -> Response:
    flt = NamedFilter(project_id=caller.project_id, name=name)
    records, next_cursor = await handlers.page_templates(uow_of(request), flt, paging)
    return page_answer(TemplateOut, records, next_cursor)


@templates.get("/templates/{template_id}", TemplateOut, "One server template", problems=(404,))
async def get_template(request: Request, template_id: str, caller: Reader) -> Response:
    record = await handlers.get_template(uow_of(request), caller.project_id, template_id)
    return answer(TemplateOut.model_validate(record, from_attributes=True))


@templates.patch(
    "/templates/{template_id}",
    TemplateOut,
    "Set a template's default version (the one a launch naming none uses)",
    problems=(403, 404),
)
async def update_template(request: Request, template_id: str, body: TemplateUpdate, caller: Operator) -> Response:
    record = await handlers.set_default_version(
        uow_of(request),
        project_id=caller.project_id,
        template_id=template_id,
        version=body.default_version,
        correlation_id=correlation_id(),
    )
    return answer(TemplateOut.model_validate(record, from_attributes=True))


@templates.delete(
    "/templates/{template_id}",
    summary="Delete a server template (409 while live instances were launched from it)",
    status=204,
    problems=(403, 404, 409),
)
async def delete_template(request: Request, template_id: str, caller: Operator) -> Response:
    await handlers.delete_template(
        uow_of(request), project_id=caller.project_id, template_id=template_id, correlation_id=correlation_id()
    )
    return Response(status_code=204)


@templates.post(
    "/templates/{template_id}/versions",
    TemplateVersionOut,
    "Make a new version of a server template (the default does not move)",
    status=201,
    problems=(403, 404),
)
async def create_template_version(
    request: Request, template_id: str, body: TemplateVersionIn, caller: Operator
) -> Response:
    version = await handlers.add_template_version(
        uow_of(request),
        clouds_of(request).keyring,
        project_id=caller.project_id,
        template_id=template_id,
        draft=_spec(body),
        correlation_id=correlation_id(),
    )
    return answer(template_version_out(version), status=201)


@templates.get(
    "/templates/{template_id}/versions", ListOf[TemplateVersionOut], "A server template's versions", problems=(404,)
)
async def list_template_versions(request: Request, template_id: str, caller: Reader) -> Response:
    versions = await handlers.template_versions(uow_of(request), caller.project_id, template_id)
    return answer(ListOf[TemplateVersionOut](items=[template_version_out(v) for v in versions]))


@templates.get(
    "/templates/{template_id}/versions/{version}", TemplateVersionOut, "One version of a template", problems=(404,)
)
async def get_template_version(request: Request, template_id: str, version: Version, caller: Reader) -> Response:
    found = await handlers.template_version(uow_of(request), caller.project_id, template_id, version)
    return answer(template_version_out(found))


@templates.patch(
    "/templates/{template_id}/versions/{version}",
    TemplateVersionOut,
    "Deprecate a template version (or take it back): a deprecated version cannot be launched",
    problems=(403, 404),
)
async def update_template_version(
    request: Request, template_id: str, version: Version, body: VersionUpdate, caller: Operator
) -> Response:
    found = await handlers.deprecate_template_version(
        uow_of(request),
        project_id=caller.project_id,
        template_id=template_id,
        version=version,
        deprecated=body.deprecated,
        correlation_id=correlation_id(),
    )
    return answer(template_version_out(found))


@templates.delete(
    "/templates/{template_id}/versions/{version}",
    summary="Delete a template version (409 while live instances came from it, or it is the default or latest)",
    status=204,
    problems=(403, 404, 409),
)
async def delete_template_version(request: Request, template_id: str, version: Version, caller: Operator) -> Response:
    await handlers.delete_template_version(
        uow_of(request),
        project_id=caller.project_id,
        template_id=template_id,
        version=version,
        correlation_id=correlation_id(),
    )
    return Response(status_code=204)


__all__ = ["router"]
