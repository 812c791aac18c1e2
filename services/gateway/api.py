"""The public REST API, version 1. Routes declare the full contract (so `/openapi.json` documents it), check the
caller, validate the input, and forward to the owning service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import AwareDatetime

from kernel.authz import Admin, Operator, Reader, allowed
from kernel.identity import Identity, Permission
from services.audit.listing import EventPaging
from services.audit.schemas import AuditEventPage, ChainVerification
from services.gateway.upstream import Upstream
from services.provisioner.listing import RecordPaging
from services.provisioner.schemas import (
    FlavorOut,
    ImageOut,
    InstanceCreate,
    InstanceOut,
    InstanceStateName,
    ListOf,
    MetricsOut,
    ModuleOut,
    ModuleUpdate,
    Page,
)

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {
        status: {"description": "Problem", "content": content, **({"headers": _RETRY_AFTER} if status == 429 else {})}
        for status in statuses
    }


async def provisioner(request: Request) -> Upstream:
    upstream: Upstream = request.app.state.provisioner
    return upstream


async def audit(request: Request) -> Upstream:
    upstream: Upstream = request.app.state.audit
    return upstream


Provisioner = Annotated[Upstream, Depends(provisioner)]
Audit = Annotated[Upstream, Depends(audit)]

router = APIRouter(prefix="/v1", responses=problem_responses(401, 413, 422, 429, 503))


def query_items(request: Request) -> list[tuple[str, str]]:
    """The request's query parameters, repeated ones included, to pass on as they came."""
    return list(request.query_params.multi_items())


def quoted(value: str) -> str:
    """A path parameter's value made safe to put into the upstream path."""
    return quote(value, safe="")


def _path_id(path: str) -> str:
    """The name of the (first) path parameter in `path`: "/volumes/{volume_id}/actions/detach" -> "volume_id"."""
    return path.split("{", 1)[1].split("}", 1)[0]


def forward_route(
    router: APIRouter,
    method: str,
    path: str,
    model: type,
    *,
    name: str,
    tag: str,
    responses: dict[int | str, dict[str, object]],
    summary: str | None = None,
    status_code: int | None = None,
    permission: Permission | None = None,
) -> None:
    """Add a route without a body or a query that the provisioner answers at the same path (the id in `path`
    quoted). Reading needs the read permission and anything else the operate permission, unless `permission` says."""
    id_name = _path_id(path)
    needed = permission or (Permission.READ if method == "GET" else Permission.OPERATE)
    if needed is not Permission.READ:
        responses = {**problem_responses(403), **responses}

    async def forward(
        *,
        resource_id: str = Path(alias=id_name),
        caller: Identity = Depends(allowed(needed)),  # noqa: B008 - the permission is chosen per route
        up: Provisioner,
    ) -> Response:
        return await up.forward(method, "/v1" + path.replace(f"{{{id_name}}}", quoted(resource_id)), caller=caller)

    router.add_api_route(
        path,
        forward,
        methods=[method],
        response_model=model,
        status_code=status_code,
        name=name,
        tags=[tag],
        summary=summary,
        responses=responses,
    )


@router.get(
    "/images",
    response_model=ListOf[ImageOut],
    tags=["images"],
    summary="The clouds' image catalogues (ids to launch from)",
    responses=problem_responses(404, 409),
)
async def list_images(caller: Reader, up: Provisioner, cloud_id: str | None = None) -> Response:
    return await up.forward("GET", "/v1/images", caller=caller, params={"cloud_id": cloud_id} if cloud_id else None)


@router.get("/flavors", response_model=ListOf[FlavorOut], tags=["flavors"], responses=problem_responses(404, 409))
async def list_flavors(caller: Reader, up: Provisioner, cloud_id: str | None = None) -> Response:
    return await up.forward("GET", "/v1/flavors", caller=caller, params={"cloud_id": cloud_id} if cloud_id else None)


@router.post(
    "/instances",
    status_code=202,
    response_model=InstanceOut,
    tags=["instances"],
    summary="Launch an instance",
    description="`key_name` names one of the project's key pairs in that cloud; `security_group_ids` are Clanavi "
    "ids of the project's security groups there; `user_data` is at most 16 KiB.",
    responses=problem_responses(403, 409, 501),
)
async def create_instance(body: InstanceCreate, caller: Operator, up: Provisioner) -> Response:
    return await up.forward("POST", "/v1/instances", caller=caller, body=body.model_dump_json().encode())


