"""The gateway's relay to a service over real HTTP on 127.0.0.1: an answer the service streams (an export) is passed on
as it comes, its first part reaching the client while the service has not written the rest; a whole answer is passed
on whole; a service that stops answering is a 503 problem, not a hung request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from aiohttp import web
from fastapi import FastAPI, Request, Response

from devstack import free_port
from kernel.http import install_problem_handlers
from kernel.identity import IdentitySigner
from kernel.roles import Identity, Role
from services.gateway.proxy.upstream import Upstream

pytestmark = pytest.mark.integration

CALLER = Identity("user:streaming", "p1", Role.VIEWER)


@contextlib.asynccontextmanager
async def service(release: asyncio.Event) -> AsyncIterator[str]:
    """A service that streams `/export` in two parts, the second once `release` is set."""

    async def export(request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await answer.prepare(request)
        await answer.write(b'{"part": 1}\n')
        await release.wait()
        await answer.write(b'{"part": 2}\n' * 10_000)
        await answer.write_eof()
        return answer

    async def whole(request: web.Request) -> web.Response:
        return web.json_response({"items": [1, 2, 3]}, headers={"X-Total": "3"})

    async def silent(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response()

    app = web.Application()
    app.router.add_get("/v1/export", export)
    app.router.add_get("/v1/whole", whole)
    app.router.add_get("/v1/silent", silent)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def gateway(upstream: Upstream) -> AsyncIterator[str]:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/v1/{rest:path}")
    async def relay(request: Request) -> Response:
        return await upstream.relay(request, caller=CALLER)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await upstream.close()


async def test_a_streamed_answer_is_passed_on_as_it_comes_and_a_whole_one_whole() -> None:
    release = asyncio.Event()
    async with service(release) as base:
        upstream = Upstream("billing", base, timeout=5.0, signer=IdentitySigner(b"k" * 32))
        async with gateway(upstream) as url, httpx.AsyncClient(base_url=url) as client:
            async with client.stream("GET", "/v1/export") as answer:
                assert answer.status_code == 200
                assert answer.headers["content-type"] == "application/x-ndjson"
                parts = answer.aiter_bytes()
                first = await asyncio.wait_for(anext(parts), timeout=5)
                # The service has not written its second part yet: the gateway did not wait for the whole answer.
                assert first == b'{"part": 1}\n' and not release.is_set()
                release.set()
                rest = b"".join([chunk async for chunk in parts])
            assert rest == b'{"part": 2}\n' * 10_000

            whole = await client.get("/v1/whole")
            assert whole.json() == {"items": [1, 2, 3]} and whole.headers["x-total"] == "3"
            assert whole.headers["content-length"] == str(len(whole.content))


async def test_a_service_that_stops_answering_is_a_503_problem() -> None:
    async with service(asyncio.Event()) as base:
        upstream = Upstream("billing", base, timeout=0.5, signer=IdentitySigner(b"k" * 32))
        async with gateway(upstream) as url, httpx.AsyncClient(base_url=url) as client:
            answer = await client.get("/v1/silent")
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "billing" in answer.json()["detail"]
