"""Gateway authentication: the bearer token check and the middleware that applies it to `/v1/`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.middleware import Middleware

from kernel.errors import Unauthenticated
from kernel.http import PROBLEM_JSON, create_base_app
from services.gateway.auth import DEFAULT_PROJECT, BearerAuth, check_bearer

TOKEN = "s3cret-token"


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer  {TOKEN} "])
def test_the_right_token_is_accepted(header: str) -> None:
    check_bearer(header, TOKEN)  # raises when refused


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "Send `Authorization: Bearer <token>`."),
        ("", "Send `Authorization: Bearer <token>`."),
        (f"Basic {TOKEN}", "The Authorization header must use the Bearer scheme."),
        (TOKEN, "The Authorization header must use the Bearer scheme."),
        ("Bearer", "The Authorization header must use the Bearer scheme."),
        ("Bearer    ", "The Authorization header must use the Bearer scheme."),
        ("Bearer wrong", "The token is not valid."),
        (f"Bearer {TOKEN}x", "The token is not valid."),
        (f"Bearer {TOKEN[:-1]}", "The token is not valid."),
        (f"Bearer {TOKEN.upper()}", "The token is not valid."),
        (f"Bearer {TOKEN} {TOKEN}", "The token is not valid."),
    ],
)
def test_anything_else_is_unauthenticated(header: str | None, detail: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        check_bearer(header, TOKEN)

    assert caught.value.detail == detail
    assert caught.value.http_status == 401


def make_app() -> FastAPI:
    async def readiness() -> dict[str, bool]:
        return {}

    app = create_base_app("gw", readiness, middleware=[Middleware(BearerAuth, token=TOKEN)])

    @app.get("/v1/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        return {"project": request.state.identity.project_id}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(make_app()), base_url="http://testserver") as client:
        yield client


async def test_api_call_with_the_token_reaches_the_route_with_the_project(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert response.json() == {"project": DEFAULT_PROJECT}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}])
async def test_api_call_without_the_token_is_a_401_problem(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/v1/whoami", headers={**headers, "X-Correlation-ID": "cid-401"})

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"] == 'Bearer realm="clanavi"'
    assert response.headers["X-Correlation-ID"] == "cid-401"
    body = response.json()
    assert body["code"] == "unauthenticated"
    assert body["instance"] == "/v1/whoami"
    assert body["correlation_id"] == "cid-401"


async def test_unknown_api_path_is_refused_before_routing(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/does-not-exist")).status_code == 401


async def test_probes_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
