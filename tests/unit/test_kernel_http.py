"""The HTTP plumbing of every service: problem JSON for every error, correlation ids, probes.

Requests go through httpx's ASGI transport: with Starlette 1.x, importing `fastapi.testclient` warns that plain httpx
is deprecated (it wants `httpx2`), and the suite turns warnings into errors.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from kernel import correlation
from kernel.errors import InvalidState
from kernel.http import PROBLEM_JSON, create_base_app

READY = {"database": True, "broker": True}


class Thing(BaseModel):
    name: str
    size: int


def make_app() -> FastAPI:
    async def readiness() -> dict[str, bool]:
        return dict(READY)

    app = create_base_app("test", readiness)

    @app.post("/things")
    async def create_thing(thing: Thing) -> dict[str, object]:
        return {"name": thing.name, "size": thing.size, "correlation_id": correlation.current.get()}

    @app.get("/conflict")
    async def conflict() -> None:
        raise InvalidState("It is stopped.", state="stopped")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom: secret internals")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:clanavi:problem:{code.replace('_', '-')}"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def test_a_good_request_succeeds(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"name": "a", "size": 2}, headers={"X-Correlation-ID": "req-1"})

    assert response.status_code == 200
    assert response.json() == {"name": "a", "size": 2, "correlation_id": "req-1"}


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", content=b'{"name": "a", ', headers={"content-type": "application/json"})

    body = assert_problem(response, 422, "validation_failed")
    assert body["detail"] == "The request body is not valid JSON."
    assert body["instance"] == "/things"
    errors = body["errors"]
    assert isinstance(errors, list)
    assert [e["type"] for e in errors] == ["json_invalid"]


async def test_invalid_fields_are_listed_in_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"size": "huge"})

    body = assert_problem(response, 422, "validation_failed")
    assert body["detail"] == "The request has invalid or missing fields."
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {e["location"] for e in errors} == {"body.name", "body.size"}
    assert all(e["message"] for e in errors)


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere", headers={"X-Correlation-ID": "cid-404"})

    body = assert_problem(response, 404, "not_found")
    assert body["instance"] == "/nowhere"
    assert body["correlation_id"] == "cid-404"
    assert response.headers["X-Correlation-ID"] == "cid-404"


async def test_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/things")

    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


async def test_clanavi_error_is_rendered_with_its_status_and_extensions(client: httpx.AsyncClient) -> None:
    response = await client.get("/conflict", headers={"X-Correlation-ID": "cid-409"})

    body = assert_problem(response, 409, "invalid_state")
    assert body["detail"] == "It is stopped."
    assert body["state"] == "stopped"
    assert body["instance"] == "/conflict"
    assert body["correlation_id"] == "cid-409"


async def test_unexpected_exception_is_a_500_problem_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")

    body = assert_problem(response, 500, "internal_error")
    assert "kaboom" not in response.text
    assert body["instance"] == "/boom"


async def test_unexpected_exception_still_carries_the_correlation_id(client: httpx.AsyncClient) -> None:
    # The one response an operator most needs to trace back to the logs.
    response = await client.get("/boom", headers={"X-Correlation-ID": "cid-500"})

    assert response.status_code == 500
    assert response.headers.get("X-Correlation-ID") == "cid-500"
    assert response.json().get("correlation_id") == "cid-500"


class CorrelationRecorder(logging.Handler):
    """Keeps each log record with the correlation id in force when it was logged."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), correlation.current.get()))


async def test_unexpected_exception_is_logged_with_the_correlation_id(client: httpx.AsyncClient) -> None:
    recorder = CorrelationRecorder()
    logger = logging.getLogger("kernel.http")
    logger.addHandler(recorder)
    try:
        await client.get("/boom", headers={"X-Correlation-ID": "cid-logged"})
    finally:
        logger.removeHandler(recorder)

    assert recorder.seen == [("unhandled error on GET /boom", "cid-logged")]


async def test_correlation_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Correlation-ID": "abc.DEF:123-_"})

    assert response.headers["X-Correlation-ID"] == "abc.DEF:123-_"


async def test_correlation_id_is_generated_when_missing(client: httpx.AsyncClient) -> None:
    first = (await client.get("/healthz")).headers["X-Correlation-ID"]
    second = (await client.get("/healthz")).headers["X-Correlation-ID"]

    assert uuid.UUID(first) and uuid.UUID(second)
    assert first != second


