"""What the client's unit tests share: each runs against both clients (`AsyncClient` and `Client`) over a fake
network, on a clock that only the client's waits move."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from clanavi.client import AsyncClient, AsyncPages, Client, Pages
from services.audit.schemas import AuditEvent
from services.provisioner.schemas import InstanceOut
from tests.clock import FakeClock
from tests.network import Network, ok

URL = "http://clanavi.test:8080"
T = TypeVar("T")
AnyClient = AsyncClient | Client
MakeClient = Callable[..., AnyClient]


class Waits:
    """The waits a client made, each moving the clock it reads."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.seconds: list[float] = []

    def blocking(self, seconds: float) -> None:
        self.seconds.append(seconds)
        self.clock.advance(seconds)

    async def awaiting(self, seconds: float) -> None:
        self.blocking(seconds)


def client_of(mode: str, network: Network, waits: Waits, **options: Any) -> AnyClient:
    options.setdefault("token", "key-1")
    if mode == "async":
        return AsyncClient(URL, transport=network.transport(), sleep=waits.awaiting, clock=waits.clock, **options)
    return Client(URL, transport=network.transport(), sleep=waits.blocking, clock=waits.clock, **options)


async def done(value: Any) -> Any:
    """What an operation answered: awaited from the asynchronous client, as is from the synchronous one."""
    return await value if inspect.isawaitable(value) else value


async def every(pages: AsyncPages[Any] | Pages[Any]) -> list[Any]:
    if isinstance(pages, AsyncPages):
        return [item async for item in pages]
    return list(pages)


async def first(items: AsyncIterator[T] | Iterator[T], count: int) -> list[T]:
    """The first `count` items of a stream; the stream is then left (closed)."""
    taken: list[T] = []
    if isinstance(items, AsyncIterator):
        async for item in items:
            taken.append(item)
            if len(taken) == count:
                break
        await items.aclose()  # type: ignore[attr-defined]
    else:
        for item in items:
            taken.append(item)
            if len(taken) == count:
                break
        items.close()  # type: ignore[attr-defined]
    return taken


async def close(client: AnyClient) -> None:
    if isinstance(client, AsyncClient):
        await client.aclose()
    else:
        client.close()


MOMENT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def instance(instance_id: str = "i-1", state: str = "running", **fields: Any) -> InstanceOut:
    values: dict[str, Any] = {
        "id": instance_id,
        "project_id": "default",
        "cloud_id": "sim",
        "name": "web-1",
        "image_id": "img-debian-12",
        "flavor_id": "sim.small",
        "provider_id": None,
        "state": state,
        "pending_action": None,
        "reason": None,
        "private_ips": [],
        "created_at": MOMENT,
        "updated_at": MOMENT,
    }
    return InstanceOut.model_validate({**values, **fields})


def audit_event(number: int, seconds: float | None = None, kind: str = "instance.running") -> AuditEvent:
    """The trail's event `number`, occurred `seconds` (default: `number`) after MOMENT."""
    return AuditEvent(
        id=uuid.UUID(int=number),
        type=kind,
        version=1,
        occurred_at=MOMENT + timedelta(seconds=number if seconds is None else seconds),
        project_id="default",
        correlation_id=f"c-{number}",
        causation_id=None,
        subject="i-1",
        payload={},
        seq=number,
        received_at=MOMENT,
        hash="00",
        hash_version=2,
    )


def events_page(*events: AuditEvent) -> httpx.Response:
    """The trail's answer: one page of `events`, the last."""
    return ok({"items": [e.model_dump(mode="json") for e in events], "next_cursor": None})
