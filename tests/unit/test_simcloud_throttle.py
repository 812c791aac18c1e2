"""SimCloud's API rate limit: the kernel's token bucket with a burst of max(1, rate), refusing when empty, on a clock
the test moves."""

from __future__ import annotations

import pytest

from adapters.simcloud.throttle import account_bucket, bucket_for
from tests.clock import FakeClock


def test_a_burst_of_rate_calls_then_one_per_interval() -> None:
    clock = FakeClock()
    bucket = account_bucket(5, clock)

    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    assert bucket.wait_seconds() == pytest.approx(0.2)
    clock.now += 0.19
    assert not bucket.take()
    clock.now += 0.01
    assert bucket.take()
    assert not bucket.take()


def test_a_slow_rate_still_allows_one_call() -> None:
    clock = FakeClock()
    bucket = account_bucket(0.5, clock)

    assert bucket.take()
    assert not bucket.take()
    assert bucket.wait_seconds() == pytest.approx(2)
    clock.now += 2
    assert bucket.take()


def test_an_idle_bucket_fills_only_to_its_burst() -> None:
    clock = FakeClock()
    bucket = account_bucket(3, clock)
    for _ in range(3):
        bucket.take()

    clock.now += 3600

    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_refused_calls_take_nothing() -> None:
    clock = FakeClock()
    bucket = account_bucket(1, clock)
    bucket.take()

    for _ in range(100):
        assert not bucket.take()
    clock.now += 1

    assert bucket.take()


def test_the_burst_is_the_rate_and_at_least_one() -> None:
    assert (account_bucket(5).capacity, account_bucket(5).rate) == (5, 5)
    assert (account_bucket(0.5).capacity, account_bucket(0.5).rate) == (1, 0.5)


def test_one_bucket_per_account_and_rate() -> None:
    assert bucket_for("acct-throttle-a", 2) is bucket_for("acct-throttle-a", 2)
    assert bucket_for("acct-throttle-a", 2) is not bucket_for("acct-throttle-b", 2)
    assert bucket_for("acct-throttle-a", 3) is not bucket_for("acct-throttle-a", 2)
