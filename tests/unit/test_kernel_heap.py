"""A served app's heap is frozen once its lifespan has started, and every message still goes through as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from starlette.types import Message, Receive, Scope, Send

from kernel.heap import FrozenAfterStartup


@pytest.fixture
def thawed() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()


class Recorded:
    def __init__(self, *messages: Message) -> None:
        self.messages = messages
        self.scopes: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope["type"])
        for message in self.messages:
            await send(message)


async def run(app: FrozenAfterStartup, scope_type: str) -> tuple[list[Message], list[int]]:
    sent: list[Message] = []
    frozen_when_sent: list[int] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)
        frozen_when_sent.append(gc.get_freeze_count())

    await app({"type": scope_type}, receive, send)
    return sent, frozen_when_sent


@pytest.mark.usefixtures("thawed")
async def test_the_heap_is_frozen_once_the_app_has_started_before_the_server_hears_of_it() -> None:
    inner = Recorded({"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"})
    sent, frozen = await run(FrozenAfterStartup(inner), "lifespan")
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert frozen[0] > 0 and inner.scopes == ["lifespan"]


@pytest.mark.usefixtures("thawed")
async def test_requests_and_a_failed_start_freeze_nothing() -> None:
    response = Recorded({"type": "http.response.start", "status": 200}, {"type": "http.response.body"})
    sent, frozen = await run(FrozenAfterStartup(response), "http")
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    failed = Recorded({"type": "lifespan.startup.failed", "message": "no database"})
    sent, more = await run(FrozenAfterStartup(failed), "lifespan")
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert all(n == 0 for n in frozen + more)
