"""The project's settings: cloud accounts (adding one shows the API's connection test: stored when it passed, its
refusal when not; a stored one is tested again on request), the platform's adapter modules (admins), members and API
keys (a new key is shown in the answer to its creation only). Each list has the API's filters, sort and pages, kept
in its URL."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.client.models import CloudTestOut
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, listed_at
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit, checked_form, visit

__all__ = ["router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]
DRIVERS = [(d, d) for d in ("simcloud", "ec2", "openstack", "libvirt", "xcp")]
ROLES = (("viewer", "viewer"), ("operator", "operator"), ("owner", "owner"))
CLOUD_FILTERS = (Filter("driver", "Driver", "select", DRIVERS), Filter("name", "Name"))
CLOUD_SORTS = (("created_at", "Added"), ("name", "Name"))
MEMBER_FILTERS = (Filter("role", "Role", "select", ROLES),)
MEMBER_SORTS = (("email", "Email"), ("name", "Name"), ("role", "Role"))
KEY_FILTERS = (Filter("revoked", "Revoked", "bool"), Filter("user_id", "Made by (user id)"))
KEY_SORTS = (("created_at", "Made"), ("name", "Name"))


def _json_object(form: Form, name: str, fields: dict[str, str]) -> dict[str, Any]:
    text = form.get(name).strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        fields[name] = 'A JSON object, such as {"region": "eu-west-1"}.'
        return {}
    return value


async def _clouds_page(
    current: Visit, problem: Problem | None = None, values: dict[str, str] | None = None,
    added: BaseModel | None = None, status: int | None = None, notice: str | None = None,
    given: QueryParams | None = None, tested: CloudTestOut | None = None,
) -> Response:  # fmt: skip
    view, clouds, refused = await listed_at(current.api.clouds, "/clouds", given, CLOUD_FILTERS, CLOUD_SORTS)
    problem = problem or refused
    return await current.page(
        "clouds.html", status or (problem.status if problem else 200), title="Clouds", section="clouds",
        clouds=clouds, drivers=DRIVERS, problem=problem, values=values or {}, added=added, notice=notice,
        tested=tested, names={c.id: c.name for c in clouds}, view=view, manage=await current.may_manage(),
    )  # fmt: skip


@router.get("/clouds")
async def clouds(request: Request, current: Visiting) -> Response:
    return await _clouds_page(current, given=request.query_params)


@router.post("/clouds")
async def add_cloud(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    bad: dict[str, str] = {}
    config = _json_object(form, "config", bad)
    credentials = _json_object(form, "credentials", bad)
    if bad:
        return await _clouds_page(current, Problem.invalid(bad), form.values())
    body = {"name": form.get("name").strip(), "driver": form.get("driver").strip(), "config": config,
            "credentials": credentials}  # fmt: skip
    try:
        added = await current.api.clouds.add(body)
    except (ApiError, ValidationError) as error:
        return await _clouds_page(current, Problem.of(error), form.values())
    # What the API tested before it stored the account, shown as a test of the stored account shows it.
    try:
        tested = await current.api.clouds.test(added.id)
    except ApiError as error:
        return await _clouds_page(current, Problem.of(error), added=added, status=201)
    return await _clouds_page(current, added=added, status=201, tested=tested)


@router.post("/clouds/{cloud_id}/test")
async def test_cloud(cloud_id: str, request: Request, current: Visiting) -> Response:
    await checked_form(request, current.session)
    try:
        tested = await current.api.clouds.test(cloud_id)
    except ApiError as error:
        return await _clouds_page(current, Problem.of(error))
    return await _clouds_page(current, tested=tested)


@router.post("/clouds/{cloud_id}/sync")
async def sync_cloud(cloud_id: str, request: Request, current: Visiting) -> Response:
    await checked_form(request, current.session)
    try:
        run = await current.api.clouds.sync(cloud_id)
    except ApiError as error:
        return await _clouds_page(current, Problem.of(error))
    return await _clouds_page(current, notice=f"Sync {run.id} of {cloud_id} started ({run.status}).")


@router.get("/modules")
async def modules(current: Visiting) -> Response:
    found = await current.api.modules.list()
    return await current.page("modules.html", title="Adapter modules", section="modules", modules=found)


@router.post("/modules/{name}")
async def switch_module(name: str, request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    try:
        if form.get("enabled") == "true":
            await current.api.modules.enable(name)
        else:
            await current.api.modules.disable(name)
    except ApiError as error:
        found = await current.api.modules.list()
        return await current.page(
            "modules.html", error.status, title="Adapter modules", section="modules", modules=found,
            problem=Problem.of(error),
        )  # fmt: skip
    return current.redirect(f"{CONSOLE_PREFIX}/modules")


async def _members_page(
    current: Visit, problem: Problem | None = None, values: dict[str, str] | None = None,
    given: QueryParams | None = None,
) -> Response:  # fmt: skip
    view, found, refused = await listed_at(current.api.members, "/members", given, MEMBER_FILTERS, MEMBER_SORTS)
    problem = problem or refused
    return await current.page(
        "members.html", problem.status if problem else 200, title="Members", section="members", members=found,
        view=view, roles=ROLES, problem=problem, values=values or {}, manage=await current.may_manage(),
    )  # fmt: skip


@router.get("/members")
async def members(request: Request, current: Visiting) -> Response:
    return await _members_page(current, given=request.query_params)


@router.post("/members")
async def put_member(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    try:
        if form.get("action") == "remove":
            await current.api.members.remove(form.get("user_id"))
        else:
            await current.api.members.put(form.get("user_id").strip(), {"role": form.get("role")})
    except (ApiError, ValidationError) as error:
        return await _members_page(current, Problem.of(error), form.values())
    return current.redirect(f"{CONSOLE_PREFIX}/members")


async def _keys_page(
    current: Visit, problem: Problem | None = None, values: dict[str, str] | None = None,
    created: BaseModel | None = None, status: int | None = None, given: QueryParams | None = None,
) -> Response:  # fmt: skip
    manage = await current.may_manage()
    view, keys, refused = await listed_at(
        current.api.api_keys, "/api-keys", given, KEY_FILTERS, KEY_SORTS, visible=manage
    )
    problem = problem or refused
    return await current.page(
        "api_keys.html", status or (problem.status if problem else 200), title="API keys", section="api-keys",
        keys=keys, view=view, roles=ROLES, problem=problem, values=values or {}, created=created, manage=manage,
    )  # fmt: skip


@router.get("/api-keys")
async def api_keys(request: Request, current: Visiting) -> Response:
    return await _keys_page(current, given=request.query_params)


@router.post("/api-keys")
async def create_api_key(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    try:
        if form.get("action") == "revoke":
            await current.api.api_keys.revoke(form.get("key_id"))
            return current.redirect(f"{CONSOLE_PREFIX}/api-keys")
        body: dict[str, Any] = {"name": form.get("name").strip(), "role": form.get("role")}
        if days := form.optional("expires_in_days"):
            body["expires_in_days"] = int(days) if days.isdigit() else days
        created = await current.api.api_keys.create(body)
    except (ApiError, ValidationError) as error:
        return await _keys_page(current, Problem.of(error), form.values())
    return await _keys_page(current, created=created, status=201)
