"""What an operation asks its driver to do, one step at a time.

An operation that is more than one call (retrying, walking pages, waiting for a state, following the audit) is
written once, as a generator of steps: it yields a step, and the driver sends back what came of it (or throws in
the exception it raised). The asynchronous driver awaits each step, the synchronous one blocks on it, so both
clients run the same code (the way httpx's own authentication flows serve its two clients)."""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

from clanavi.client._calls import Call, Query

T = TypeVar("T")

__all__ = ["Emit", "Fetch", "FetchAll", "Now", "Pause", "Plan", "Renew", "Send", "Step", "Stream", "fetch"]


@dataclass(frozen=True, slots=True)
class Send:
    """Send one HTTP request; answers the httpx.Response, or throws the httpx.TransportError."""

    method: str
    path: str
    headers: Mapping[str, str]
    params: Query = ()
    content: bytes | None = None
    form: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait this many seconds."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Now:
    """Answers the driver's monotonic clock."""


@dataclass(frozen=True, slots=True)
class Fetch(Generic[T]):
    """Carry out a call, retries and all; answers what the call's answer reads as, or throws its error."""

    call: Call[T]


@dataclass(frozen=True, slots=True)
class FetchAll(Generic[T]):
    """Carry out several calls (at once, where the driver can); answers their results in order."""

    calls: Sequence[Call[T]]


@dataclass(frozen=True, slots=True)
class Renew:
    """Renew the access token with the refresh token, unless someone renewed it since `stale` was current."""

    stale: object


@dataclass(frozen=True, slots=True)
class Emit(Generic[T]):
    """Hand an item to whoever iterates over the stream (streams only)."""

    item: T


Step: TypeAlias = Send | Pause | Now | Fetch[Any] | FetchAll[Any] | Renew
Plan: TypeAlias = Generator[Step, Any, T]
Stream: TypeAlias = Generator[Step | Emit[T], Any, None]


def fetch(call: Call[T]) -> Plan[T]:
    """The plan of one call."""
    result: T = yield Fetch(call)
    return result
