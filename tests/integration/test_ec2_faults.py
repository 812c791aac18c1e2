"""Throttling and failures: the client-side rate limit spaces requests, throttled requests are retried with backoff
and then refused with `Throttled`, and the SDK's failures arrive as the contract's errors.

moto never throttles nor fails on purpose, so EC2's error answers are injected through botocore's own
`before-call` hook on clients the test builds (the adapter's code runs unchanged); everything else reaches moto.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any, cast

import aioboto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from adapters.base import CloudAuthError, CloudUnavailable, InvalidCloudRequest, Throttled, VolumeSpec
from adapters.ec2 import Ec2Adapter, Ec2Config
from adapters.ec2._throttle import Throttle
from devstack.ports import free_port
from tests.clock import FakeClock
from tests.contract.clouds.ec2 import REGION, ZONE, fresh_adapter, launch_spec
from tests.tokens import new_token

pytestmark = pytest.mark.integration


class Waits:
    """The adapter's sleep: records each wait and moves the clock on by it (nothing really sleeps)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        self.clock.now += seconds


class Faults:
    """A botocore `before-call` handler: answers the next calls of an action with an EC2 error (or an answer of the
    test's), counts all calls and keeps what each sent."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self._planned: dict[str, list[tuple[int, dict[str, Any]]]] = {}

    def fail(self, action: str, code: str, status: int = 400, times: int = 1) -> None:
        answer = {"Error": {"Code": code, "Message": f"injected {code}"}}
        self._planned.setdefault(action, []).extend([(status, answer)] * times)

    def answer(self, action: str, parsed: dict[str, Any]) -> None:
        """The next call of `action` is answered with `parsed`, as EC2 would have, without reaching moto."""
        self._planned.setdefault(action, []).append((200, parsed))

    def count(self, action: str) -> int:
        return self.calls.count(action)

    def __call__(self, model: Any, **kwargs: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        self.calls.append(model.name)
        self.sent.setdefault(model.name, []).append(dict(kwargs.get("params", {}).get("body") or {}))
        planned = self._planned.get(model.name)
        if not planned:
            return None  # the request goes to moto
        status, answer = planned.pop(0)
        meta = {"ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse("http://injected", status, HTTPHeaders(), None), {**answer, **meta}


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as resources:
        yield resources


@pytest.fixture
async def reference(request: pytest.FixtureRequest) -> AsyncIterator[Ec2Adapter]:
    """A plain adapter on a reset moto server; the test's own adapters share its account."""
    adapter = await fresh_adapter(request.config)
    yield adapter
    await adapter.close()


async def faulty(stack: AsyncExitStack, reference: Ec2Adapter, **overrides: Any) -> tuple[Ec2Adapter, Faults, Waits]:
    """An adapter on clients of the test's own, with fault injection, a hand-driven clock and recorded waits."""
    config = Ec2Config.model_validate({**reference.config.model_dump(), **overrides})
    session = aioboto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    ec2 = await stack.enter_async_context(session.client("ec2", endpoint_url=config.endpoint_url))
    cloudwatch = await stack.enter_async_context(session.client("cloudwatch", endpoint_url=config.endpoint_url))
    faults = Faults()
    # A before-call handler may answer in the request's place (the stubs type handlers as returning None).
    ec2.meta.events.register("before-call.ec2.*", cast("Callable[..., None]", faults))
    clock = FakeClock()
    waits = Waits(clock)
    throttle = Throttle(config.throttle, clock=clock, sleep=waits)
    adapter = Ec2Adapter("faulty", config, ec2, cloudwatch, AsyncExitStack(), throttle=throttle, sleep=waits)
    return adapter, faults, waits


QUICK = {"max_attempts": 4, "backoff_base_seconds": 0.5, "backoff_cap_seconds": 2.0}


async def test_a_throttled_request_is_retried_with_backoff(stack: AsyncExitStack, reference: Ec2Adapter) -> None:
    adapter, faults, waits = await faulty(stack, reference, throttle=QUICK)
    faults.fail("DescribeRegions", "RequestLimitExceeded", 503, times=3)
    regions = await adapter.list_regions()
    assert REGION in {r.id for r in regions}
    assert faults.count("DescribeRegions") == 4
    # Three backoffs, each within its doubling ceiling (full jitter: 0.5, 1, 2 s at most).
    assert len(waits.seconds) == 3
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(waits.seconds, (0.5, 1.0, 2.0), strict=True))


async def test_throttling_that_does_not_end_is_refused_after_the_last_attempt(
    stack: AsyncExitStack, reference: Ec2Adapter
) -> None:
    adapter, faults, _ = await faulty(stack, reference, throttle=QUICK)
    faults.fail("RunInstances", "RequestLimitExceeded", 503, times=10)
    with pytest.raises(Throttled):
        await adapter.launch_instance(launch_spec(reference))
    assert faults.count("RunInstances") == 4
    faults.calls.clear()
    faults.fail("DescribeInstances", "Throttling", 400, times=10)
    with pytest.raises(Throttled):
        await adapter.list_instances()
    assert faults.count("DescribeInstances") == 4


