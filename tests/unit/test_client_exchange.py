"""The client's exchange with the API, over a fake network, for both clients: what it retries and after how long,
the idempotency key every try of a POST carries, the credentials and project it sends, and the typed error each
refusal becomes."""

from __future__ import annotations

import email.utils
import time
import uuid

import httpx
import pytest

from clanavi.client import (
    ApiError,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidAnswer,
    InvalidState,
    NotFound,
    QuotaExceeded,
    RateLimited,
    RetryPolicy,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    Unsupported,
    ValidationFailed,
)
from clanavi.client.models import CloudUpdate, InstanceCreate
from tests.client_kit import MakeClient, Waits, client_of, close, done, instance
from tests.network import Network, ok, refused

LAUNCH = InstanceCreate(name="web-1", image_id="img-debian-12", flavor_id="sim.small")


def key_of(request: httpx.Request) -> str:
    return request.headers["idempotency-key"]


# --- retries and the idempotency key ---------------------------------------------------------------------------


async def test_a_throttled_post_is_sent_again_after_retry_after_with_the_same_key(
    make: MakeClient, waits: Waits
) -> None:
    network = Network(
        refused(429, "rate_limited", "Slow down.", {"Retry-After": "2"}, retry_after=2),
        ok(instance(state="requested"), 202),
    )
    launched = await done(make(network).instances.launch(LAUNCH))

    assert launched.state == "requested"
    assert waits.seconds == [2.0]
    first, second = network.requests
    assert uuid.UUID(key_of(first)).version == 4
    assert key_of(second) == key_of(first)
    assert first.content == second.content == LAUNCH.model_dump_json(exclude_unset=True).encode()


async def test_each_post_gets_a_key_of_its_own_and_the_callers_key_is_sent_as_given(make: MakeClient) -> None:
    network = Network(
        *(ok(instance(state="requested"), 202) for _ in range(2)),
        refused(503, "service_unavailable", headers={"Retry-After": "1"}),
        ok(instance(), 202),
    )
    client = make(network)
    await done(client.instances.launch(LAUNCH))
    await done(client.instances.launch(LAUNCH))
    await done(client.instances.stop("i-1", idempotency_key="my-own-key"))

    keys = [key_of(r) for r in network.requests]
    assert keys[0] != keys[1]
    assert keys[2:] == ["my-own-key", "my-own-key"]


async def test_retry_after_may_be_an_http_date(make: MakeClient, waits: Waits) -> None:
    later = email.utils.formatdate(time.time() + 3, usegmt=True)
    network = Network(refused(503, "throttled", headers={"Retry-After": later}), ok(instance()))
    await done(make(network).instances.get("i-1"))
    (waited,) = waits.seconds
    # The date has whole seconds: three from now, less what the second had run.
    assert 1.5 < waited <= 3.0


async def test_a_wait_past_the_budget_is_not_made_and_the_error_says_how_long(make: MakeClient, waits: Waits) -> None:
    network = Network(refused(429, "rate_limited", "Too many requests.", {"Retry-After": "120"}))
    with pytest.raises(RateLimited) as caught:
        await done(make(network, retry=RetryPolicy(budget=60)).instances.get("i-1"))
    assert caught.value.retry_after == 120.0 and caught.value.code == "rate_limited"
    assert waits.seconds == [] and len(network.requests) == 1


async def test_tries_are_bounded_and_back_off_with_jitter_without_retry_after(make: MakeClient, waits: Waits) -> None:
    network = Network(*(refused(503, "service_unavailable") for _ in range(4)))
    policy = RetryPolicy(attempts=4, budget=100, backoff=1, max_backoff=3)
    with pytest.raises(ServiceUnavailable):
        await done(make(network, retry=policy).volumes.get("v-1"))
    assert len(network.requests) == 4
    # Half of each ceiling fixed, half random: ceilings 1, 2, then 3 (the longest).
    bounds = [(0.5, 1.0), (1.0, 2.0), (1.5, 3.0)]
    assert len(waits.seconds) == 3
    assert all(low <= waited <= high for waited, (low, high) in zip(waits.seconds, bounds, strict=True))


async def test_tries_stop_when_the_budget_is_spent(make: MakeClient, waits: Waits) -> None:
    network = Network(*(refused(429, "rate_limited", headers={"Retry-After": "4"}) for _ in range(3)))
    with pytest.raises(RateLimited):
        await done(make(network, retry=RetryPolicy(attempts=10, budget=9)).instances.get("i-1"))
    # Tries at 0 s and 4 s and 8 s; a fourth would start at 12 s, past the budget.
    assert waits.seconds == [4.0, 4.0] and len(network.requests) == 3


