"""The kernel's token bucket, on a hand-driven clock: taking (refusing when empty) and reserving (queueing behind a
debt), the two ways its users spend it."""

from __future__ import annotations

import pytest

from kernel.token_bucket import TokenBucket
from tests.clock import FakeClock


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


def test_a_reservation_above_capacity_is_charged_as_a_full_bucket() -> None:
    bucket = TokenBucket(capacity=1000, rate=2, clock=FakeClock())
    assert bucket.reserve(5000) == 0.0
    assert bucket.reserve(1) == pytest.approx(0.5)


def test_a_bucket_needs_positive_sizes() -> None:
    with pytest.raises(ValueError):
        TokenBucket(capacity=0, rate=1)
    with pytest.raises(ValueError):
        TokenBucket(capacity=1, rate=0)


def test_take_spends_only_what_is_there_and_a_refusal_takes_nothing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=2, rate=4, clock=clock)
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    assert bucket.wait_seconds() == pytest.approx(0.25)
    for _ in range(100):
        assert not bucket.take()
    clock.advance(0.24)
    assert not bucket.take()
    clock.advance(0.01)
    assert bucket.take()
    assert bucket.tokens == pytest.approx(0)


def test_take_and_wait_for_a_cost_above_one() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=5, rate=1, clock=clock)
    assert bucket.take(3)
    assert not bucket.take(3)
    assert bucket.wait_seconds(3) == pytest.approx(1.0)
    assert bucket.wait_seconds(2) == 0.0
    clock.advance(1)
    assert bucket.take(3)


def test_a_fractional_capacity_and_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=1.5, rate=0.5, clock=clock)
    assert bucket.take()
    assert not bucket.take()
    assert bucket.wait_seconds() == pytest.approx(1.0)  # half a token left, half a token a second
    clock.advance(3600)
    assert bucket.tokens == pytest.approx(1.5)
