"""Logging in (the API's password grant), out (the API's logout: the login's tokens stop working everywhere), and
choosing the project the pages act in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from clanavi.client import ApiError, NotFound, Unauthorized
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.problems import Problem
from clanavi.console.session import LOGIN_COOKIE, ConsoleSession
from clanavi.console.visits import (
    Refused,
    Visit,
    api_client,
    checked_form,
    console_of,
    read_form,
    same_origin,
    token_matches,
    visit,
)

__all__ = ["HOME", "home", "router"]

router = APIRouter()
HOME = f"{CONSOLE_PREFIX}/instances"


def _login_page(
    request: Request, problem: Problem | None = None, values: dict[str, str] | None = None, ended: bool = False
) -> Response:
    console = console_of(request)
    token, new = console.cookies.login_token(request)
    page = console.templates.TemplateResponse(
        request,
        "login.html",
        {"prefix": CONSOLE_PREFIX, "problem": problem, "values": values or {}, "ended": ended, "csrf": token},
        status_code=problem.status if problem else 200,
    )
    if new:
        console.cookies.set_login_token(page, request, token)
    return page


async def home() -> Response:
    """`/console` itself: the instances."""
    return RedirectResponse(HOME, status_code=303)


@router.get("/login")
async def login_form(request: Request, ended: bool = False) -> Response:
    if console_of(request).cookies.read(request) is not None:
        return RedirectResponse(HOME, status_code=303)
    return _login_page(request, ended=ended)


@router.post("/login")
async def login(request: Request) -> Response:
    if not same_origin(request):
        raise Refused
    form = await read_form(request)
    if not token_matches(request.cookies.get(LOGIN_COOKIE, ""), form, request):
        raise Refused
    values = {"username": form.get("username")}
    async with api_client(request, None, None) as api:
        try:
            await api.login(form.get("username"), form.get("password"))
        except ApiError as error:
            return _login_page(request, Problem.of(error), values)
        assert api.tokens is not None
        session = ConsoleSession.started(api.tokens)
    answer = RedirectResponse(HOME, status_code=303)
    console_of(request).cookies.write(answer, request, session)
    answer.delete_cookie(LOGIN_COOKIE, path=CONSOLE_PREFIX)
    return answer


@router.post("/logout")
async def logout(request: Request, current: Annotated[Visit, Depends(visit)]) -> Response:
    await checked_form(request, current.session)
    async with api_client(request, current.session.tokens, current.session.project) as api:
        try:
            await api.logout()
        except Unauthorized:
            pass  # already ended elsewhere
    answer = RedirectResponse(f"{CONSOLE_PREFIX}/login?ended=true", status_code=303)
    console_of(request).cookies.clear(answer, request)
    return answer


@router.post("/project")
async def switch_project(request: Request, current: Annotated[Visit, Depends(visit)]) -> Response:
    form = await checked_form(request, current.session)
    project = form.get("project").strip()
    try:
        me = await current.api.with_project(project).me()
    except NotFound:
        return await current.page(
            "error.html", 404, title="No such project", section="", problem=Problem("No such project.", 404)
        )
    current.session = ConsoleSession(
        current.session.access_token,
        current.session.refresh_token,
        current.session.expires_at,
        current.session.csrf,
        me.project_id,
    )
    current.changed = True  # the cookie is rewritten with the project
    target = form.get("next")
    return current.redirect(target if target.startswith(CONSOLE_PREFIX + "/") else HOME)
