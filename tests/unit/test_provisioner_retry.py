"""How the provisioner retries failed cloud calls: backoff with jitter; a cloud that only throttles is retried for a
bounded time without using up the attempts; pacing per cloud."""

from __future__ import annotations

import pytest

from services.provisioner.work import pacing as domain
from services.provisioner.work.pacing import Pacer, RetryPolicy

POLICY = RetryPolicy(max_attempts=5, throttle_budget=600.0)


@pytest.mark.parametrize("rand", [0.0, 0.5, 0.999])
@pytest.mark.parametrize("failures", [1, 2, 5, 9])
def test_jitter_spreads_a_delay_over_its_upper_half(failures: int, rand: float) -> None:
    full = domain.retry_delay(failures)

    assert full / 2 <= domain.jittered_delay(failures, rand) <= full


def test_a_failing_cloud_is_retried_until_the_attempts_run_out() -> None:
    plans = [
        domain.plan_retry(POLICY, retryable=True, throttled=False, attempts=n, throttles=0, age=1.0, rand=0.5)
        for n in range(5)
    ]

    assert [p.attempts if p else None for p in plans] == [1, 2, 3, 4, None]
    delays = [p.delay for p in plans if p]
    assert delays == sorted(delays) and delays[0] > 0


def test_a_permanent_error_is_not_retried() -> None:
    assert domain.plan_retry(POLICY, retryable=False, throttled=False, attempts=0, throttles=0, age=0, rand=0.5) is None


def test_throttling_does_not_use_up_the_attempts() -> None:
    plan = domain.plan_retry(POLICY, retryable=True, throttled=True, attempts=4, throttles=40, age=100.0, rand=0.5)

    assert plan is not None
    assert (plan.attempts, plan.throttled) == (4, 41)
    assert 0 < plan.delay <= 30.0


def test_throttling_gives_up_once_the_budget_is_spent() -> None:
    assert (
        domain.plan_retry(POLICY, retryable=True, throttled=True, attempts=0, throttles=3, age=600.0, rand=0.1) is None
    )


def test_the_last_throttled_wait_ends_with_the_budget() -> None:
    plan = domain.plan_retry(POLICY, retryable=True, throttled=True, attempts=0, throttles=20, age=595.0, rand=0.9)

    assert plan is not None and (plan.attempts, plan.throttled) == (0, 21)
    assert plan.delay == pytest.approx(5.01)


def test_a_wait_the_cloud_asks_for_is_honoured() -> None:
    plan = domain.plan_retry(
        POLICY, retryable=True, throttled=True, attempts=0, throttles=0, age=0.0, rand=0.0, at_least=7.0
    )

    assert plan is not None and plan.delay == 7.0


def test_after_unavailable_comes_a_fresh_throttle_count() -> None:
    plan = domain.plan_retry(POLICY, retryable=True, throttled=False, attempts=1, throttles=9, age=5.0, rand=0.5)

    assert plan is not None and (plan.attempts, plan.throttled) == (2, 0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_throttled_cloud_is_left_alone_for_longer_each_time_until_a_call_succeeds() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, rand=lambda: 0.999)

    assert pacer.wait("sim") == 0.0
    first = pacer.throttled("sim")
    assert pacer.wait("sim") == pytest.approx(first)
    assert pacer.wait("aws") == 0.0
    clock.now += first
    second = pacer.throttled("sim")
    assert second > first
    clock.now += second
    pacer.succeeded("sim")
    assert pacer.throttled("sim") == pytest.approx(first)


def test_pacing_is_capped_and_honours_the_clouds_wish() -> None:
    pacer = Pacer(clock=Clock(), rand=lambda: 0.5)

    assert pacer.throttled("sim", at_least=3.0) == 3.0
    for _ in range(20):
        last = pacer.throttled("sim")
    assert last == 10.0
