"""The gateway's request body limit: a body over the limit is a 413 problem, whether or not its size is announced."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.middleware import Middleware

from kernel.http import PROBLEM_JSON, create_base_app
from services.gateway.middleware.body_limit import BodyLimit

LIMIT = 64


class Note(BaseModel):
    text: str


def make_app() -> FastAPI:
    async def readiness() -> dict[str, bool]:
        return {}

    app = create_base_app("gw", readiness, middleware=[Middleware(BodyLimit, max_bytes=LIMIT)])

    @app.post("/notes")
    async def create_note(note: Note) -> dict[str, int]:
        return {"length": len(note.text)}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(make_app()), base_url="http://testserver") as client:
        yield client


def body_of(size: int) -> bytes:
    """A JSON document of exactly `size` bytes."""
    overhead = len(b'{"text":""}')
    return b'{"text":"' + b"x" * (size - overhead) + b'"}'


async def chunked(data: bytes, piece: int = 10) -> AsyncIterator[bytes]:
    """The body as a stream with no Content-Length (Transfer-Encoding: chunked), sent piece by piece."""
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


def assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == 413
    assert body["code"] == "payload_too_large"
    assert body["type"] == "urn:clanavi:problem:payload-too-large"
    assert body["detail"] == f"Request bodies are limited to {LIMIT} bytes."
    # Refused inside the correlation middleware: the refusal can still be traced.
    assert response.headers["X-Correlation-ID"]


@pytest.mark.parametrize("path", ["/notes", "/raw"])
async def test_a_body_at_the_limit_passes(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, content=body_of(LIMIT), headers={"content-type": "application/json"})

    assert response.status_code == 200
    assert response.json()["length"] == (LIMIT - 11 if path == "/notes" else LIMIT)


@pytest.mark.parametrize("path", ["/notes", "/raw"])
async def test_a_chunked_body_under_the_limit_passes(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, content=chunked(body_of(LIMIT)), headers={"content-type": "application/json"})

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/notes", "/raw"])
async def test_an_announced_large_body_is_refused_with_413(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, content=body_of(LIMIT + 1), headers={"content-type": "application/json"})

    assert_413(response)


async def test_the_413_problem_carries_the_correlation_id(client: httpx.AsyncClient) -> None:
    # Like every other problem the platform renders (the 401 of the authentication middleware included).
    response = await client.post(
        "/raw", content=body_of(LIMIT + 1), headers={"content-type": "application/json", "X-Correlation-ID": "cid-413"}
    )

    assert_413(response)
    assert response.json().get("correlation_id") == "cid-413"


async def test_a_chunked_large_body_read_raw_is_refused_with_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/raw", content=chunked(body_of(10 * LIMIT)), headers={"content-type": "application/json"}
    )

    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_413(response)


async def test_a_chunked_large_body_parsed_as_json_is_refused_with_413(client: httpx.AsyncClient) -> None:
    # The gateway's routes take pydantic bodies, which FastAPI reads itself.
    response = await client.post(
        "/notes", content=chunked(body_of(10 * LIMIT)), headers={"content-type": "application/json"}
    )

    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_413(response)


async def test_other_requests_are_untouched(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
