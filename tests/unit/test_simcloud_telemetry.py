"""SimCloud's synthetic metrics: one sample of each metric per simulated minute while running, CPU from the load."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import InstanceState as S
from adapters.base import MetricSample
from adapters.simcloud.load import Ramp, Steady
from adapters.simcloud.telemetry import MAX_POINTS, METRICS, LoadChange, samples
from adapters.simcloud.timeline import Span

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
ID = "sim-0123456789abcdef0"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def running_from(start: float, end: float | None = None) -> list[Span]:
    return [Span(S.PENDING, T0, at(start)), Span(S.RUNNING, at(start), None if end is None else at(end))]


def take(
    spans: list[Span], *, since: float, now: float, speedup: float = 1.0, loads: list[LoadChange] | None = None
) -> list[MetricSample]:
    return samples(
        instance_id=ID,
        created_at=T0,
        spans=spans,
        loads=loads or [LoadChange(T0, Steady(20))],
        since=at(since),
        now=at(now),
        speedup=speedup,
    )


def test_each_metric_once_a_minute_while_running() -> None:
    found = take(running_from(30), since=0, now=600)

    times = sorted({s.timestamp for s in found})
    assert times == [at(60 * k) for k in range(1, 11)]
    assert Counter(s.name for s in found) == dict.fromkeys(METRICS, 10)
    assert {s.value for s in found if s.name == "cpu_utilization"} == {20}
    assert {(s.name, s.unit) for s in found} == {
        ("cpu_utilization", "percent"),
        *((m, "bytes") for m in METRICS[1:]),
    }


def test_no_samples_outside_running() -> None:
    spans = [
        Span(S.PENDING, T0, at(30)),
        Span(S.RUNNING, at(30), at(200)),
        Span(S.STOPPING, at(200), at(210)),
        Span(S.STOPPED, at(210), at(400)),
        Span(S.RUNNING, at(400), None),
    ]

    times = sorted({s.timestamp for s in take(spans, since=0, now=500)})

    assert times == [at(60), at(120), at(180), at(420), at(480)]


def test_since_and_now_bound_the_answer() -> None:
    spans = running_from(0)

    assert sorted({s.timestamp for s in take(spans, since=61, now=300)}) == [at(120), at(180), at(240), at(300)]
    assert sorted({s.timestamp for s in take(spans, since=120, now=179)}) == [at(120)]
    assert take(spans, since=400, now=300) == []


def test_speedup_shortens_the_period_on_the_wall_clock() -> None:
    found = take(running_from(0), since=0, now=1, speedup=60)

    assert sorted({s.timestamp for s in found}) == [at(k) for k in range(2)]


def test_cpu_follows_the_profile_in_force_at_each_sample_in_simulated_time() -> None:
    loads = [LoadChange(T0, Steady(20)), LoadChange(at(300), Ramp(0, 100, 600))]

    found = take(running_from(0), since=0, now=900, loads=loads)
    cpu = {s.timestamp: s.value for s in found if s.name == "cpu_utilization"}

    assert cpu[at(240)] == 20
    assert cpu[at(300)] == 0
    assert cpu[at(600)] == pytest.approx(50)
    assert cpu[at(900)] == 100
    # The same profile over simulated time: 10 times faster, the ramp is done 10 times sooner.
    fast = take(running_from(0), since=0, now=90, speedup=10, loads=[LoadChange(at(30), Ramp(0, 100, 600))])
    assert {s.timestamp: s.value for s in fast if s.name == "cpu_utilization"}[at(60)] == pytest.approx(50)


def test_traffic_follows_the_cpu_and_is_the_same_when_asked_again() -> None:
    idle = take(running_from(0), since=0, now=600, loads=[LoadChange(T0, Steady(0))])
    busy = take(running_from(0), since=0, now=600, loads=[LoadChange(T0, Steady(90))])

    assert take(running_from(0), since=0, now=600, loads=[LoadChange(T0, Steady(90))]) == busy
    for metric in METRICS[1:]:
        quiet = [s.value for s in idle if s.name == metric]
        loud = [s.value for s in busy if s.name == metric]
        assert all(v > 0 for v in quiet)
        assert min(loud) > 10 * max(quiet), metric
        assert len(set(loud)) > 1, f"{metric} has no jitter at all"


def test_the_answer_is_capped_to_the_most_recent_points() -> None:
    found = take(running_from(0), since=0, now=60 * (MAX_POINTS + 500))

    times = sorted({s.timestamp for s in found})
    assert len(times) == MAX_POINTS
    assert times[-1] == at(60 * (MAX_POINTS + 500))