async def test_a_503_of_a_patch_is_sent_again_only_when_nothing_was_done(make: MakeClient, waits: Waits) -> None:
    change = CloudUpdate(name="renamed")
    unreachable = Network(refused(503, "service_unavailable", headers={"Retry-After": "1"}))
    with pytest.raises(ServiceUnavailable):
        await done(make(unreachable).clouds.update("c-1", change))
    assert len(unreachable.requests) == 1 and "idempotency-key" not in unreachable.requests[0].headers

    throttled = Network(refused(503, "throttled", headers={"Retry-After": "1"}), ok(_cloud()))
    await done(make(throttled).clouds.update("c-1", change))
    assert len(throttled.requests) == 2


async def test_a_request_still_running_under_the_same_key_is_waited_for(make: MakeClient, waits: Waits) -> None:
    network = Network(
        refused(409, "idempotency_key_in_progress", headers={"Retry-After": "1"}), ok(instance(state="stopping"), 202)
    )
    stopping = await done(make(network).instances.stop("i-1", idempotency_key="k-1"))
    assert stopping.state == "stopping" and waits.seconds == [1.0]


async def test_without_an_answer_only_what_is_safe_to_repeat_is_sent_again(make: MakeClient) -> None:
    read = Network(httpx.ReadTimeout("slow"), ok(instance()))
    assert (await done(make(read).instances.get("i-1"))).id == "i-1"
    assert len(read.requests) == 2

    # The PATCH may have been carried out: it is not sent again, and the error is told in fixed words.
    patch = Network(httpx.ReadError("connection reset by peer, with text of the far side"))
    with pytest.raises(ConnectionFailed) as caught:
        await done(make(patch).clouds.update("c-1", CloudUpdate(name="x")))
    assert str(caught.value) == "PATCH /v1/clouds/c-1: the connection failed"
    assert len(patch.requests) == 1

    # Nothing was sent when no connection was made: any request may be sent again.
    unconnected = Network(httpx.ConnectError("refused"), ok(_cloud()))
    await done(make(unconnected).clouds.update("c-1", CloudUpdate(name="x")))
    assert len(unconnected.requests) == 2


async def test_a_post_is_sent_again_without_an_answer_since_its_key_makes_it_safe(make: MakeClient) -> None:
    network = Network(httpx.RemoteProtocolError("closed"), ok(instance(state="requested"), 202))
    await done(make(network).instances.launch(LAUNCH))
    assert len(network.requests) == 2 and key_of(network.requests[0]) == key_of(network.requests[1])


async def test_no_answer_at_all_fails_in_fixed_words(make: MakeClient) -> None:
    network = Network(*(httpx.ConnectError("[Errno 111] whatever the OS says") for _ in range(2)))
    with pytest.raises(ConnectionFailed) as caught:
        await done(make(network, retry=RetryPolicy(attempts=2)).instances.get("i-1"))
    assert str(caught.value) == "GET /v1/instances/i-1: cannot connect"


# --- what is sent ----------------------------------------------------------------------------------------------


async def test_the_credentials_project_and_correlation_id_go_with_every_call(make: MakeClient) -> None:
    network = Network(ok(instance()), ok(instance()), ok(instance()))
    client = make(network, project="web", correlation_id="run-7")
    await done(client.instances.get("i-1"))
    await done(client.with_project("ops").instances.get("i-1"))
    await done(client.with_correlation_id(None).instances.get("i/../1"))

    headers = [r.headers for r in network.requests]
    assert [h["authorization"] for h in headers] == ["Bearer key-1"] * 3
    assert [h.get("x-clanavi-project") for h in headers] == ["web", "ops", "web"]
    assert [h.get("x-correlation-id") for h in headers] == ["run-7", "run-7", None]
    # An id is one path segment, whatever it holds.
    assert network.requests[2].url.raw_path == b"/v1/instances/i%2F..%2F1"
    assert client.project == "web" and client.with_project("ops").project == "ops"


async def test_a_body_given_as_a_mapping_is_checked_by_the_model_before_anything_is_sent(make: MakeClient) -> None:
    from pydantic import ValidationError

    network = Network()
    with pytest.raises(ValidationError):
        await done(make(network).instances.launch({"name": "web 1", "image_id": "i", "flavor_id": "f"}))
    assert network.requests == []


def test_a_client_needs_a_url_and_at_most_one_credential() -> None:
    with pytest.raises(ConfigurationError):
        client_of("sync", Network(), Waits(), token="a", api_key="b")
    for url in ("ftp://example.com", "http://", "not a url"):
        with pytest.raises(ConfigurationError):
            from clanavi.client import Client

            Client(url)


