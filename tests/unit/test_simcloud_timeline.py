"""SimCloud instance history: the states an instance was in, and when, from the phases its actions set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.base import InstanceState as S
from adapters.simcloud.machine import Phase
from adapters.simcloud.timeline import Entry, Span, spans

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_booting_instance_is_pending_until_due_then_running() -> None:
    history = [Entry(T0, Phase(S.PENDING, S.RUNNING, at(3)))]

    assert spans(history, at(1)) == [Span(S.PENDING, T0, None)]
    assert spans(history, at(10)) == [Span(S.PENDING, T0, at(3)), Span(S.RUNNING, at(3), None)]


def test_a_whole_lifecycle() -> None:
    history = [
        Entry(T0, Phase(S.PENDING, S.RUNNING, at(3))),
        Entry(at(10), Phase(S.STOPPING, S.STOPPED, at(12))),
        Entry(at(20), Phase(S.STARTING, S.RUNNING, at(22))),
        Entry(at(30), Phase(S.SUSPENDED)),
        Entry(at(35), Phase(S.RUNNING)),
        Entry(at(40), Phase(S.TERMINATING, S.TERMINATED, at(41))),
    ]

    assert spans(history, at(100)) == [
        Span(S.PENDING, T0, at(3)),
        Span(S.RUNNING, at(3), at(10)),
        Span(S.STOPPING, at(10), at(12)),
        Span(S.STOPPED, at(12), at(20)),
        Span(S.STARTING, at(20), at(22)),
        Span(S.RUNNING, at(22), at(30)),
        Span(S.SUSPENDED, at(30), at(35)),
        Span(S.RUNNING, at(35), at(40)),
        Span(S.TERMINATING, at(40), at(41)),
        Span(S.TERMINATED, at(41), None),
    ]


def test_a_transition_cut_short_never_reaches_its_target() -> None:
    history = [
        Entry(T0, Phase(S.PENDING, S.RUNNING, at(60))),
        Entry(at(5), Phase(S.TERMINATING, S.TERMINATED, at(6))),
    ]

    assert spans(history, at(100)) == [
        Span(S.PENDING, T0, at(5)),
        Span(S.TERMINATING, at(5), at(6)),
        Span(S.TERMINATED, at(6), None),
    ]


def test_the_present_cuts_the_story() -> None:
    history = [
        Entry(T0, Phase(S.PENDING, S.RUNNING, at(3))),
        Entry(at(10), Phase(S.REBOOTING, S.RUNNING, at(12))),
    ]

    assert spans(history, at(2)) == [Span(S.PENDING, T0, None)]
    assert spans(history, at(11)) == [
        Span(S.PENDING, T0, at(3)),
        Span(S.RUNNING, at(3), at(10)),
        Span(S.REBOOTING, at(10), None),
    ]
    assert spans(history, at(12))[-1] == Span(S.RUNNING, at(12), None)


def test_neighbouring_spans_of_one_state_merge_and_empty_ones_vanish() -> None:
    history = [
        Entry(T0, Phase(S.PENDING, S.RUNNING, at(0))),
        Entry(at(5), Phase(S.RUNNING)),
    ]

    assert spans(history, at(9)) == [Span(S.RUNNING, T0, None)]


def test_span_covers_its_start_but_not_its_end() -> None:
    span = Span(S.RUNNING, at(3), at(10))

    assert span.covers(at(3)) and span.covers(at(9.999))
    assert not span.covers(at(10)) and not span.covers(at(2.999))
    assert Span(S.RUNNING, at(3), None).covers(at(10**6))
