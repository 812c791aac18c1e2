"""SimCloud's instance state machine: pure functions of a state, an action and the time.

A transition is stored as (state, target, due_at): the instance reads `state` until `due_at`, then `target`. Nothing
needs to run in the background for time to pass, and a restart of the process loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from adapters.base import InstanceState as S
from adapters.base import InvalidCloudState

Action = Literal["start", "stop", "reboot", "suspend", "resume", "terminate"]


@dataclass(frozen=True, slots=True)
class Timings:
    boot_seconds: float = 3.0
    stop_seconds: float = 2.0
    start_seconds: float = 2.0
    reboot_seconds: float = 2.0
    terminate_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class Phase:
    state: S
    target: S | None = None
    due_at: datetime | None = None


def settle(phase: Phase, now: datetime) -> Phase:
    """The phase as it reads at `now`: a transition whose time has come is complete."""
    if phase.target is not None and phase.due_at is not None and phase.due_at <= now:
        return Phase(phase.target)
    return phase


def _moving(to: S, via: S, seconds: float, now: datetime) -> Phase:
    return Phase(via, to, now + timedelta(seconds=seconds))


def launched(now: datetime, timings: Timings, *, fails: bool = False) -> Phase:
    """A new instance, booting; one that `fails` ends in `error` when it would have been running."""
    return _moving(S.ERROR if fails else S.RUNNING, S.PENDING, timings.boot_seconds, now)


# action -> (states it applies to, state on the way, state at the end, timing field); asking again while the
# action is already under way or done answers the current phase, so a retried call is harmless. Suspending and
# resuming only pause the guest, so they take no time (no timing field).
_RULES: dict[Action, tuple[frozenset[S], S, S, str | None]] = {
    "stop": (frozenset({S.RUNNING}), S.STOPPING, S.STOPPED, "stop_seconds"),
    "start": (frozenset({S.STOPPED}), S.STARTING, S.RUNNING, "start_seconds"),
    "reboot": (frozenset({S.RUNNING}), S.REBOOTING, S.RUNNING, "reboot_seconds"),
    "suspend": (frozenset({S.RUNNING}), S.SUSPENDED, S.SUSPENDED, None),
    "resume": (frozenset({S.SUSPENDED}), S.RUNNING, S.RUNNING, None),
    "terminate": (
        frozenset({S.PENDING, S.RUNNING, S.STOPPING, S.STOPPED, S.STARTING, S.REBOOTING, S.SUSPENDED, S.ERROR}),
        S.TERMINATING,
        S.TERMINATED,
        "terminate_seconds",
    ),
}


def apply(phase: Phase, action: Action, now: datetime, timings: Timings) -> Phase:
    current = settle(phase, now)
    allowed, via, end, timing = _RULES[action]
    if current.state == via or (current.state == end and current.target is None and action != "reboot"):
        return current
    if current.state not in allowed:
        raise InvalidCloudState(f"cannot {action} an instance that is {current.state.value}")
    if timing is None:
        return Phase(end)
    return _moving(end, via, getattr(timings, timing), now)
