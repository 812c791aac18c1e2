"""The platform's projects and users: every user sees the projects it belongs to; platform admins create projects and
users (a user's password is sent once, to the API, and never shown). Members and API keys are the current project's
(`settings`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.console.listing import Filter, listed_at
from clanavi.console.problems import Problem
from clanavi.console.visits import Visit, checked_form, visit
from services.gateway.identity.domain import MIN_PASSWORD_LENGTH

__all__ = ["router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]
PROJECT_SORTS = (("created_at", "Created"), ("name", "Name"))
USER_FILTERS = (
    Filter("email", "Email"),
    Filter("admin", "Platform admin", "bool"),
    Filter("disabled", "Disabled", "bool"),
)
USER_SORTS = (("created_at", "Created"), ("email", "Email"), ("name", "Name"))


async def _projects_page(
    current: Visit, problem: Problem | None = None, values: dict[str, str] | None = None,
    created: BaseModel | None = None, status: int | None = None, given: QueryParams | None = None,
) -> Response:  # fmt: skip
    view, projects, refused = await listed_at(current.api.projects, "/projects", given, (), PROJECT_SORTS)
    problem = problem or refused
    return await current.page(
        "projects.html", status or (problem.status if problem else 200), title="Projects", section="projects",
        projects=projects, view=view, problem=problem, values=values or {}, created=created,
    )  # fmt: skip


@router.get("/projects")
async def projects(request: Request, current: Visiting) -> Response:
    return await _projects_page(current, given=request.query_params)


@router.post("/projects")
async def create_project(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    try:
        made = await current.api.projects.create({"id": form.get("id").strip(), "name": form.get("name").strip()})
    except (ApiError, ValidationError) as error:
        return await _projects_page(current, Problem.of(error), form.values())
    return await _projects_page(current, created=made, status=201)


async def _users_page(
    current: Visit, problem: Problem | None = None, values: dict[str, str] | None = None,
    created: BaseModel | None = None, status: int | None = None, given: QueryParams | None = None,
) -> Response:  # fmt: skip
    admin = (await current.me()).admin
    view, users, refused = await listed_at(current.api.users, "/users", given, USER_FILTERS, USER_SORTS, visible=admin)
    problem = problem or refused
    return await current.page(
        "users.html", status or (problem.status if problem else 200), title="Users", section="users", users=users,
        view=view, problem=problem, values=values or {}, created=created, min_password=MIN_PASSWORD_LENGTH,
    )  # fmt: skip


@router.get("/users")
async def users(request: Request, current: Visiting) -> Response:
    return await _users_page(current, given=request.query_params)


@router.post("/users")
async def create_user(request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    body = {
        "email": form.get("email").strip(), "name": form.get("name").strip(), "password": form.get("password"),
        "admin": form.get("admin") == "true",
    }  # fmt: skip
    # Never sent back to the browser: the form is shown again without it.
    values = {k: v for k, v in form.values().items() if k != "password"}
    try:
        made = await current.api.users.create(body)
    except (ApiError, ValidationError) as error:
        return await _users_page(current, Problem.of(error), values)
    return await _users_page(current, created=made, status=201)
