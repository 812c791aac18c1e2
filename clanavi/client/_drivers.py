"""The two drivers: each carries out plans (`_steps`) over its httpx client, the asynchronous one awaiting every
step, the synchronous one blocking on it; and each gives listings their pages and streams their items."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from clanavi.client._exchange import Context, exchange
from clanavi.client._pages import Listing, walk
from clanavi.client._retry import RetryPolicy
from clanavi.client._session import Session, renewal
from clanavi.client._steps import Emit, Fetch, FetchAll, Now, Pause, Plan, Renew, Send, Step, Stream, fetch
from kernel.pagination import Page

T = TypeVar("T")
B = TypeVar("B", bound=BaseModel)

__all__ = ["AsyncDriver", "AsyncPages", "Pages", "SyncDriver"]


def _request(http: httpx.AsyncClient | httpx.Client, step: Send) -> httpx.Request:
    return http.build_request(
        step.method,
        step.path,
        params=list(step.params),
        headers=dict(step.headers),
        content=step.content,
        data=dict(step.form) if step.form is not None else None,
    )


def _advance(plan: Stream[Any] | Plan[Any], reply: Any, error: Exception | None) -> Step | Emit[Any]:
    """The plan's next step, after the last one answered `reply` or raised `error`; StopIteration at its end."""
    return plan.throw(error) if error is not None else plan.send(reply)


class AsyncDriver:
    def __init__(
        self,
        http: httpx.AsyncClient,
        session: Session,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        concurrency: int = 8,
    ) -> None:
        self.http, self.session, self.policy = http, session, policy
        self._sleep, self._clock = sleep, clock
        self._renewing = asyncio.Lock()
        self._concurrency = concurrency

    async def run(self, plan: Plan[T], context: Context) -> T:
        reply: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    step = _advance(plan, reply, error)
                except StopIteration as stop:
                    result: T = stop.value
                    return result
                reply, error = None, None
                try:
                    reply = await self._do(step, context)
                except Exception as exc:  # handed to the plan, which decides
                    error = exc
        finally:
            plan.close()

    async def stream(self, plan: Stream[T], context: Context) -> AsyncIterator[T]:
        reply: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    step = _advance(plan, reply, error)
                except StopIteration:
                    return
                reply, error = None, None
                if isinstance(step, Emit):
                    yield step.item
                    continue
                try:
                    reply = await self._do(step, context)
                except Exception as exc:  # handed to the plan, which decides
                    error = exc
        finally:
            plan.close()

    def pages(self, listing: Listing[B], context: Context) -> AsyncPages[B]:
        return AsyncPages(self, context, listing)

    async def _do(self, step: Step | Emit[Any], context: Context) -> Any:
        if isinstance(step, Send):
            return await self.http.send(_request(self.http, step))
        if isinstance(step, Pause):
            await self._sleep(step.seconds)
            return None
        if isinstance(step, Now):
            return self._clock()
        if isinstance(step, Fetch):
            response = await self.run(exchange(step.call, context, self.session, self.policy), context)
            return step.call.answer(response)
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


class SyncDriver:
    def __init__(
        self,
        http: httpx.Client,
        session: Session,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http, self.session, self.policy = http, session, policy
        self._sleep, self._clock = sleep, clock
        self._renewing = threading.Lock()

    def run(self, plan: Plan[T], context: Context) -> T:
        reply: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    step = _advance(plan, reply, error)
                except StopIteration as stop:
                    result: T = stop.value
                    return result
                reply, error = None, None
                try:
                    reply = self._do(step, context)
                except Exception as exc:  # handed to the plan, which decides
                    error = exc
        finally:
            plan.close()

    def stream(self, plan: Stream[T], context: Context) -> Iterator[T]:
        reply: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    step = _advance(plan, reply, error)
                except StopIteration:
                    return
                reply, error = None, None
                if isinstance(step, Emit):
                    yield step.item
                    continue
                try:
                    reply = self._do(step, context)
                except Exception as exc:  # handed to the plan, which decides
                    error = exc
        finally:
            plan.close()

    def pages(self, listing: Listing[B], context: Context) -> Pages[B]:
        return Pages(self, context, listing)

    def _do(self, step: Step | Emit[Any], context: Context) -> Any:
        if isinstance(step, Send):
            return self.http.send(_request(self.http, step))
        if isinstance(step, Pause):
            self._sleep(step.seconds)
            return None
        if isinstance(step, Now):
            return self._clock()
        if isinstance(step, Fetch):
            response = self.run(exchange(step.call, context, self.session, self.policy), context)
            return step.call.answer(response)
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
