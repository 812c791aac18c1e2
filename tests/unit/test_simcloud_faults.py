"""SimCloud's launch failures: decided by the client token alone, at the configured rate."""

from __future__ import annotations

import pytest

from adapters.simcloud.faults import launch_fails, token_fraction

TOKENS = [f"token-{i}" for i in range(2000)]


def test_the_token_decides_and_always_alike() -> None:
    assert [launch_fails(t, 0.5) for t in TOKENS] == [launch_fails(t, 0.5) for t in TOKENS]
    assert {0 <= token_fraction(t) < 1 for t in TOKENS} == {True}


def test_rates_zero_and_one_never_and_always_fail() -> None:
    assert not any(launch_fails(t, 0.0) for t in TOKENS)
    assert all(launch_fails(t, 1.0) for t in TOKENS)


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5, 0.9])
def test_about_the_rate_of_tokens_fail(rate: float) -> None:
    failed = sum(launch_fails(t, rate) for t in TOKENS)

    # Binomial spread over 2,000 tokens: 5 standard deviations stays far inside these bounds.
    assert abs(failed / len(TOKENS) - rate) < 0.06


def test_a_token_failing_at_a_rate_fails_at_every_higher_rate() -> None:
    for token in TOKENS[:200]:
        outcomes = [launch_fails(token, r / 10) for r in range(11)]
        assert outcomes == sorted(outcomes), token
