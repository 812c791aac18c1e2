"""The gateway's record of API calls: what a call is recorded with (the status, the client as the gateway determines
it, the route found when flushed, sensitive query values redacted, nothing of the body or the Authorization header),
and the log that batches calls to the outbox, keeps what it could not write and bounds what it holds."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from kernel.events import PLATFORM_SCOPE, Envelope
from kernel.identity import Identity, Role
from services.gateway.api_calls import ApiCall, ApiCallLog
from services.gateway.middleware.api_calls import RecordApiCalls, redact_query, route_resolver


class Outbox:
    """Written batches; fails while `failing`."""

    def __init__(self) -> None:
        self.batches: list[list[Envelope]] = []
        self.failing = False

    async def write(self, events: Sequence[Envelope]) -> None:
        if self.failing:
            raise ConnectionError("database unavailable")
        self.batches.append(list(events))


def a_call(n: int) -> ApiCall:
    return ApiCall(
        occurred_at=1_700_000_000.0 + n,
        project_id="p1",
        correlation_id=f"c-{n}",
        principal="user:u",
        method="GET",
        path=f"/v1/instances/i-{n}",
        query="",
        client_address="10.0.0.1",
        status=200,
        duration_ms=1.0,
        user_agent=None,
    )


def test_sensitive_query_values_are_redacted() -> None:
    query = redact_query(b"limit=5&access_token=abc&password=p&api_key=k&cursor=xyz&signature=s")
    assert query == (
        "limit=5&access_token=%5Bredacted%5D&password=%5Bredacted%5D&api_key=%5Bredacted%5D&cursor=xyz"
        "&signature=%5Bredacted%5D"
    )
    assert redact_query(b"") == ""


async def test_calls_are_written_in_batches_and_kept_when_the_write_fails() -> None:
    outbox = Outbox()
    log = ApiCallLog(outbox.write, max_batch=2)
    for n in range(3):
        log.record(a_call(n))
    outbox.failing = True
    assert await log.flush() == 0 and len(log) == 3
    outbox.failing = False
    assert await log.flush() == 3 and len(log) == 0
    assert [len(batch) for batch in outbox.batches] == [2, 1]
    written = [event.correlation_id for batch in outbox.batches for event in batch]
    assert written == ["c-0", "c-1", "c-2"]  # in order, after the retry too
    event = outbox.batches[0][0]
    assert (event.type, event.project_id, event.payload["path"]) == ("api.called", "p1", "/v1/instances/i-0")


async def test_the_log_holds_at_most_its_bound_dropping_the_oldest() -> None:
    outbox = Outbox()
    log = ApiCallLog(outbox.write, max_pending=2)
    for n in range(5):
        log.record(a_call(n))
    assert log.dropped == 3
    await log.flush()
    assert [event.correlation_id for event in outbox.batches[0]] == ["c-3", "c-4"]


def gateway(log: ApiCallLog, trusted: str = "") -> Starlette:
    async def instance(request: Request) -> PlainTextResponse:
        request.state.identity = Identity("user:u1", "p1", Role.VIEWER)
        await request.body()
        return PlainTextResponse("missing", status_code=404)

    app = Starlette(routes=[Route("/v1/instances/{instance_id}", instance, methods=["GET", "POST"])])
    log.resolve = route_resolver(lambda: app.router.routes)
    app.add_middleware(RecordApiCalls, calls=log, trusted_proxies=trusted)
    return app


async def recorded(app: Starlette, log: ApiCallLog, outbox: Outbox, **request: object) -> Envelope:
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        await client.request(**request)  # type: ignore[arg-type]
    await log.flush()
    return outbox.batches[-1][-1]


async def test_a_call_is_recorded_with_who_what_where_and_status() -> None:
    outbox = Outbox()
    log = ApiCallLog(outbox.write)
    event = await recorded(
        gateway(log),
        log,
        outbox,
        method="POST",
        url="/v1/instances/i-9?token=t0p&verbose=1",
        content=b'{"password": "hunter2"}',
        headers={"Authorization": "Bearer sekret", "X-Forwarded-For": "203.0.113.1", "User-Agent": "clanavi/1"},
    )
    call = event.payload
    # Refused (404): the id it names is not indexed as the project's resource.
    assert event.project_id == "p1" and event.subject is None
    assert (call["principal"], call["method"], call["status"]) == ("user:u1", "POST", 404)
    assert (call["route"], call["resource_id"], call["path"]) == (
        "/v1/instances/{instance_id}",
        "i-9",
        "/v1/instances/i-9",
    )
    # Not a trusted proxy: its X-Forwarded-For is not believed.
    assert call["client_address"] == "192.0.2.10" and call["user_agent"] == "clanavi/1"
    assert call["query"] == "token=%5Bredacted%5D&verbose=1"
    text = event.model_dump_json()
    assert "sekret" not in text and "hunter2" not in text and "t0p" not in text


def test_a_call_that_succeeded_is_about_its_resource() -> None:
    done = dataclasses.replace(a_call(1), status=200).event(
        lambda method, path: ("/v1/instances/{instance_id}", {"instance_id": "i-1"})
    )
    refused = dataclasses.replace(a_call(1), status=403).event(
        lambda method, path: ("/v1/instances/{instance_id}", {"instance_id": "i-1"})
    )
    assert (done.subject, refused.subject, refused.payload["resource_id"]) == ("i-1", None, "i-1")


async def test_a_trusted_proxy_names_the_client() -> None:
    outbox = Outbox()
    log = ApiCallLog(outbox.write)
    event = await recorded(
        gateway(log, trusted="192.0.2.0/24"),
        log,
        outbox,
        method="GET",
        url="/v1/instances/i-1",
        headers={"X-Forwarded-For": "203.0.113.7"},
    )
    assert event.payload["client_address"] == "203.0.113.7"


async def test_a_call_nothing_matched_is_recorded_as_anonymous_on_the_platform() -> None:
    outbox = Outbox()
    log = ApiCallLog(outbox.write)
    event = await recorded(gateway(log), log, outbox, method="GET", url="/v1/nowhere")
    assert event.project_id == PLATFORM_SCOPE
    assert (event.payload["principal"], event.payload["route"], event.payload["status"]) == ("anonymous", None, 404)
