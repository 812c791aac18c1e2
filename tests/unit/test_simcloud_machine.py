"""SimCloud's pure instance state machine: transitions, their timing, idempotent repeats and refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import InstanceState as S
from adapters.base import InvalidCloudState
from adapters.simcloud.machine import Action, Phase, Timings, apply, launched, settle

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
TIMINGS = Timings(boot_seconds=3, stop_seconds=2, start_seconds=4, reboot_seconds=5, terminate_seconds=1)
JUST_BEFORE = timedelta(microseconds=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_launch_is_pending_until_boot_time_then_running() -> None:
    phase = launched(T0, TIMINGS)

    assert phase == Phase(S.PENDING, S.RUNNING, at(3))
    assert settle(phase, T0).state == S.PENDING
    assert settle(phase, at(3) - JUST_BEFORE) == phase
    assert settle(phase, at(3)) == Phase(S.RUNNING)
    assert settle(phase, at(3600)) == Phase(S.RUNNING)


@pytest.mark.parametrize(
    ("start", "action", "via", "end", "seconds"),
    [
        (S.RUNNING, "stop", S.STOPPING, S.STOPPED, 2),
        (S.STOPPED, "start", S.STARTING, S.RUNNING, 4),
        (S.RUNNING, "reboot", S.REBOOTING, S.RUNNING, 5),
        (S.RUNNING, "terminate", S.TERMINATING, S.TERMINATED, 1),
        (S.STOPPED, "terminate", S.TERMINATING, S.TERMINATED, 1),
        (S.ERROR, "terminate", S.TERMINATING, S.TERMINATED, 1),
    ],
)
def test_each_transition_passes_through_its_state_for_its_time(
    start: S, action: Action, via: S, end: S, seconds: float
) -> None:
    now = at(10)

    phase = apply(Phase(start), action, now, TIMINGS)

    assert phase == Phase(via, end, now + timedelta(seconds=seconds))
    assert settle(phase, now).state == via
    assert settle(phase, now + timedelta(seconds=seconds) - JUST_BEFORE).state == via
    assert settle(phase, now + timedelta(seconds=seconds)) == Phase(end)


def test_an_action_applies_to_the_settled_phase() -> None:
    booting = launched(T0, TIMINGS)

    with pytest.raises(InvalidCloudState):
        apply(booting, "stop", at(3) - JUST_BEFORE, TIMINGS)
    stopping = apply(booting, "stop", at(3), TIMINGS)

    assert stopping == Phase(S.STOPPING, S.STOPPED, at(5))


def test_a_full_lifecycle_follows_the_clock() -> None:
    phase = launched(T0, TIMINGS)
    phase = apply(phase, "stop", at(3), TIMINGS)
    assert settle(phase, at(4)).state == S.STOPPING
    phase = apply(phase, "start", at(5), TIMINGS)
    assert settle(phase, at(8)).state == S.STARTING
    phase = apply(phase, "reboot", at(9), TIMINGS)
    assert settle(phase, at(13)).state == S.REBOOTING
    assert settle(phase, at(14)).state == S.RUNNING
    phase = apply(phase, "terminate", at(14), TIMINGS)
    assert settle(phase, at(14.5)).state == S.TERMINATING
    assert settle(phase, at(15)) == Phase(S.TERMINATED)


@pytest.mark.parametrize(
    ("first", "action"),
    [(S.RUNNING, "stop"), (S.STOPPED, "start"), (S.RUNNING, "reboot"), (S.RUNNING, "terminate")],
)
def test_repeating_an_action_under_way_keeps_the_transition_and_its_due_time(first: S, action: Action) -> None:
    under_way = apply(Phase(first), action, T0, TIMINGS)

    again = apply(under_way, action, at(0.5), TIMINGS)

    assert again == under_way


@pytest.mark.parametrize(("done", "action"), [(S.STOPPED, "stop"), (S.TERMINATED, "terminate"), (S.RUNNING, "start")])
def test_repeating_a_finished_action_answers_the_final_state(done: S, action: Action) -> None:
    assert apply(Phase(done), action, T0, TIMINGS) == Phase(done)


def test_stop_while_stopping_then_after_it_finished() -> None:
    stopping = apply(Phase(S.RUNNING), "stop", T0, TIMINGS)

    assert apply(stopping, "stop", at(1), TIMINGS) == stopping
    assert apply(stopping, "stop", at(2), TIMINGS) == Phase(S.STOPPED)


def test_terminate_while_terminating_then_after_it_finished() -> None:
    terminating = apply(Phase(S.STOPPED), "terminate", T0, TIMINGS)

    assert apply(terminating, "terminate", at(0.5), TIMINGS) == terminating
    assert apply(terminating, "terminate", at(1), TIMINGS) == Phase(S.TERMINATED)
    assert apply(Phase(S.TERMINATED), "terminate", at(100), TIMINGS) == Phase(S.TERMINATED)


def test_reboot_of_a_running_instance_always_reboots_again() -> None:
    first = apply(Phase(S.RUNNING), "reboot", T0, TIMINGS)
    done = settle(first, at(5))
    assert done == Phase(S.RUNNING)

    second = apply(done, "reboot", at(6), TIMINGS)

    assert second == Phase(S.REBOOTING, S.RUNNING, at(11))


@pytest.mark.parametrize(
    ("state", "action"),
    [
        *[(s, "stop") for s in (S.PENDING, S.STARTING, S.REBOOTING, S.TERMINATING, S.TERMINATED)],
        (S.ERROR, "stop"),
        *[(s, "start") for s in (S.PENDING, S.STOPPING, S.REBOOTING, S.TERMINATING, S.TERMINATED, S.ERROR)],
        *[(s, "reboot") for s in (S.PENDING, S.STOPPING, S.STOPPED, S.STARTING, S.TERMINATING, S.TERMINATED)],
        (S.ERROR, "reboot"),
        (S.UNKNOWN, "terminate"),
    ],
)
def test_invalid_transitions_are_refused(state: S, action: Action) -> None:
    with pytest.raises(InvalidCloudState, match=f"cannot {action} an instance that is {state.value}"):
        apply(Phase(state), action, T0, TIMINGS)


def test_invalid_transition_of_a_moving_instance_is_judged_on_its_current_state() -> None:
    stopping = apply(Phase(S.RUNNING), "stop", T0, TIMINGS)

    with pytest.raises(InvalidCloudState, match="stopping"):
        apply(stopping, "start", at(1), TIMINGS)
    assert apply(stopping, "start", at(2), TIMINGS) == Phase(S.STARTING, S.RUNNING, at(6))


@pytest.mark.parametrize("moving", [S.PENDING, S.STOPPING, S.STARTING, S.REBOOTING])
def test_terminate_during_a_pending_transition_replaces_it(moving: S) -> None:
    # The instance is on its way somewhere else, due long after the termination would finish.
    phase = Phase(moving, S.RUNNING if moving != S.STOPPING else S.STOPPED, at(60))

    terminating = apply(phase, "terminate", at(1), TIMINGS)

    assert terminating == Phase(S.TERMINATING, S.TERMINATED, at(2))
    assert settle(terminating, at(1.5)).state == S.TERMINATING
    assert settle(terminating, at(2)) == Phase(S.TERMINATED)
    # The old transition's due time passing changes nothing.
    assert settle(terminating, at(61)) == Phase(S.TERMINATED)


def test_terminate_during_boot_never_reaches_running() -> None:
    booting = launched(T0, TIMINGS)

    terminating = apply(booting, "terminate", at(1), TIMINGS)

    for t in (1.5, 2, 3, 4, 100):
        assert settle(terminating, at(t)).state in (S.TERMINATING, S.TERMINATED)
    assert settle(terminating, at(3)) == Phase(S.TERMINATED)


def test_zero_timings_finish_at_once() -> None:
    instant = Timings(0, 0, 0, 0, 0)

    assert settle(launched(T0, instant), T0) == Phase(S.RUNNING)
    assert settle(apply(Phase(S.RUNNING), "stop", T0, instant), T0) == Phase(S.STOPPED)


def test_a_failing_launch_is_pending_until_boot_time_then_in_error() -> None:
    phase = launched(T0, TIMINGS, fails=True)

    assert phase == Phase(S.PENDING, S.ERROR, at(3))
    assert settle(phase, at(3) - JUST_BEFORE).state == S.PENDING
    assert settle(phase, at(3)) == Phase(S.ERROR)
    assert settle(apply(phase, "terminate", at(4), TIMINGS), at(5)) == Phase(S.TERMINATED)


def test_suspend_and_resume_are_immediate() -> None:
    suspended = apply(Phase(S.RUNNING), "suspend", T0, TIMINGS)
    assert suspended == Phase(S.SUSPENDED)

    resumed = apply(suspended, "resume", at(1), TIMINGS)
    assert resumed == Phase(S.RUNNING)


def test_suspend_and_resume_repeated_answer_the_current_state() -> None:
    assert apply(Phase(S.SUSPENDED), "suspend", T0, TIMINGS) == Phase(S.SUSPENDED)
    assert apply(Phase(S.RUNNING), "resume", T0, TIMINGS) == Phase(S.RUNNING)


def test_a_suspended_instance_can_be_terminated_but_not_stopped_or_rebooted() -> None:
    assert apply(Phase(S.SUSPENDED), "terminate", T0, TIMINGS) == Phase(S.TERMINATING, S.TERMINATED, at(1))
    for action in ("stop", "reboot", "start"):
        with pytest.raises(InvalidCloudState, match=f"cannot {action} an instance that is suspended"):
            apply(Phase(S.SUSPENDED), action, T0, TIMINGS)


@pytest.mark.parametrize(
    ("state", "action"),
    [
        *[(s, "suspend") for s in (S.PENDING, S.STOPPING, S.STOPPED, S.STARTING, S.REBOOTING, S.ERROR)],
        *[(s, "suspend") for s in (S.TERMINATING, S.TERMINATED)],
        *[(s, "resume") for s in (S.PENDING, S.STOPPING, S.STOPPED, S.STARTING, S.REBOOTING, S.ERROR)],
        *[(s, "resume") for s in (S.TERMINATING, S.TERMINATED)],
    ],
)
def test_suspend_and_resume_are_refused_outside_running_and_suspended(state: S, action: Action) -> None:
    with pytest.raises(InvalidCloudState, match=f"cannot {action} an instance that is {state.value}"):
        apply(Phase(state), action, T0, TIMINGS)
