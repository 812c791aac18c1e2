"""Instances: one page of the API's list at a time (its filters, sort and cursor: as fast with 10,000 instances as with
ten), the launch form fed by the catalogue, the actions, the running ones chosen for a script run, an instance's
page with its latest runs, and rows that follow their instance's state while it moves
(each such row asks for itself again; a settled row asks for nothing)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.client.models import FlavorOut, ImageOut, InstanceOut, LaunchBlockOut
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, ListView
from clanavi.console.pages import placement
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit, checked_form, visit

__all__ = ["MOVING", "catalogue", "router"]

router = APIRouter()

STATES = (
    "requested", "pending", "running", "stopping", "stopped", "starting", "rebooting", "suspending", "suspended",
    "resuming", "terminating", "terminated", "error", "gone",
)  # fmt: skip
# States an instance passes through: its row asks for itself again until it settles.
MOVING = frozenset(
    {"requested", "pending", "stopping", "starting", "rebooting", "suspending", "resuming", "terminating"}
)
# What each settled state allows, as the API's state machine does (a refused action is refused by the API anyway).
ACTIONS: dict[str, tuple[str, ...]] = {
    "running": ("stop", "reboot", "suspend", "terminate"),
    "stopped": ("start", "terminate"),
    "suspended": ("resume", "terminate"),
    "error": ("terminate",),
}
SORTS = (("created_at", "Created"), ("updated_at", "Updated"), ("name", "Name"), ("state", "State"))
LIMITS = ("20", "50", "100", "200")
# What the page's links carry (its form is its own).
LINKED = (Filter.states(InstanceOut), Filter("cloud_id", "Cloud"), Filter("name", "Name"))
Visiting = Annotated[Visit, Depends(visit)]


def row_context(instance: InstanceOut, pick: bool = False) -> dict[str, Any]:
    """A row of `instance`; with `pick`, a box that chooses it for a script run when it is running (the list's)."""
    moving = instance.state in MOVING or instance.pending_action is not None
    actions = () if moving else ACTIONS.get(instance.state, ())
    return {"i": instance, "moving": moving, "actions": actions, "pick": pick}


@router.get("/instances")
async def instances(
    request: Request,
    current: Visiting,
    state: Annotated[list[str] | None, Query()] = None,
    cloud_id: str = "",
    name: str = "",
    sort: str = "created_at",
    order: str = "desc",
    limit: str = "50",
) -> Response:
    states = [s for s in state or [] if s]
    filters = {"state": states, "cloud_id": cloud_id, "name": name, "sort": sort, "order": order, "limit": limit}
    view = ListView.read(f"{CONSOLE_PREFIX}/instances", request.query_params, LINKED, SORTS, default_order="desc")
    listing = current.api.instances.list(
        state=states or None,  # type: ignore[arg-type]  # the API says which states it knows
        cloud_id=cloud_id or None,
        name=name or None,
        sort=sort or None,
        order="asc" if order == "asc" else "desc",
        limit=int(limit) if limit in LIMITS else 50,
    )
    problem = None
    try:
        page = await listing.page(view.paging.cursor or None)
        items, next_cursor = page.items, page.next_cursor
    except ApiError as error:
        problem, items, next_cursor = Problem.of(error), [], None
    clouds = [c async for c in current.api.clouds.list(limit=100)]
    return await current.page(
        "instances.html",
        problem.status if problem else 200,
        launch_blocks=await _launch_blocks(current),
        title="Instances",
        section="instances",
        rows=[row_context(i) for i in items],
        filters=filters,
        states=STATES,
        sorts=SORTS,
        limits=[(n, n) for n in LIMITS],
        clouds=[(c.id, c.name) for c in clouds],
        view=view.paged(next_cursor),
        problem=problem,
    )


async def _launch_blocks(current: Visit) -> list[LaunchBlockOut]:
    """The budgets that block launches now (the first page: a project has few), for the page's banner; none when
    they cannot be read (the list of instances still shows)."""
    try:
        return list((await current.api.launch_blocks.list(limit=20).page(None)).items)
    except ApiError:
        return []


@router.get("/instances/{instance_id}/row")
async def instance_row(instance_id: str, current: Visiting, pick: bool = False) -> Response:
    instance = await current.api.instances.get(instance_id)
    operate = await current.may_operate()
    return current.fragment("_instance_row.html", operate=operate, **row_context(instance, pick and operate))


@router.post("/instances/{instance_id}/actions")
async def act(instance_id: str, request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    action = form.get("action")
    api = current.api.instances
    problem = None
    try:
        if action == "terminate":
            instance = await api.terminate(instance_id)
        elif action in ("start", "stop", "reboot", "suspend", "resume"):
            instance = await getattr(api, action)(instance_id)
        else:
            raise ValueError(action)
    except ApiError as error:
        problem = Problem.of(error)
        instance = await api.get(instance_id)
    except ValueError:
        problem = Problem("No such action.", 422)
        instance = await api.get(instance_id)
    if not request.headers.get("hx-request"):
        if problem is not None:
            return await current.page(
                "error.html", problem.status, title="The API refused", section="instances", problem=problem
            )
        return current.redirect(f"{CONSOLE_PREFIX}/instances")
    pick = form.get("pick") == "1"
    return current.fragment(
        "_instance_row.html", operate=await current.may_operate(), problem=problem, **row_context(instance, pick)
    )


def _flavor_label(flavor: FlavorOut) -> str:
    """A flavor as a launch form offers it: its size, and its hourly price where the account's catalog has one."""
    size = f"{flavor.name}: {flavor.vcpus} vCPU, {flavor.ram_mb} MB, {flavor.disk_gb} GB"
    return size if flavor.hourly_price is None else f"{size}, {flavor.hourly_price} {flavor.currency}/h"


def _image_label(image: ImageOut) -> str:
    """An image as a launch form offers it: its name and system, and what it adds to the hour where it is priced."""
    label = f"{image.name} ({image.os})"
    return label if image.hourly_price is None else f"{label}, +{image.hourly_price} {image.currency}/h"


async def catalogue(current: Visit, cloud_id: str) -> dict[str, Any]:
    """What a launch (or a template) may choose in a cloud: its images, flavors, key pairs and security groups."""
    api = current.api
    images = await api.images.list(cloud_id=cloud_id)
    flavors = await api.flavors.list(cloud_id=cloud_id)
    key_pairs = (await api.key_pairs.list(cloud_id=cloud_id, limit=200).page()).items
    groups = (await api.security_groups.list(cloud_id=cloud_id, limit=200).page()).items
    return {
        "images": [(i.id, _image_label(i)) for i in images if i.state == "available"],
        "flavors": [(f.id, _flavor_label(f)) for f in flavors],
        "key_pairs": [(k.name, k.name) for k in key_pairs if k.state == "available"],
        "groups": groups,
    }


async def _launch_page(
    current: Visit,
    values: dict[str, str],
    groups_chosen: list[str],
    problem: Problem | None = None,
    preview: dict[str, Any] | None = None,
) -> Response:
    clouds = [c async for c in current.api.clouds.list(limit=100)]
    cloud_id = values.get("cloud_id") or (clouds[0].id if clouds else "")
    values = {**values, "cloud_id": cloud_id}
    offered = await catalogue(current, cloud_id) if cloud_id else {}
    return await current.page(
        "launch.html",
        problem.status if problem else 200,
        title="Launch an instance",
        section="instances",
        clouds=[(c.id, f"{c.name} ({c.driver})") for c in clouds if c.enabled],
        values=values,
        chosen=groups_chosen,
        problem=problem,
        strategies=placement.STRATEGIES,
        preview=preview,
        **offered,
    )


@router.get("/instances/new")
async def launch_form(current: Visiting, cloud_id: str = "") -> Response:
    return await _launch_page(current, {"cloud_id": cloud_id}, [])


@router.get("/instances/new/catalogue")
async def launch_catalogue(current: Visiting, cloud_id: str = "") -> Response:
    """The form's fields that depend on the cloud chosen, for htmx to swap in."""
    offered = await catalogue(current, cloud_id)
    return current.fragment("_launch_catalogue.html", values={}, chosen=[], problem=None, **offered)


def _launch_body(form: Form) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": form.get("name").strip(),
        "cloud_id": form.get("cloud_id"),
        "image_id": form.get("image_id"),
        "flavor_id": form.get("flavor_id"),
    }
    for optional in ("key_name", "zone", "user_data"):
        if value := form.optional(optional):
            body[optional] = value
    if groups := form.getlist("security_group_ids"):
        body["security_group_ids"] = groups
    return placement.placed(form, body)


@router.post("/instances")
async def launch(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    try:
        await current.api.instances.launch(_launch_body(form))
    except (ApiError, ValidationError) as error:
        return await _launch_page(current, form.values(), form.getlist("security_group_ids"), Problem.of(error))
    return current.redirect(f"{CONSOLE_PREFIX}/instances?sort=created_at&order=desc")


@router.post("/instances/preview")
async def launch_preview(request: Request, current: Visiting) -> Response:
    """The launch form's launch as a dry run: in the form (htmx), or the whole form again with it."""
    form = await checked_form(request, current.session)
    seen = await placement.preview(current, _launch_body(form))
    if placement.asked_htmx(request):
        return current.fragment("_launch_preview.html", placement.status_of(seen), preview=seen)
    return await _launch_page(current, form.values(), form.getlist("security_group_ids"), preview=seen)


@router.get("/instances/{instance_id}")
async def instance_page(instance_id: str, current: Visiting) -> Response:
    instance = await current.api.instances.get(instance_id)
    runs = (await current.api.runs.of_instance(instance_id, order="desc", limit=10).page()).items
    events = (await current.api.audit.list(resource_id=instance_id, order="desc", limit=20).page()).items
    return await current.page(
        "instance.html",
        title=f"Instance {instance.name}",
        section="instances",
        events=events,
        runs=runs,
        **row_context(instance),
    )
