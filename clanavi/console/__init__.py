"""The web console, served by the gateway at `/console`: server-rendered pages (Jinja2) made live with htmx, every one
reading and changing data through the gateway's own REST API with the user's token, so that the console can do
exactly what the user could do with curl, and is refused exactly the same.

The pages run no inline script or style (a strict Content-Security-Policy, `headers.py`); the login is a sealed
`HttpOnly` cookie (`session.py`); every state-changing request must come from the console's own page (its Origin and
the login's CSRF token, `visits.py`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from clanavi.client import ApiError, Unauthorized
from clanavi.console.headers import CONSOLE_PREFIX, ConsoleHeaders
from clanavi.console.pages import (
    alerts,
    audit,
    auth,
    clusters,
    costs,
    failover,
    guardrails,
    identity,
    instances,
    prices,
    resources,
    runs,
    scaling,
    scripts,
    settings,
    template_launch,
    templates,
)
from clanavi.console.problems import Problem
from clanavi.console.session import SEALING_PURPOSE, SessionCookies
from clanavi.console.visits import Console, Refused, SignInNeeded, console_of
from services.gateway.settings import GatewaySettings

__all__ = ["CONSOLE_PREFIX", "SEALING_PURPOSE", "ConsoleHeaders", "install"]

STATIC = Path(__file__).parent / "static"


def _error_page(request: Request, title: str, problem: Problem) -> Response:
    return console_of(request).templates.TemplateResponse(
        request, "error.html", {"prefix": CONSOLE_PREFIX, "title": title, "problem": problem},
        status_code=problem.status,
    )  # fmt: skip


async def _sign_in(request: Request, error: Exception) -> Response:
    login = f"{CONSOLE_PREFIX}/login"
    answer: Response = (
        Response(status_code=204, headers={"HX-Redirect": login})
        if request.headers.get("hx-request")
        else RedirectResponse(login, status_code=303)
    )
    console_of(request).cookies.clear(answer, request)
    return answer


async def _refused(request: Request, error: Exception) -> Response:
    problem = Problem("This request did not come from a page of the console, or the page is too old: reload it.", 403)
    return _error_page(request, "Refused", problem)


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    if isinstance(error, Unauthorized):
        return await _sign_in(request, error)
    return _error_page(request, "The API refused", Problem.of(error))


def install(app: FastAPI, gateway: GatewaySettings) -> None:
    """Serve the console on `app` (the gateway; the `clanavi.frontends` entry point): its sessions sealed with the
    gateway's secret key under a purpose of their own, and kept as long as a login's refresh token."""
    keyring = gateway.kernel.keyring(purpose=SEALING_PURPOSE)
    app.state.console = Console.create(SessionCookies(keyring, CONSOLE_PREFIX, gateway.refresh_token_ttl_seconds))
    # Outermost: the console's pages carry their security headers whatever answers them, a rate limit's 429 included.
    app.add_middleware(ConsoleHeaders)
    router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)
    for pages in (
        auth,
        instances,
        scripts,
        runs,
        templates,
        template_launch,
        clusters,
        scaling,
        audit,
        resources,
        settings,
        identity,
        prices,
        guardrails,
        failover,
        costs,
        alerts,
    ):
        router.include_router(pages.router)
    app.include_router(router)
    app.add_api_route(CONSOLE_PREFIX, auth.home, methods=["GET"], include_in_schema=False)
    app.mount(f"{CONSOLE_PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(SignInNeeded, _sign_in)
    app.add_exception_handler(Refused, _refused)
    # Only the console calls the API through clanavi.client: no API route raises these.
    app.add_exception_handler(ApiError, _api_error)
