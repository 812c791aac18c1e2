"""Waiting for records to reach a state: poll, more slowly as time goes on, until every one is there, one cannot
get there any more, or the time is up; report each round to a progress callback (what a command line draws)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from clanavi.client._calls import Call
from clanavi.client._steps import FetchAll, Now, Pause, Plan
from clanavi.client.errors import WaitFailed, WaitTimeout

R = TypeVar("R", bound=BaseModel)

__all__ = ["FIRST_POLL", "LONGEST_POLL", "Progress", "WaitProgress", "states", "wait"]

# The first poll comes this soon after the start; each next one half as late again, up to the longest.
FIRST_POLL = 0.25
LONGEST_POLL = 3.0


@dataclass(frozen=True, slots=True)
class WaitProgress(Generic[R]):
    """One round of a wait: the latest of each record (in the order asked for), how many are where they should be,
    and the seconds gone of the time allowed."""

    records: tuple[R, ...]
    done: int
    total: int
    elapsed: float
    timeout: float


Progress = Callable[[WaitProgress[R]], object]


def states(value: str | Collection[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def wait(
    what: str,
    ids: Sequence[str],
    get: Callable[[str], Call[R]],
    state_of: Callable[[R], str],
    targets: Collection[str],
    failed: Collection[str],
    *,
    timeout: float,
    progress: Progress[R] | None = None,
) -> Plan[list[R]]:
    """The plan of waiting until each of `ids` is in one of `targets`; answers the records as last read. Raises
    WaitFailed as soon as one is in a state of `failed` (other than a target), WaitTimeout after `timeout`
    seconds. Only the records not there yet are read again."""
    wanted = tuple(dict.fromkeys(ids))
    if not wanted:
        return []
    if timeout < 0:
        raise ValueError("timeout must be zero or more seconds")
    ending = frozenset(failed) - frozenset(targets)
    started: float = yield Now()
    latest: dict[str, R] = {}
    pending = list(wanted)
    delay = FIRST_POLL
    while True:
        found: list[R] = yield FetchAll([get(record_id) for record_id in pending])
        latest.update(zip(pending, found, strict=True))
        for record in found:
            if state_of(record) in ending:
                raise WaitFailed(what, record, tuple(targets))
        pending = [record_id for record_id in pending if state_of(latest[record_id]) not in targets]
        elapsed = (yield Now()) - started
        records = tuple(latest[record_id] for record_id in wanted)
        if progress is not None:
            progress(WaitProgress(records, len(wanted) - len(pending), len(wanted), elapsed, timeout))
        if not pending:
            return list(records)
        if elapsed >= timeout:
            raise WaitTimeout(what, records, tuple(targets), timeout)
        yield Pause(min(delay, timeout - elapsed))
        delay = min(delay * 1.5, LONGEST_POLL)