@router.get("/instances", response_model=Page[InstanceOut], tags=["instances"], summary="List instances")
async def list_instances(
    request: Request,
    caller: Reader,
    up: Provisioner,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[InstanceStateName] | None, Query(description="Repeat to match several")] = None,
    name: str | None = None,
    discovered: Annotated[
        bool | None, Query(description="true: only instances adopted by an inventory sync; false: only launched ones")
    ] = None,
) -> Response:
    return await up.forward("GET", "/v1/instances", caller=caller, params=query_items(request))


forward_route(
    router,
    "GET",
    "/instances/{instance_id}",
    InstanceOut,
    name="get_instance",
    tag="instances",
    responses=problem_responses(404),
)
forward_route(
    router,
    "DELETE",
    "/instances/{instance_id}",
    InstanceOut,
    name="terminate_instance",
    tag="instances",
    summary="Terminate an instance",
    status_code=202,
    responses=problem_responses(404, 409),
)


@router.post(
    "/instances/{instance_id}/actions/{action}",
    status_code=202,
    response_model=InstanceOut,
    tags=["instances"],
    summary="Start, stop, reboot, suspend or resume an instance",
    responses=problem_responses(403, 404, 409, 501),
)
async def instance_action(
    instance_id: str,
    action: Literal["start", "stop", "reboot", "suspend", "resume"],
    caller: Operator,
    up: Provisioner,
) -> Response:
    return await up.forward("POST", f"/v1/instances/{quoted(instance_id)}/actions/{action}", caller=caller)


@router.get(
    "/instances/{instance_id}/console",
    response_class=PlainTextResponse,
    tags=["instances"],
    summary="The instance's console output (text)",
    responses=problem_responses(404, 409, 501),
)
async def instance_console(instance_id: str, caller: Reader, up: Provisioner) -> Response:
    return await up.forward("GET", f"/v1/instances/{quoted(instance_id)}/console", caller=caller)


@router.get(
    "/instances/{instance_id}/metrics",
    response_model=MetricsOut,
    tags=["instances"],
    summary="Recent metric samples of the instance (CPU utilisation; network and disk where the cloud has them)",
    responses=problem_responses(404, 409, 501),
)
async def instance_metrics(
    request: Request,
    instance_id: str,
    caller: Reader,
    up: Provisioner,
    since: Annotated[AwareDatetime | None, Query(description="Samples from this time on; default an hour ago")] = None,
) -> Response:
    return await up.forward(
        "GET", f"/v1/instances/{quoted(instance_id)}/metrics", caller=caller, params=query_items(request)
    )


@router.get(
    "/modules",
    response_model=ListOf[ModuleOut],
    tags=["modules"],
    summary="The adapter modules: built in or plugins, enabled, available, features, and the accounts using each",
    responses=problem_responses(403),
)
async def list_modules(caller: Admin, up: Provisioner) -> Response:
    return await up.forward("GET", "/v1/modules", caller=caller)


@router.get(
    "/modules/{name}",
    response_model=ModuleOut,
    tags=["modules"],
    summary="One adapter module",
    responses=problem_responses(403, 404),
)
async def get_module(name: str, caller: Admin, up: Provisioner) -> Response:
    return await up.forward("GET", f"/v1/modules/{quoted(name)}", caller=caller)


@router.put(
    "/modules/{name}",
    response_model=ModuleOut,
    tags=["modules"],
    summary="Enable or disable an adapter module at runtime",
    description="A disabled module's cloud accounts answer 409 `module_disabled` to anything that calls the cloud; "
    "their pending work waits and resumes when the module is enabled again. The state survives restarts.",
    responses=problem_responses(403, 404),
)
async def put_module(name: str, body: ModuleUpdate, caller: Admin, up: Provisioner) -> Response:
    return await up.forward("PUT", f"/v1/modules/{quoted(name)}", caller=caller, body=body.model_dump_json().encode())


@router.get("/audit/events", response_model=AuditEventPage, tags=["audit"], summary="The activity trail")
async def list_audit_events(
    request: Request,
    caller: Reader,
    up: Audit,
    paging: EventPaging,
    type_: Annotated[list[str] | None, Query(alias="type", description="Exact event type; repeatable")] = None,
    resource_id: Annotated[str | None, Query(description="The resource the events are about")] = None,
    correlation_id: str | None = None,
    since: Annotated[datetime | None, Query(description="occurred_at >= since")] = None,
    until: Annotated[datetime | None, Query(description="occurred_at < until")] = None,
) -> Response:
    return await up.forward("GET", "/v1/audit/events", caller=caller, params=query_items(request))


@router.get(
    "/audit/verify",
    response_model=ChainVerification,
    tags=["audit"],
    summary="Check that the audit trail's hash chain is intact (admins: the chain spans every project)",
    responses=problem_responses(403),
)
async def verify_audit(caller: Admin, up: Audit) -> Response:
    return await up.forward("GET", "/v1/audit/verify", caller=caller)
