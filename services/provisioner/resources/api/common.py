"""What the routes of every resource kind share: the answer shapes, the status a write answers, one page, and the
routes that read one record or carry out an action without parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Path, Request, Response

from kernel.authz import Operator, Reader
from kernel.http import problem_responses
from kernel.keyset import PageRequest
from services.provisioner.clouds.api import clouds_of
from services.provisioner.resources import handlers
from services.provisioner.resources.domain import Kind, ResourceRecord
from services.provisioner.resources.repository import ResourceFilter
from services.provisioner.resources.schemas import (
    AddressOut,
    CustomImageOut,
    KeyPairOut,
    SecurityGroupOut,
    SecurityRuleOut,
    SnapshotOut,
    VolumeOut,
)
from services.provisioner.schemas import Page
from services.provisioner.state import correlation_id, engine_of, uow_of

Out = TypeVar("Out")

# What every write may answer besides its success.
WRITE: dict[int | str, dict[str, Any]] = {
    **problem_responses(403, 404, 409, 501),
    202: {"description": "The cloud did not answer; Clanavi finishes the action in the background"},
}
SEVERAL = "Repeat to match several"


def new_router() -> APIRouter:
    return APIRouter(prefix="/v1", responses=problem_responses(401, 422))


def ports_of(request: Request) -> handlers.Ports:
    return handlers.Ports(uow_of(request), clouds_of(request), engine_of(request))


def _common(record: ResourceRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "project_id": record.project_id,
        "cloud_id": record.cloud_id,
        "name": record.name,
        "provider_id": record.provider_id,
        "state": record.state,
        "pending_action": record.pending_action,
        "reason": record.reason,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def key_pair_out(record: ResourceRecord) -> KeyPairOut:
    return KeyPairOut(**_common(record), fingerprint=record.attrs.get("fingerprint"))


def security_group_out(record: ResourceRecord) -> SecurityGroupOut:
    rules = [
        SecurityRuleOut(id=r["id"], **{k: v for k, v in r.items() if k != "id"}) for r in record.attrs.get("rules", [])
    ]
    return SecurityGroupOut(**_common(record), description=record.attrs.get("description", ""), rules=rules)


def volume_out(record: ResourceRecord) -> VolumeOut:
    a = record.attrs
    return VolumeOut(
        **_common(record),
        size_gb=a.get("size_gb") or 0,
        zone=a.get("zone"),
        instance_id=a.get("instance_id") if record.state in ("attaching", "in-use", "detaching") else None,
        device=a.get("device") if record.state == "in-use" else None,
        snapshot_id=a.get("snapshot_id"),
        discovered=record.discovered,
    )


def snapshot_out(record: ResourceRecord) -> SnapshotOut:
    return SnapshotOut(**_common(record), volume_id=record.attrs["volume_id"], size_gb=record.attrs.get("size_gb"))


def address_out(record: ResourceRecord) -> AddressOut:
    associated = record.state in ("associating", "associated", "disassociating")
    return AddressOut(
        **_common(record),
        ip=record.attrs.get("ip"),
        instance_id=record.attrs.get("instance_id") if associated else None,
    )


def image_out(record: ResourceRecord) -> CustomImageOut:
    return CustomImageOut(**_common(record), instance_id=record.attrs["instance_id"])


def answer(
    response: Response, outcome: handlers.Outcome, shape: Callable[[ResourceRecord], Out], *, created: bool
) -> Out:
    """The record, with 201 (created) or 200 when the cloud call completed in the request, 202 otherwise."""
    response.status_code = (201 if created else 200) if outcome.done else 202
    return shape(outcome.record)


async def page(
    request: Request, shape: Callable[[ResourceRecord], Out], flt: ResourceFilter, paging: PageRequest
) -> Page[Any]:
    records, next_cursor = await handlers.page(ports_of(request), flt, paging)
    return Page[Any](items=[shape(r) for r in records], next_cursor=next_cursor)


def _path_id(path: str) -> str:
    """The name of the (first) path parameter in `path`: "/volumes/{volume_id}/actions/detach" -> "volume_id"."""
    return path.split("{", 1)[1].split("}", 1)[0]


def get_route(
    router: APIRouter,
    path: str,
    kind: Kind,
    shape: Callable[[ResourceRecord], Any],
    model: type,
    *,
    name: str,
    tag: str,
    summary: str | None = None,
) -> None:
    """GET one record of `kind`, by the id in `path`."""

    async def get_one(request: Request, caller: Reader, resource_id: str = Path(alias=_path_id(path))) -> Any:
        return shape(await handlers.get(ports_of(request), caller.project_id, kind, resource_id))

    router.add_api_route(
        path,
        get_one,
        methods=["GET"],
        response_model=model,
        name=name,
        tags=[tag],
        summary=summary,
        responses=problem_responses(404),
    )


def action_route(
    router: APIRouter,
    method: str,
    path: str,
    kind: Kind,
    action: str,
    shape: Callable[[ResourceRecord], Any],
    model: type,
    *,
    name: str,
    tag: str,
    summary: str,
) -> None:
    """Carry out an `action` without parameters on the record of `kind` named by the id in `path`."""

    async def act(
        request: Request, response: Response, caller: Operator, resource_id: str = Path(alias=_path_id(path))
    ) -> Any:
        outcome = await handlers.act_plainly(
            ports_of(request),
            project_id=caller.project_id,
            kind=kind,
            resource_id=resource_id,
            action=action,
            correlation_id=correlation_id(),
        )
        return answer(response, outcome, shape, created=False)

    router.add_api_route(
        path, act, methods=[method], response_model=model, name=name, tags=[tag], summary=summary, responses=WRITE
    )


__all__ = [
    "SEVERAL",
    "WRITE",
    "action_route",
    "address_out",
    "answer",
    "get_route",
    "image_out",
    "key_pair_out",
    "new_router",
    "page",
    "ports_of",
    "security_group_out",
    "snapshot_out",
    "volume_out",
]
