"""The project's guard-rails (a form owners change, read by every member) and the approvals of launches that wait
for one (owners approve or reject them here, with a reason)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import QueryParams
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.client.models import GuardrailsOut
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, listed_at
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit, checked_form, visit

__all__ = ["router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]
ACTIONS = (("stop", "stop"), ("terminate", "terminate"))
APPROVAL_FILTERS = (Filter("state", "State", "many", [(s, s) for s in ("pending", "approved", "rejected")]),)
APPROVAL_SORTS = (("created_at", "Asked"), ("updated_at", "Changed"))
# The form's text fields: the guard-rails' numbers and words as typed.
_TEXT = ("max_instances", "max_vcpus", "max_monthly_cost", "currency", "max_lifetime_hours", "approval_threshold")


def _values(rails: GuardrailsOut) -> dict[str, str]:
    shown = {name: "" if getattr(rails, name) is None else str(getattr(rails, name)) for name in _TEXT}
    shown["expiry_action"] = rails.expiry_action
    shown["expiry_warnings"] = ", ".join(f"{h:g}" for h in rails.expiry_warnings)
    shown["required_tags"] = "\n".join(
        f"{key}={','.join(values)}" if values else key for key, values in rails.required_tags.items()
    )
    return shown


def _body(form: Form) -> dict[str, Any]:
    """The guard-rails the form asks for; the API checks every field."""
    body: dict[str, Any] = {name: form.get(name).strip() or None for name in _TEXT}
    body["expiry_action"] = form.get("expiry_action").strip() or "stop"
    body["expiry_warnings"] = [w.strip() for w in form.get("expiry_warnings").split(",") if w.strip()]
    tags: dict[str, list[str]] = {}
    for line in form.get("required_tags").splitlines():
        key, _, allowed = line.strip().partition("=")
        if key:
            tags[key] = [v.strip() for v in allowed.split(",") if v.strip()]
    body["required_tags"] = tags
    return body


async def _guardrails_page(
    current: Visit, problem: Problem | None = None, values: dict[str, str] | None = None, notice: str | None = None
) -> Response:
    rails = await current.api.guardrails.get()
    return await current.page(
        "guardrails.html", problem.status if problem else 200, title="Guard-rails", section="guardrails",
        rails=rails, values=values or _values(rails), problem=problem, notice=notice, actions=ACTIONS,
        manage=await current.may_manage(),
    )  # fmt: skip


@router.get("/guardrails")
async def guardrails(current: Visiting) -> Response:
    return await _guardrails_page(current)


@router.post("/guardrails")
async def set_guardrails(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    try:
        saved = await current.api.guardrails.set(_body(form))
    except (ApiError, ValidationError) as error:
        return await _guardrails_page(current, Problem.of(error), form.values())
    return await _guardrails_page(current, notice=f"Saved as version {saved.version}.")


async def _approvals_page(
    current: Visit, problem: Problem | None = None, given: QueryParams | None = None, notice: str | None = None
) -> Response:
    view, found, refused = await listed_at(current.api.approvals, "/approvals", given, APPROVAL_FILTERS, APPROVAL_SORTS)
    problem = problem or refused
    return await current.page(
        "approvals.html", problem.status if problem else 200, title="Approvals", section="approvals",
        approvals=found, view=view, problem=problem, notice=notice, manage=await current.may_manage(),
    )  # fmt: skip


@router.get("/approvals")
async def approvals(request: Request, current: Visiting) -> Response:
    return await _approvals_page(current, given=request.query_params)


@router.post("/approvals/{approval_id}")
async def decide(approval_id: str, request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    try:
        if form.get("decision") == "approve":
            decided = await current.api.approvals.approve(approval_id)
        else:
            decided = await current.api.approvals.reject(approval_id, form.get("reason").strip())
    except (ApiError, ValidationError) as error:
        return await _approvals_page(current, Problem.of(error))
    return current.redirect(f"{CONSOLE_PREFIX}/approvals?state={decided.state}")
