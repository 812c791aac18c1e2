"""The two drivers: each carries out plans (`_steps`) over its httpx client, the asynchronous one awaiting every
step, the synchronous one blocking on it; and each gives listings their pages and streams their items.

What the two do alike is done once, by `_Walk`: advancing a plan with what its last step came to, running a call's
own plan (`exchange`) where the plan fetches it, reading the clock. A driver carries out only the steps that wait on
something: sending, pausing, several calls at once, a renewal of the tokens under its lock."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import closing
from typing import Any, Generic, Self, TypeAlias, TypeVar

import httpx
from pydantic import BaseModel

from clanavi.client._calls import Call
from clanavi.client._exchange import Context, exchange
from clanavi.client._pages import Listing, walk
from clanavi.client._retry import RetryPolicy
from clanavi.client._session import Session, renewal
from clanavi.client._steps import Emit, Fetch, FetchAll, Now, Pause, Plan, Renew, Send, Step, Stream, fetch
from kernel.pagination import Page

T = TypeVar("T")
B = TypeVar("B", bound=BaseModel)

__all__ = ["AsyncDriver", "AsyncPages", "Pages", "SyncDriver"]

Clock = Callable[[], float]
# The steps a driver carries out itself.
Waiting: TypeAlias = Send | Pause | FetchAll[Any] | Renew


def _request(http: httpx.AsyncClient | httpx.Client, step: Send) -> httpx.Request:
    return http.build_request(
        step.method,
        step.path,
        params=list(step.params),
        headers=dict(step.headers),
        content=step.content,
        data=dict(step.form) if step.form is not None else None,
    )


class _Walk:
    """A plan being carried out. Iterating over it gives the steps left to the driver (and the items a stream
    emits); the driver hands back what came of each as `reply`, or the exception it raised as `error`, which the
    plan decides what to do with. `result` is what the plan answered at its end.

    A `Fetch` puts the call's own plan on top of the one that asked: the call's answer (or error) goes back to the
    asking plan when the call's plan ends. Closing the walk closes every plan on it, the innermost first."""

    def __init__(
        self, plan: Plan[Any] | Stream[Any], context: Context, session: Session, policy: RetryPolicy, clock: Clock
    ) -> None:
        self._plans: list[Generator[Step | Emit[Any], Any, Any]] = [plan]
        self.context = context
        self._session, self._policy, self._clock = session, policy, clock
        self.reply: Any = None
        self.error: Exception | None = None
        self.result: Any = None

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Waiting | Emit[Any]:
        while True:
            plan = self._plans[-1]
            reply, error = self.reply, self.error
            self.reply, self.error = None, None
            try:
                step = plan.throw(error) if error is not None else plan.send(reply)
            except StopIteration as stop:
                self._plans.pop()
                if not self._plans:
                    self.result = stop.value
                    raise StopIteration from None
                self.reply = stop.value
                continue
            except Exception as exc:  # a call's plan failed: the plan that asked for the call decides
                if len(self._plans) == 1:
                    raise
                self._plans.pop()
                self.error = exc
                continue
            if isinstance(step, Now):
                self.reply = self._clock()
            elif isinstance(step, Fetch):
                self._plans.append(self._fetching(step.call))
            else:
                return step

    def _fetching(self, call: Call[T]) -> Plan[T]:
        response = yield from exchange(call, self.context, self._session, self._policy)
        return call.answer(response)

    def close(self) -> None:
        while self._plans:
            self._plans.pop().close()


class _Driver:
    """What both drivers hold: the session and retry policy every call goes by, and the clock plans read."""

    def __init__(self, session: Session, policy: RetryPolicy, clock: Clock) -> None:
        self.session, self.policy, self._clock = session, policy, clock

    def _walk(self, plan: Plan[Any] | Stream[Any], context: Context) -> closing[_Walk]:
        return closing(_Walk(plan, context, self.session, self.policy, self._clock))


