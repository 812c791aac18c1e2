"""Scaling groups: the list (filtered, paged in the URL) with the form that makes one from a spec (the API's body as
YAML or JSON); a group's page with its bounds (which an operator changes), its members and their protection, its
policies (added from a spec), what it did, and a chart of desired / actual capacity and the metric over time, drawn
on the server as SVG (the console runs no inline script)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.client.models import HistoryPointOut
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, ListView, listed
from clanavi.console.pages.versioned import Unreadable, document
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit, checked_form, visit

__all__ = ["Chart", "chart", "router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]

SORTS = (("created_at", "Created"), ("name", "Name"))
FILTERS = (Filter("name", "Name"), Filter("template_id", "Template"))
EXAMPLE = """name: web
template_id: TEMPLATE_ID
template_version: 1
min_size: 1
max_size: 6
desired: 2
tags: {"simcloud:load": "ramp"}
termination_policies: [zone_balance, oldest_template_version]
"""
POLICY_EXAMPLE = """name: cpu
kind: target_tracking
metric: cpu_utilization
target: 60
warmup_seconds: 60
"""
# The chart's drawing area, in SVG user units.
WIDTH, HEIGHT = 600.0, 200.0


@dataclass(frozen=True)
class Chart:
    """Polylines ("x,y x,y ...") of the desired and actual capacity (on the capacity axis) and of the metric (on its
    own axis), and what the axes reach."""

    desired: str
    actual: str
    metric: str
    top: int
    metric_name: str | None
    metric_top: float


def _line(values: Sequence[float | None], top: float) -> str:
    count = len(values)
    points = []
    for i, value in enumerate(values):
        if value is None:
            continue
        x = WIDTH * i / max(1, count - 1)
        y = HEIGHT - HEIGHT * value / top if top else HEIGHT
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points)


def chart(points: Sequence[HistoryPointOut]) -> Chart | None:
    """The chart of a group's history; None when there is none yet."""
    if not points:
        return None
    top = max(max(p.desired for p in points), max(p.actual for p in points), 1)
    values = [p.value for p in points]
    metric_top = max((v for v in values if v is not None), default=0.0) or 1.0
    name = next((p.metric for p in points if p.metric), None)
    return Chart(
        desired=_line([float(p.desired) for p in points], top),
        actual=_line([float(p.actual) for p in points], top),
        metric=_line(values, metric_top),
        top=top,
        metric_name=name,
        metric_top=metric_top,
    )


def _refusal(error: ApiError | ValidationError) -> tuple[Problem, list[tuple[str, str]]]:
    if isinstance(error, ValidationError):
        named = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in error.errors()]
    else:
        named = [(b.location.removeprefix("body."), b.message or "refused") for b in error.errors]
    return Problem.of(error, lambda _parts: "spec"), named


async def _list_page(
    request: Request,
    current: Visit,
    *,
    values: dict[str, str] | None = None,
    problem: Problem | None = None,
    named: list[tuple[str, str]] | None = None,
) -> Response:
    view = ListView.read(f"{CONSOLE_PREFIX}/scaling-groups", request.query_params, FILTERS, SORTS)
    rows, refused = await listed(current.api.scaling_groups.list(**view.arguments()), view)
    problem = problem or refused
    return await current.page(
        "scaling_groups.html",
        problem.status if problem else 200,
        title="Scaling groups",
        section="scaling-groups",
        rows=rows,
        view=view,
        values=values or {"spec": EXAMPLE},
        problem=problem,
        named=named or [],
    )


@router.get("/scaling-groups")
async def scaling_groups(request: Request, current: Visiting) -> Response:
    return await _list_page(request, current)


@router.post("/scaling-groups")
async def create(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    values = form.values()
    try:
        spec = document(form.get("spec"), dict)
    except Unreadable as error:
        problem = Problem("The spec is not valid.", fields={"spec": f"The spec is {error}."})
        return await _list_page(request, current, values=values, problem=problem)
    try:
        made = await current.api.scaling_groups.create(spec)
    except (ApiError, ValidationError) as error:
        problem, named = _refusal(error)
        return await _list_page(request, current, values=values, problem=problem, named=named)
    return current.redirect(f"{CONSOLE_PREFIX}/scaling-groups/{made.id}")


async def _group_page(
    current: Visit,
    group_id: str,
    problem: Problem | None = None,
    named: list[tuple[str, str]] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    api = current.api.scaling_groups
    group = await api.get(group_id)
    members = await api.instances(group_id)
    policies = await api.policies(group_id)
    page = await api.activities(group_id, limit=20).page(None)
    history = await api.history(group_id, minutes=60)
    return await current.page(
        "scaling_group.html",
        problem.status if problem else 200,
        title=f"Scaling group {group.name}",
        section="scaling-groups",
        group=group,
        members=members,
        policies=policies,
        activities=page.items,
        chart=chart(history.points),
        width=WIDTH,
        height=HEIGHT,
        problem=problem,
        named=named or [],
        values=values or {"policy": POLICY_EXAMPLE},
    )


@router.get("/scaling-groups/{group_id}")
async def group_page(group_id: str, current: Visiting) -> Response:
    return await _group_page(current, group_id)


def _size(form: Form, name: str) -> int | None:
    text = form.get(name).strip()
    if not text:
        return None
    value = int(text)
    if value < 0:
        raise ValueError(name)
    return value


@router.post("/scaling-groups/{group_id}/actions")
async def act(group_id: str, request: Request, current: Visiting) -> Response:
    form: Form = await checked_form(request, current.session)
    api = current.api.scaling_groups
    action = form.get("action")
    try:
        if action == "set":
            sizes = {name: _size(form, name) for name in ("min_size", "desired", "max_size")}
            await api.update(group_id, {k: v for k, v in sizes.items() if v is not None})
        elif action in ("protect", "unprotect"):
            await api.protect(group_id, form.get("instance_id"), action == "protect")
        elif action == "add-policy":
            try:
                spec: dict[str, Any] = document(form.get("policy"), dict)
            except Unreadable as error:
                problem = Problem("The policy is not valid.", fields={"policy": f"The policy is {error}."})
                return await _group_page(current, group_id, problem, values=form.values())
            await api.add_policy(group_id, spec)
        elif action == "delete-policy":
            await api.delete_policy(group_id, form.get("policy_id"))
        elif action == "delete":
            await api.delete(group_id)
            return current.redirect(f"{CONSOLE_PREFIX}/scaling-groups")
        else:
            return await _group_page(current, group_id, Problem("No such action.", 422))
    except (ApiError, ValidationError) as error:
        problem, named = _refusal(error)
        return await _group_page(current, group_id, problem, named, values=form.values())
    except ValueError:
        return await _group_page(current, group_id, Problem("Sizes are whole numbers from 0.", 422))
    return current.redirect(f"{CONSOLE_PREFIX}/scaling-groups/{group_id}")
