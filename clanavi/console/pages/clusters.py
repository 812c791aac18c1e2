"""Clusters: the list (filtered, paged in the URL) with the form that makes one from a spec (the API's body as YAML or
JSON) or previews its cost; a cluster's page with each role's health and every member, and the changes an operator
makes to it (scale a role, replace a member, retry, delete). Each refusal of a spec lists every problem the API
named, where it is in the spec."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.client.models import ClusterOut, ClusterPreviewOut
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, ListView, listed
from clanavi.console.pages.versioned import Unreadable, document
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit, checked_form, visit

__all__ = ["router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]

SORTS = (("created_at", "Created"), ("updated_at", "Changed"), ("name", "Name"), ("state", "State"))
FILTERS = (Filter("name", "Name"), Filter.states(ClusterOut))
EXAMPLE = """name: shop
on_failure: rollback   # or degrade
roles:
  - name: db
    template_id: TEMPLATE_ID
    cloud_id: CLOUD_ID
    count: 1
  - name: web
    template_id: TEMPLATE_ID
    cloud_id: CLOUD_ID
    count: 2
    depends_on: [db]
    inputs: {}
"""


def _spec_field(_parts: list[str]) -> str:
    return "spec"


def _refusal(error: ApiError | ValidationError) -> tuple[Problem, list[tuple[str, str]]]:
    """The problem, with every place in the spec it names (the API's location, without `body.`)."""
    if isinstance(error, ValidationError):
        named = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in error.errors()]
    else:
        named = [(b.location.removeprefix("body."), b.message or "refused") for b in error.errors]
    return Problem.of(error, _spec_field), named


async def _list_page(
    request: Request,
    current: Visit,
    *,
    values: dict[str, str] | None = None,
    problem: Problem | None = None,
    named: list[tuple[str, str]] | None = None,
    preview: ClusterPreviewOut | None = None,
) -> Response:
    view = ListView.read(f"{CONSOLE_PREFIX}/clusters", request.query_params, FILTERS, SORTS)
    rows, refused = await listed(current.api.clusters.list(**view.arguments()), view)
    problem = problem or refused
    return await current.page(
        "clusters.html",
        problem.status if problem else 200,
        title="Clusters",
        section="clusters",
        rows=rows,
        view=view,
        values=values or {"spec": EXAMPLE},
        problem=problem,
        named=named or [],
        preview=preview,
    )


@router.get("/clusters")
async def clusters(request: Request, current: Visiting) -> Response:
    return await _list_page(request, current)


@router.post("/clusters")
async def create(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    values = form.values()
    try:
        spec = document(form.get("spec"), dict)
    except Unreadable as error:
        problem = Problem("The spec is not valid.", fields={"spec": f"The spec is {error}."})
        return await _list_page(request, current, values=values, problem=problem)
    try:
        if form.get("action") == "preview":
            seen = await current.api.clusters.preview(spec)
            return await _list_page(request, current, values=values, preview=seen)
        made = await current.api.clusters.create(spec)
    except (ApiError, ValidationError) as error:
        problem, named = _refusal(error)
        return await _list_page(request, current, values=values, problem=problem, named=named)
    return current.redirect(f"{CONSOLE_PREFIX}/clusters/{made.id}")


async def _cluster_page(current: Visit, cluster_id: str, problem: Problem | None = None) -> Response:
    cluster = await current.api.clusters.get(cluster_id)
    return await current.page(
        "cluster.html",
        problem.status if problem else 200,
        title=f"Cluster {cluster.name}",
        section="clusters",
        cluster=cluster,
        problem=problem,
    )


@router.get("/clusters/{cluster_id}")
async def cluster_page(cluster_id: str, current: Visiting) -> Response:
    return await _cluster_page(current, cluster_id)


@router.post("/clusters/{cluster_id}/actions")
async def act(cluster_id: str, request: Request, current: Visiting) -> Response:
    form: Form = await checked_form(request, current.session)
    api = current.api.clusters
    action = form.get("action")
    calls: dict[str, Any] = {
        "scale": lambda: api.scale(cluster_id, form.get("role"), int(form.get("count") or -1)),
        "replace": lambda: api.replace(cluster_id, form.get("instance_id")),
        "retry": lambda: api.retry(cluster_id),
        "delete": lambda: api.delete(cluster_id),
    }
    if action not in calls:
        return await _cluster_page(current, cluster_id, Problem("No such action.", 422))
    try:
        await calls[action]()
    except (ApiError, ValidationError) as error:
        return await _cluster_page(current, cluster_id, Problem.of(error))
    except ValueError:
        return await _cluster_page(current, cluster_id, Problem("The count is a number from 0 to 100.", 422))
    return current.redirect(f"{CONSOLE_PREFIX}/clusters/{cluster_id}")