class AsyncDriver(_Driver):
    def __init__(
        self,
        http: httpx.AsyncClient,
        session: Session,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Clock = time.monotonic,
        concurrency: int = 8,
    ) -> None:
        super().__init__(session, policy, clock)
        self.http, self._sleep = http, sleep
        self._renewing = asyncio.Lock()
        self._concurrency = concurrency

    async def run(self, plan: Plan[T], context: Context) -> T:
        with self._walk(plan, context) as steps:
            for step in steps:
                await self._answer(steps, step)
            result: T = steps.result
            return result

    async def stream(self, plan: Stream[T], context: Context) -> AsyncIterator[T]:
        with self._walk(plan, context) as steps:
            for step in steps:
                if isinstance(step, Emit):
                    yield step.item
                else:
                    await self._answer(steps, step)

    def pages(self, listing: Listing[B], context: Context) -> AsyncPages[B]:
        return AsyncPages(self, context, listing)

    async def _answer(self, steps: _Walk, step: Waiting | Emit[Any]) -> None:
        try:
            steps.reply = await self._do(step, steps.context)
        except Exception as exc:  # handed to the plan, which decides
            steps.error = exc

    async def _do(self, step: Waiting | Emit[Any], context: Context) -> Any:
        if isinstance(step, Send):
            return await self.http.send(_request(self.http, step))
        if isinstance(step, Pause):
            await self._sleep(step.seconds)
            return None
        if isinstance(step, FetchAll):
            return await self._fetch_all(step, context)
        if isinstance(step, Renew):
            async with self._renewing:
                await self.run(renewal(self.session, step.stale), context)
            return None
        raise TypeError(f"not a step of a plan: {step!r}")

    async def _fetch_all(self, step: FetchAll[Any], context: Context) -> list[Any]:
        bound = asyncio.Semaphore(self._concurrency)

        async def one(plan: Plan[Any]) -> Any:
            async with bound:
                return await self.run(plan, context)

        results = await asyncio.gather(*(one(fetch(call)) for call in step.calls), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results


class AsyncPages(Generic[B]):
    """A listing, read as it is iterated over: `async for item in pages` walks every page, asking for the next one
    only when the items before are taken; `pages()` gives the pages themselves, `page(cursor)` one page."""

    def __init__(self, driver: AsyncDriver, context: Context, listing: Listing[B]) -> None:
        self._driver, self._context, self.listing = driver, context, listing

    async def page(self, cursor: str | None = None) -> Page[B]:
        return await self._driver.run(fetch(self.listing.call(cursor)), self._context)

    def pages(self) -> AsyncIterator[Page[B]]:
        return self._driver.stream(walk(self.listing), self._context)

    async def __aiter__(self) -> AsyncIterator[B]:
        async for page in self.pages():
            for item in page.items:
                yield item


class SyncDriver(_Driver):
    def __init__(
        self,
        http: httpx.Client,
        session: Session,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], object] = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(session, policy, clock)
        self.http, self._sleep = http, sleep
        self._renewing = threading.Lock()

    def run(self, plan: Plan[T], context: Context) -> T:
        with self._walk(plan, context) as steps:
            for step in steps:
                self._answer(steps, step)
            result: T = steps.result
            return result

    def stream(self, plan: Stream[T], context: Context) -> Iterator[T]:
        with self._walk(plan, context) as steps:
            for step in steps:
                if isinstance(step, Emit):
                    yield step.item
                else:
                    self._answer(steps, step)

    def pages(self, listing: Listing[B], context: Context) -> Pages[B]:
        return Pages(self, context, listing)

    def _answer(self, steps: _Walk, step: Waiting | Emit[Any]) -> None:
        try:
            steps.reply = self._do(step, steps.context)
        except Exception as exc:  # handed to the plan, which decides
            steps.error = exc

    def _do(self, step: Waiting | Emit[Any], context: Context) -> Any:
        if isinstance(step, Send):
            return self.http.send(_request(self.http, step))
        if isinstance(step, Pause):
            self._sleep(step.seconds)
            return None
        if isinstance(step, FetchAll):
            return [self.run(fetch(call), context) for call in step.calls]
        if isinstance(step, Renew):
            with self._renewing:
                self.run(renewal(self.session, step.stale), context)
            return None
        raise TypeError(f"not a step of a plan: {step!r}")


class Pages(Generic[B]):
    """A listing, read as it is iterated over: `for item in pages` walks every page, asking for the next one only
    when the items before are taken; `pages()` gives the pages themselves, `page(cursor)` one page."""

    def __init__(self, driver: SyncDriver, context: Context, listing: Listing[B]) -> None:
        self._driver, self._context, self.listing = driver, context, listing

    def page(self, cursor: str | None = None) -> Page[B]:
        return self._driver.run(fetch(self.listing.call(cursor)), self._context)

    def pages(self) -> Iterator[Page[B]]:
        return self._driver.stream(walk(self.listing), self._context)

    def __iter__(self) -> Iterator[B]:
        for page in self.pages():
            yield from page.items
