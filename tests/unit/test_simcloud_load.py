"""SimCloud's CPU load profiles: their text form, what is refused, and the utilisation over simulated time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import InstanceState
from adapters.simcloud import telemetry
from adapters.simcloud.load import BadProfile, Ramp, Spike, Steady, cpu_at, parse
from adapters.simcloud.timeline import Span


@pytest.mark.parametrize(
    ("text", "profile"),
    [
        ("steady:20", Steady(20)),
        ("steady:0", Steady(0)),
        ("steady:100", Steady(100)),
        (" steady:37.5 ", Steady(37.5)),
        ("ramp:10:90:600", Ramp(10, 90, 600)),
        ("ramp:90:10:60", Ramp(90, 10, 60)),
        ("ramp:5:50:0", Ramp(5, 50, 0)),
        ("spike:10:95:300:60", Spike(10, 95, 300, 60)),
        ("spike:10:95:300:300", Spike(10, 95, 300, 300)),
    ],
)
def test_profiles_parse(text: str, profile: object) -> None:
    assert parse(text) == profile


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "kind"),
        ("flat:20", "kind"),
        ("steady", "takes 1"),
        ("steady:20:30", "takes 1"),
        ("steady:abc", "not a number"),
        ("steady:nan", "finite"),
        ("steady:inf", "finite"),
        ("steady:101", "between 0 and 100"),
        ("steady:-1", "between 0 and 100"),
        ("ramp:10:90", "takes 3"),
        ("ramp:10:190:60", "between 0 and 100"),
        ("ramp:10:90:-5", "negative"),
        ("spike:10:95:300", "takes 4"),
        ("spike:10:95:0:0", "period must be positive"),
        ("spike:10:95:60:61", "spike duration"),
        ("spike:10:95:60:-1", "spike duration"),
    ],
)
def test_bad_profiles_are_refused_with_the_reason(text: str, complaint: str) -> None:
    with pytest.raises(BadProfile, match=complaint):
        parse(text)


def test_steady_is_the_same_at_every_time() -> None:
    assert {cpu_at(Steady(42), t) for t in (0, 1, 59.9, 3600, 10**7)} == {42}


def test_ramp_goes_linearly_then_holds() -> None:
    ramp = Ramp(10, 90, 600)

    assert cpu_at(ramp, 0) == 10
    assert cpu_at(ramp, 150) == pytest.approx(30)
    assert cpu_at(ramp, 300) == pytest.approx(50)
    assert cpu_at(ramp, 600) == 90
    assert cpu_at(ramp, 6000) == 90


def test_a_ramp_down_and_an_instant_ramp() -> None:
    assert cpu_at(Ramp(80, 20, 60), 30) == pytest.approx(50)
    assert cpu_at(Ramp(5, 50, 0), 0) == 50


def test_spike_peaks_for_the_last_part_of_every_period() -> None:
    spike = Spike(10, 95, 300, 60)

    base_times = (0, 100, 239.9, 300, 500, 539.9)
    peak_times = (240, 270, 299.9, 540, 599)
    assert [cpu_at(spike, t) for t in base_times] == [10] * len(base_times)
    assert [cpu_at(spike, t) for t in peak_times] == [95] * len(peak_times)


def test_spike_edges_never_and_always() -> None:
    assert cpu_at(Spike(10, 95, 60, 0), 59.99) == 10
    assert cpu_at(Spike(10, 95, 60, 60), 0) == 95


def test_time_before_the_profile_counts_as_its_start() -> None:
    assert cpu_at(Ramp(10, 90, 600), -30) == 10


def test_a_shorter_metrics_period_samples_more_often_and_counts_its_share_of_traffic() -> None:
    start = datetime(2026, 12, 4, tzinfo=UTC)
    ramp = telemetry.LoadChange(start, parse("ramp:0:60:60"))
    common = {
        "instance_id": "i-1",
        "created_at": start,
        "spans": [Span(InstanceState.RUNNING, start)],
        "loads": [ramp],
        "since": start,
        "now": start + timedelta(seconds=60),
        "speedup": 1.0,
    }
    minutes = telemetry.samples(**common)  # type: ignore[arg-type]
    fives = telemetry.samples(**common, period=5.0)  # type: ignore[arg-type]
    cpu = [s.value for s in fives if s.name == "cpu_utilization"]
    assert len(cpu) == 13 and cpu[:3] == [0.0, 5.0, 10.0]
    assert len([s for s in minutes if s.name == "cpu_utilization"]) == 2
    # The same traffic per minute: a 5 s sample holds about a twelfth of a minute's.
    first_minute = next(s.value for s in minutes if s.name == "network_in_bytes")
    first_five = next(s.value for s in fives if s.name == "network_in_bytes")
    assert 0.05 < first_five / first_minute < 0.12