async def test_transient_failures_are_retried_only_where_repeating_is_safe(
    stack: AsyncExitStack, reference: Ec2Adapter
) -> None:
    adapter, faults, _ = await faulty(stack, reference, throttle=QUICK)
    faults.fail("DescribeKeyPairs", "InternalError", 500)
    assert list(await adapter.list_key_pairs()) == []  # a describe is repeated
    assert faults.count("DescribeKeyPairs") == 2
    faults.fail("CreateKeyPair", "InternalError", 500)
    with pytest.raises(CloudUnavailable):
        await adapter.create_key_pair("once")  # a mutation is not: it may have happened
    assert faults.count("CreateKeyPair") == 1
    faults.fail("RunInstances", "InternalError", 500)
    launched = await adapter.launch_instance(launch_spec(reference))  # RunInstances carries a ClientToken
    assert faults.count("RunInstances") == 2
    assert [i.id for i in (await reference.list_instances()).items] == [launched.id]


async def test_create_volume_sends_its_client_token_so_a_transient_failure_is_retried(
    stack: AsyncExitStack, reference: Ec2Adapter
) -> None:
    adapter, faults, _ = await faulty(stack, reference, throttle=QUICK, client_token_lookup=False)
    faults.fail("CreateVolume", "InternalError", 500)
    token = new_token()
    made = await adapter.create_volume(VolumeSpec("data", 1, zone=ZONE, client_token=token))
    assert faults.count("CreateVolume") == 2 and "DescribeVolumes" not in faults.calls
    assert [sent["ClientToken"] for sent in faults.sent["CreateVolume"]] == [token, token]
    assert [v.id for v in await reference.list_volumes()] == [made.id]
    faults.fail("CreateSnapshot", "InternalError", 500)
    with pytest.raises(CloudUnavailable):  # no ClientToken there: it may have happened, so it is not repeated
        await adapter.create_snapshot(made.id, "nightly", client_token=new_token())
    assert faults.count("CreateSnapshot") == 1


async def test_an_image_refused_as_a_duplicate_is_the_one_its_client_token_made(
    stack: AsyncExitStack, reference: Ec2Adapter
) -> None:
    instance = await reference.launch_instance(launch_spec(reference))
    token = new_token()
    first = await reference.create_image(instance.id, "golden", client_token=token)
    adapter, faults, _ = await faulty(stack, reference, throttle=QUICK)
    # Two creates raced: this one looked before the other's image was there, and EC2 then refuses its name.
    faults.answer("DescribeImages", {"Images": []})
    faults.fail("CreateImage", "InvalidAMIName.Duplicate")
    raced = await adapter.create_image(instance.id, "golden", client_token=token)
    assert raced.id == first.id
    assert faults.count("CreateImage") == 1 and faults.count("DescribeImages") == 2
    faults.answer("DescribeImages", {"Images": []})
    faults.fail("CreateImage", "InvalidAMIName.Duplicate")
    with pytest.raises(InvalidCloudRequest):  # another token's image has the name
        await adapter.create_image(instance.id, "golden", client_token=new_token())


async def test_refused_credentials_are_an_auth_error_and_not_retried(
    stack: AsyncExitStack, reference: Ec2Adapter
) -> None:
    adapter, faults, _ = await faulty(stack, reference, throttle=QUICK)
    faults.fail("DescribeAvailabilityZones", "AuthFailure", 401)
    with pytest.raises(CloudAuthError):
        await adapter.list_zones()
    assert faults.count("DescribeAvailabilityZones") == 1
    faults.fail("StopInstances", "UnauthorizedOperation", 403)
    instance = await adapter.launch_instance(launch_spec(reference))
    with pytest.raises(CloudAuthError):
        await adapter.stop_instance(instance.id)


async def test_an_unreachable_endpoint_is_unavailable() -> None:
    config = adapter_config_for_nowhere()
    adapter = await Ec2Adapter.open("nowhere", Ec2Config.model_validate(config))
    try:
        with pytest.raises(CloudUnavailable):
            await adapter.list_regions()
        with pytest.raises(CloudUnavailable):
            await adapter.allocate_address(client_token=new_token())
    finally:
        await adapter.close()


def adapter_config_for_nowhere() -> dict[str, Any]:
    port = free_port()  # nothing listens there
    return {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "connect_timeout_seconds": 2,
        "throttle": {"max_attempts": 2, "backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.01},
    }


async def test_the_rate_limit_spaces_requests_per_action(stack: AsyncExitStack, reference: Ec2Adapter) -> None:
    adapter, faults, waits = await faulty(
        stack, reference, throttle={"non_mutating": {"capacity": 2, "refill_per_second": 10}}
    )
    for _ in range(5):
        await adapter.list_regions()
    # A bucket of 2 refilling 10 a second: the third, fourth and fifth requests each wait 0.1 s.
    assert waits.seconds == pytest.approx([0.1, 0.1, 0.1])
    await adapter.list_zones()  # another action has a bucket of its own
    assert len(waits.seconds) == 3
    assert faults.count("DescribeRegions") == 5


async def test_launches_spend_resource_tokens_and_long_waits_are_refused(
    stack: AsyncExitStack, reference: Ec2Adapter
) -> None:
    adapter, faults, waits = await faulty(
        stack,
        reference,
        throttle={
            "resources": {"RunInstances": {"capacity": 2, "refill_per_second": 0.5}},
            "max_wait_seconds": 3,
        },
    )
    await adapter.launch_instance(launch_spec(reference))
    await adapter.launch_instance(launch_spec(reference))
    await adapter.launch_instance(launch_spec(reference))
    assert waits.seconds == pytest.approx([2.0])  # one instance token back every 2 s
    waits.clock.now -= 2.0  # as if the third launch had not waited: the next would wait 4 s, above the limit
    with pytest.raises(Throttled):
        await adapter.launch_instance(launch_spec(reference))
    assert faults.count("RunInstances") == 3, "a refused launch is never sent"
