"""An instance's past, from the phases it was put in: which state it was in, and when.

Each stored entry is the phase an action (or the launch) set at time `at`; it holds until the next entry. Within
one entry the instance reads `state` until `due_at`, then `target` (see `machine`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from adapters.base import InstanceState
from adapters.simcloud.machine import Phase


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    phase: Phase


@dataclass(frozen=True, slots=True)
class Span:
    state: InstanceState
    start: datetime
    # None: the instance is still in this state.
    end: datetime | None = None

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


def ends(history: Sequence[Entry], now: datetime) -> list[datetime | None]:
    """When each entry gave way to the next one (None for the entry still in force at `now`)."""
    return [nxt.at if nxt.at <= now else None for nxt in history[1:]] + [None]


def spans(history: Sequence[Entry], now: datetime) -> list[Span]:
    """The states the instance has been in up to `now`, oldest first, with neighbours of one state merged."""
    found: list[Span] = []

    def add(state: InstanceState, start: datetime, end: datetime | None) -> None:
        if end is not None and end <= start:
            return
        if found and found[-1].state == state and found[-1].end == start:
            found[-1] = Span(state, found[-1].start, end)
        else:
            found.append(Span(state, start, end))

    for entry, end in zip(history, ends(history, now), strict=True):
        if entry.at > now:
            break
        phase = entry.phase
        limit = end or now
        if phase.target is not None and phase.due_at is not None and phase.due_at <= limit:
            add(phase.state, entry.at, phase.due_at)
            add(phase.target, phase.due_at, end)
        else:
            add(phase.state, entry.at, end)
    return found