@pytest.mark.parametrize("bad", ["has spaces", "x" * 129, "semi;colon", "<script>", "ünïcode"])
async def test_invalid_incoming_correlation_id_is_replaced(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.post(
        "/things",
        json={"name": "a", "size": 1},
        headers=[(b"X-Correlation-ID", bad.encode("utf-8"))],
    )

    echoed = response.headers["X-Correlation-ID"]
    assert echoed != bad
    assert uuid.UUID(echoed)
    assert response.json()["correlation_id"] == echoed


async def test_problem_correlation_id_matches_the_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")

    assert response.json()["correlation_id"] == response.headers["X-Correlation-ID"]


async def test_correlation_id_does_not_leak_out_of_the_request(client: httpx.AsyncClient) -> None:
    await client.get("/healthz", headers={"X-Correlation-ID": "leaky"})

    assert correlation.current.get() is None


async def test_probes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": READY}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "clanavi_http_requests_total" in metrics.text


async def test_readiness_fails_when_a_dependency_is_down(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(READY, "broker", False)

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "checks": {"database": True, "broker": False}}


# --- text PostgreSQL cannot store ---------------------------------------------------------------------------------


class Account(BaseModel):
    name: str
    config: dict[str, object]
    tags: list[str] = []


def text_app() -> FastAPI:
    async def readiness() -> dict[str, bool]:
        return dict(READY)

    app = create_base_app("test", readiness)
    app.state.reached = 0

    @app.post("/accounts")
    async def create(account: Account) -> dict[str, str]:
        app.state.reached += 1
        return {"name": account.name}

    @app.patch("/accounts/{account_id}")
    async def change(account_id: str, account: Account) -> dict[str, str]:
        app.state.reached += 1
        return {"id": account_id}

    @app.get("/accounts")
    async def search(name: str = "") -> dict[str, str]:
        app.state.reached += 1
        return {"name": name}

    @app.post("/login")
    async def login(request: Request) -> dict[str, str]:
        app.state.reached += 1
        return {"fields": ",".join((await request.form()).keys())}

    return app


@pytest.fixture
async def text_client() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = text_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        yield app, client


def error_locations(response: httpx.Response) -> list[str]:
    assert_problem(response, 422, "validation_failed")
    errors: list[dict[str, str]] = response.json()["errors"]
    assert {e["type"] for e in errors} == {"unstorable_text"}
    return [e["location"] for e in errors]


@pytest.mark.parametrize(
    ("raw", "locations"),
    [
        ('{"name": "a\\u0000b", "config": {}}', ["body.name"]),
        ('{"name": "x", "config": {"region": "\\ud800"}}', ["body.config.region"]),
        ('{"name": "x", "config": {"nested": [1, {"deep": "\\udfff tail"}]}}', ["body.config.nested.1.deep"]),
        ('{"name": "x", "config": {"ke\\u0000y": "v"}}', ["body.config.ke\\x00y"]),
        ('{"name": "\\u0000", "config": {}, "tags": ["ok", "\\ud83d"]}', ["body.name", "body.tags.1"]),
    ],
)
async def test_a_body_with_text_that_cannot_be_stored_is_refused_naming_each_field(
    text_client: tuple[FastAPI, httpx.AsyncClient], raw: str, locations: list[str]
) -> None:
    app, client = text_client
    for send in (client.post, client.patch):
        path = "/accounts" if send == client.post else "/accounts/a1"
        response = await send(path, content=raw.encode(), headers={"Content-Type": "application/json"})

        assert error_locations(response) == locations
        assert "\x00" not in response.text and "\\u0000" not in response.text
    assert app.state.reached == 0


async def test_a_proper_surrogate_pair_and_an_escaped_backslash_u_pass(
    text_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = text_client
    raw = '{"name": "smile \\ud83d\\ude00", "config": {"path": "C:\\\\users"}}'
    response = await client.post("/accounts", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"name": "smile \U0001f600"}


async def test_a_query_or_a_form_with_a_nul_is_refused_naming_the_parameter(
    text_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = text_client
    query = await client.get("/accounts", params={"name": "a\x00b"})
    form = await client.post("/login", data={"username": "me\x00", "password": "pw"})
    path = await client.get("/accounts/a%00b")

    assert error_locations(query) == ["query.name"]
    assert error_locations(form) == ["body.username"]
    assert error_locations(path) == ["path"]
    assert app.state.reached == 0
    assert (await client.post("/login", data={"username": "me", "password": "pw"})).json() == {
        "fields": "username,password"
    }
