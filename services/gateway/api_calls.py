"""The API calls the gateway has seen, on their way to the audit: recorded in memory on the request's path (no I/O),
then written in batches to the gateway's outbox, from which the relay publishes them as `api.called` events.

Bound on loss: a call is in memory only until the next flush (every `flush_interval` seconds, or at once when
`max_batch` are waiting). A gateway that stops normally flushes what it holds; one killed outright loses at most the
calls of its last `flush_interval`. While the database cannot be written, at most `max_pending` calls wait; beyond
that the oldest are dropped and counted in the log, rather than letting memory grow without end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from kernel.events import ApiCalled, Envelope, new_event

log = logging.getLogger(__name__)

__all__ = ["ApiCall", "ApiCallLog", "ResolveRoute", "WriteEvents", "no_routes"]

# Calls made into events between two chances for the requests in flight to run (each takes some tens of µs).
_YIELD_EVERY = 32

WriteEvents = Callable[[Sequence[Envelope]], Awaitable[None]]
# The route template a call matched and its path parameters, found off the request's path.
ResolveRoute = Callable[[str, str], tuple[str | None, Mapping[str, object]]]


def no_routes(method: str, path: str) -> tuple[str | None, Mapping[str, object]]:
    return None, {}


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One call as the middleware saw it; turned into an event off the request's path."""

    occurred_at: float  # time.time() when the call arrived
    project_id: str
    correlation_id: str
    principal: str
    method: str
    path: str
    query: str
    client_address: str
    status: int
    duration_ms: float
    user_agent: str | None

    def event(self, resolve: ResolveRoute = no_routes) -> Envelope:
        route, params = resolve(self.method, self.path)
        payload = ApiCalled(
            principal=self.principal,
            method=self.method,
            path=self.path,
            route=route,
            # The last id in the path: `/v1/instances/{instance_id}/actions/{action}` is about the instance.
            resource_id=_last_id(params),
            query=self.query,
            client_address=self.client_address,
            status=self.status,
            duration_ms=round(self.duration_ms, 3),
            user_agent=self.user_agent,
        )
        return new_event(
            payload,
            project_id=self.project_id,
            correlation_id=self.correlation_id,
            occurred_at=datetime.fromtimestamp(self.occurred_at, UTC),
        )


def _last_id(params: Mapping[str, object]) -> str | None:
    ids = [str(value) for name, value in params.items() if name.endswith("_id")]
    return ids[-1] if ids else None


class ApiCallLog:
    def __init__(
        self,
        write: WriteEvents,
        *,
        resolve: ResolveRoute = no_routes,
        flush_interval: float = 0.25,
        max_batch: int = 500,
        max_pending: int = 100_000,
    ) -> None:
        self._write = write
        self.resolve = resolve
        self._interval = flush_interval
        self._max_batch = max_batch
        self._pending: deque[ApiCall] = deque(maxlen=max_pending)
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self.dropped = 0
        self.written = 0

    def __len__(self) -> int:
        return len(self._pending)

    def record(self, call: ApiCall) -> None:
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1  # the deque drops the oldest
        self._pending.append(call)
        if len(self._pending) >= self._max_batch:
            self._full.set()

    async def flush(self) -> int:
        """Write what is waiting, batch by batch; what fails to be written waits for the next flush. The number
        written."""
        written = 0
        async with self._lock:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(self._max_batch, len(self._pending)))]
                try:
                    await self._write(await self._events(batch))
                except Exception:
                    # Back at the front, in order, for the next flush (the oldest go first if the bound is reached).
                    self._pending.extendleft(reversed(batch))
                    log.warning("could not write %d API calls to the outbox; will retry", len(batch), exc_info=True)
                    break
                written += len(batch)
        self.written += written
        return written

    async def _events(self, batch: Sequence[ApiCall]) -> list[Envelope]:
        """The batch's events, made a few at a time: the requests being served wait no longer than a few calls."""
        events = []
        for start in range(0, len(batch), _YIELD_EVERY):
            events += [call.event(self.resolve) for call in batch[start : start + _YIELD_EVERY]]
            await asyncio.sleep(0)
        return events

    async def close(self) -> None:
        """Write what is still waiting: the gateway is stopping."""
        await self.flush()

    async def run(self) -> None:
        """Flush every `flush_interval`, or as soon as a batch is full, until cancelled."""
        while True:
            try:
                await asyncio.wait_for(self._full.wait(), self._interval)
            except TimeoutError:
                pass
            self._full.clear()
            started = time.monotonic()
            await self.flush()
            if self.dropped:
                log.warning("%d API calls were dropped while the outbox could not be written", self.dropped)
                self.dropped = 0
            # A failing database is not hammered: at least one interval between attempts.
            if self._pending:
                await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))
