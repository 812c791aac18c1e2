"""The EC2 adapter's client-side rate limit and backoff, on a hand-driven clock: no sleeping, no server."""

from __future__ import annotations

import asyncio

import pytest

from adapters.base import Throttled
from adapters.ec2 import ThrottleConfig
from adapters.ec2._throttle import Throttle, TokenBucket, backoff_delay, is_non_mutating


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """Stands in for asyncio.sleep: records the waits and moves the fake clock on by them."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def test_a_full_bucket_serves_its_capacity_at_once_then_one_per_refill() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=100, rate=20, clock=clock)
    assert [bucket.reserve() for _ in range(100)] == [0.0] * 100
    # The 101st request waits for one token at 20/s; the next for two.
    assert bucket.reserve() == pytest.approx(0.05)
    assert bucket.reserve() == pytest.approx(0.10)


def test_refill_stops_at_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=10, rate=5, clock=clock)
    for _ in range(10):
        bucket.reserve()
    assert bucket.tokens == pytest.approx(0)
    clock.advance(1.0)
    assert bucket.tokens == pytest.approx(5)
    clock.advance(3600)
    assert bucket.tokens == pytest.approx(10)


def test_overdrawn_reservations_queue_in_arrival_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=1, rate=2, clock=clock)
    waits = [bucket.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.5, 1.0, 1.5])
    clock.advance(1.5)  # by now every reservation has been waited off
    assert bucket.tokens == pytest.approx(0)
    assert bucket.reserve() == pytest.approx(0.5)


def test_a_refund_gives_back_what_was_not_spent() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=2, rate=1, clock=clock)
    bucket.reserve(2)
    assert bucket.reserve() == pytest.approx(1.0)
    bucket.refund()
    assert bucket.reserve() == pytest.approx(1.0)
    bucket.refund(50)  # never above capacity
    clock.advance(100)
    assert bucket.tokens == pytest.approx(2)


def test_a_cost_above_capacity_is_charged_as_a_full_bucket() -> None:
    bucket = TokenBucket(capacity=1000, rate=2, clock=FakeClock())
    assert bucket.reserve(5000) == 0.0
    assert bucket.reserve(1) == pytest.approx(0.5)


def test_a_bucket_needs_positive_sizes() -> None:
    with pytest.raises(ValueError):
        TokenBucket(capacity=0, rate=1)
    with pytest.raises(ValueError):
        TokenBucket(capacity=1, rate=0)


def test_actions_are_classified_like_ec2() -> None:
    assert is_non_mutating("DescribeInstances")
    assert is_non_mutating("GetConsoleOutput")
    assert not is_non_mutating("RunInstances")
    assert not is_non_mutating("AuthorizeSecurityGroupIngress")


def test_each_action_has_its_own_bucket_sized_by_its_category() -> None:
    clock = FakeClock()
    throttle = Throttle(ThrottleConfig(), clock=clock)
    # EC2's published defaults: Describe* 100 refilling 20/s, mutating 200 refilling 5/s.
    assert [throttle.reserve("ec2", "DescribeInstances") for _ in range(100)] == [0.0] * 100
    assert throttle.reserve("ec2", "DescribeInstances") == pytest.approx(1 / 20)
    assert throttle.reserve("ec2", "DescribeVolumes") == 0.0  # another action, another bucket
    assert [throttle.reserve("ec2", "StopInstances") for _ in range(200)] == [0.0] * 200
    assert throttle.reserve("ec2", "StopInstances") == pytest.approx(1 / 5)
    describe = throttle.request_bucket("ec2", "DescribeImages")
    mutate = throttle.request_bucket("ec2", "CreateVolume")
    watch = throttle.request_bucket("cloudwatch", "GetMetricData")
    assert (describe.capacity, describe.rate) == (100, 20)
    assert (mutate.capacity, mutate.rate) == (200, 5)
    assert (watch.capacity, watch.rate) == (50, 50)


def test_run_instances_also_spends_a_resource_token_per_instance() -> None:
    clock = FakeClock()
    config = ThrottleConfig.model_validate({"mutating": {"capacity": 10_000, "refill_per_second": 10_000}})
    throttle = Throttle(config, clock=clock)
    # 1,000 instances at once, then about 2 a second.
    assert [throttle.reserve("ec2", "RunInstances", resources=1) for _ in range(1000)] == [0.0] * 1000
    assert throttle.reserve("ec2", "RunInstances", resources=1) == pytest.approx(0.5)
    assert throttle.reserve("ec2", "RunInstances", resources=1) == pytest.approx(1.0)
    clock.advance(10)
    assert throttle.resource_bucket("RunInstances") is not None
    assert throttle.resource_bucket("TerminateInstances") is None


def test_configured_buckets_replace_the_defaults() -> None:
    config = ThrottleConfig.model_validate(
        {
            "non_mutating": {"capacity": 3, "refill_per_second": 1},
            "actions": {"DescribeInstances": {"capacity": 1, "refill_per_second": 4}},
        }
    )
    throttle = Throttle(config, clock=FakeClock())
    assert [throttle.reserve("ec2", "DescribeInstances") for _ in range(2)] == pytest.approx([0.0, 0.25])
    assert [throttle.reserve("ec2", "DescribeVolumes") for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 1.0])


def test_a_wait_beyond_the_limit_is_refused_and_takes_nothing() -> None:
    clock = FakeClock()
    config = ThrottleConfig.model_validate(
        {"mutating": {"capacity": 1, "refill_per_second": 0.1}, "max_wait_seconds": 5}
    )
    throttle = Throttle(config, clock=clock)
    assert throttle.reserve("ec2", "CreateVolume") == 0.0
    with pytest.raises(Throttled):
        throttle.reserve("ec2", "CreateVolume")  # would wait 10 s
    clock.advance(10)  # the refused request took no token: one is back after 10 s
    assert throttle.reserve("ec2", "CreateVolume") == 0.0


def test_a_disabled_throttle_never_waits() -> None:
    throttle = Throttle(ThrottleConfig(enabled=False), clock=FakeClock())
    assert all(throttle.reserve("ec2", "RunInstances", resources=1) == 0.0 for _ in range(5000))


async def test_acquire_waits_off_the_debt_and_refunds_when_cancelled() -> None:
    clock = FakeClock()
    sleep = RecordingSleep(clock)
    config = ThrottleConfig.model_validate({"non_mutating": {"capacity": 2, "refill_per_second": 4}})
    throttle = Throttle(config, clock=clock, sleep=sleep)
    for _ in range(4):
        await throttle.acquire("ec2", "DescribeInstances")
    assert sleep.waits == pytest.approx([0.25, 0.25])

    async def cancelled_sleep(seconds: float) -> None:
        raise asyncio.CancelledError

    blocked = Throttle(config, clock=clock, sleep=cancelled_sleep)
    await blocked.acquire("ec2", "DescribeImages")
    await blocked.acquire("ec2", "DescribeImages")
    with pytest.raises(asyncio.CancelledError):
        await blocked.acquire("ec2", "DescribeImages")
    # The cancelled request gave its token back: the bucket is empty, not in debt.
    assert blocked.request_bucket("ec2", "DescribeImages").tokens == pytest.approx(0)


class Draws:
    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0)


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    top = [backoff_delay(attempt, 0.5, 20.0, lambda: 0.999999) for attempt in range(8)]
    assert top == pytest.approx([0.5, 1, 2, 4, 8, 16, 20, 20], rel=1e-5)
    assert backoff_delay(3, 0.5, 20.0, lambda: 0.0) == 0.0
    assert backoff_delay(2, 0.5, 20.0, Draws(0.5)) == pytest.approx(1.0)
    assert backoff_delay(10_000, 0.5, 20.0, lambda: 0.5) == pytest.approx(10.0)  # no overflow