async def test_the_environment_names_the_url_token_and_project(mode: str) -> None:
    from clanavi.client import AsyncClient, Client

    kind = AsyncClient if mode == "async" else Client
    environ = {"CLANAVI_URL": "http://gw:8080", "CLANAVI_TOKEN": "env-key", "CLANAVI_PROJECT": "web"}
    client = kind.from_env(environ)
    assert client.base_url == "http://gw:8080" and client.project == "web"
    assert client.tokens is not None and client.tokens.access_token == "env-key"
    assert "env-key" not in repr(client.tokens)
    other = kind.from_env(environ, project="ops")
    with_key = kind.from_env(environ, api_key="own-key")
    assert other.project == "ops" and other.tokens == client.tokens
    assert with_key.tokens is not None and with_key.tokens.access_token == "own-key"
    with pytest.raises(ConfigurationError, match="CLANAVI_URL"):
        kind.from_env({"CLANAVI_TOKEN": "env-key"})
    for made in (client, other, with_key):
        await close(made)


# --- refusals as typed errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "bad_request", ApiError),
        (401, "unauthenticated", Unauthorized),
        (403, "forbidden", Forbidden),
        (404, "not_found", NotFound),
        (409, "conflict", Conflict),
        (409, "invalid_state", InvalidState),
        (409, "quota_exceeded", QuotaExceeded),
        (413, "payload_too_large", ApiError),
        (422, "validation_failed", ValidationFailed),
        (501, "unsupported_operation", Unsupported),
        (502, "cloud_error", ServerError),
        (418, "some_new_code", ApiError),
    ],
)
async def test_a_problem_is_raised_as_the_error_of_its_status_and_code(
    make: MakeClient, status: int, code: str, kind: type[ApiError]
) -> None:
    network = Network(refused(status, code, "What went wrong, for a person."))
    with pytest.raises(kind) as caught:
        await done(make(network).instances.get("i-1"))
    error = caught.value
    assert (error.status, error.code, error.detail) == (status, code, "What went wrong, for a person.")
    assert error.correlation_id == "cid-1" and error.instance == "/v1/somewhere"
    assert str(error) == f"{status} {code}: What went wrong, for a person."
    assert isinstance(error, InvalidState) == (code == "invalid_state")


async def test_a_validation_problem_carries_each_bad_field_and_the_other_members(make: MakeClient) -> None:
    errors = [
        {"location": "body.flavor_id", "message": "no such flavor", "type": "not_found"},
        {"location": "query.limit"},
    ]
    network = Network(
        refused(422, "validation_failed", "The image or flavor does not exist.", errors=errors, in_use={"instances": 2})
    )
    with pytest.raises(ValidationFailed) as caught:
        await done(make(network).instances.launch(LAUNCH))
    error = caught.value
    assert [(e.location, e.message, e.type) for e in error.errors] == [
        ("body.flavor_id", "no such flavor", "not_found"),
        ("query.limit", "", ""),
    ]
    assert error.extensions == {"in_use": {"instances": 2}}
    assert (
        str(error)
        == "422 validation_failed: The image or flavor does not exist. (body.flavor_id: no such flavor; query.limit)"
    )


async def test_an_error_answer_that_is_not_a_problem_is_told_in_fixed_words(make: MakeClient) -> None:
    page = "<html><body>502 from the proxy: upstream 10.0.0.7 said SECRET</body></html>"
    network = Network(httpx.Response(502, text=page, headers={"Content-Type": "text/html", "X-Correlation-ID": "c9"}))
    with pytest.raises(ServerError) as caught:
        await done(make(network, retry=RetryPolicy(attempts=1)).instances.get("i-1"))
    error = caught.value
    assert str(error) == "502 http_error: The server answered 502 Bad Gateway without a problem document."
    assert "SECRET" not in repr(error.__dict__) and error.correlation_id == "c9"


async def test_a_success_answer_of_another_shape_is_an_invalid_answer(make: MakeClient) -> None:
    network = Network(ok({"id": "i-1", "state": "flying"}))
    with pytest.raises(InvalidAnswer, match=r"GET /v1/instances/i-1: the answer \(200\)"):
        await done(make(network).instances.get("i-1"))


def _cloud() -> dict[str, object]:
    return {
        "id": "c-1",
        "project_id": "default",
        "name": "renamed",
        "driver": "simcloud",
        "enabled": True,
        "features": [],
        "config": {},
        "credential_fields": [],
        "credentials_readable": True,
        "source": "api",
        "created_at": "2026-12-01T12:00:00Z",
        "updated_at": "2026-12-01T12:00:00Z",
    }
