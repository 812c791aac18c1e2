"""The audit's use cases on an in-memory trail: recording what the bus delivers (once per event, an unstorable event
dead-lettered with nothing stored), reading a project's or the platform's trail, and verifying the chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel.consumer import EventConsumer, PermanentFailure
from kernel.errors import Forbidden, ValidationFailed
from kernel.events import Envelope
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Identity, Role
from kernel.keyset import PageRequest
from kernel.unit_of_work import FakeUnitOfWork
from services.audit import handlers
from services.audit.consumers import on_event
from services.audit.domain import GENESIS, Verification
from services.audit.handlers import AuditRepositories
from tests.fakes.audit import fake_audit, records, tamper

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
READER = Identity("user:r", "p1", Role.VIEWER)
ADMIN = Identity("user:a", "p1", Role.OWNER, admin=True)
PAGE = PageRequest(50)


def event(n: int, **changes: Any) -> Envelope:
    fields: dict[str, Any] = {
        "type": "instance.launched",
        "version": 1,
        "occurred_at": T0 + timedelta(seconds=n),
        "project_id": "p1",
        "correlation_id": f"corr-{n}",
        "subject": f"i-{n}",
        "payload": {"n": n},
    }
    return Envelope.model_validate({**fields, **changes})


@pytest.fixture
def uow() -> FakeUnitOfWork[AuditRepositories]:
    return fake_audit()


def consumer(uow: FakeUnitOfWork[AuditRepositories]) -> EventConsumer[AuditRepositories]:
    return EventConsumer(uow, name="audit", handle=on_event)


async def store(uow: FakeUnitOfWork[AuditRepositories], *envelopes: Envelope) -> None:
    for envelope in envelopes:
        assert await consumer(uow).handle_delivery(envelope)


async def listed(uow: FakeUnitOfWork[AuditRepositories], caller: Identity = READER, **query: Any) -> list[int]:
    page = await handlers.list_events(uow, caller, PAGE, **query)
    return [r.envelope.payload["n"] for r in page.items]


# --- recording ---------------------------------------------------------------------------------------------------


async def test_every_delivered_event_is_appended_to_the_chain_once(uow: FakeUnitOfWork[AuditRepositories]) -> None:
    audit = consumer(uow)
    first, second = event(1), event(2, project_id="p2")

    assert await audit.handle_delivery(first)
    assert await audit.handle_delivery(second)
    assert not await audit.handle_delivery(first)  # a redelivery

    trail = records(uow)
    assert [r.envelope.id for r in trail] == [first.id, second.id]
    assert trail[0].prev_hash == GENESIS and trail[1].prev_hash == trail[0].hash
    assert uow.inbox == {(first.id, "audit"), (second.id, "audit")}
    assert uow.events == []  # the audit records; it publishes nothing


@pytest.mark.parametrize("payload", [{"text": "nul \x00 byte"}, {"ratio": float("nan")}, {"big": float("inf")}])
async def test_an_unstorable_event_fails_permanently_and_stores_nothing(
    uow: FakeUnitOfWork[AuditRepositories], payload: dict[str, Any]
) -> None:
    audit = consumer(uow)
    with pytest.raises(PermanentFailure):
        await audit.handle_delivery(event(1, payload=payload))

    assert records(uow) == [] and uow.inbox == set() and uow.rolled_back == 1
    assert await audit.handle_delivery(event(2))
    assert await handlers.verify(uow) == Verification(True, 1, None)


# --- reading -----------------------------------------------------------------------------------------------------


async def test_a_reader_sees_its_projects_trail_only(uow: FakeUnitOfWork[AuditRepositories]) -> None:
    await store(uow, event(1), event(2, project_id="p2"), event(3, project_id=PLATFORM_SCOPE), event(4))

    assert await listed(uow) == [1, 4]
    newest_first = await handlers.list_events(uow, READER, PageRequest(50, order="desc"))
    assert [r.envelope.payload["n"] for r in newest_first.items] == [4, 1]
    assert await listed(uow, Identity("user:o", "p2", Role.OWNER)) == [2]


async def test_the_platform_scope_is_for_platform_admins_only(uow: FakeUnitOfWork[AuditRepositories]) -> None:
    await store(uow, event(1), event(2, project_id=PLATFORM_SCOPE))

    assert await listed(uow, ADMIN, scope="platform") == [2]
    assert await listed(uow, ADMIN) == [1]
    for caller in (READER, Identity("user:o", "p1", Role.OWNER)):
        with pytest.raises(Forbidden):
            await listed(uow, caller, scope="platform")


async def test_every_filter_narrows_the_trail(uow: FakeUnitOfWork[AuditRepositories]) -> None:
    await store(
        uow,
        event(1),
        event(2, type="instance.terminated", subject="i-1"),
        event(3, correlation_id="corr-1"),
        event(4),
    )

    assert await listed(uow, types=["instance.terminated"]) == [2]
    assert await listed(uow, types=["instance.terminated", "instance.launched"]) == [1, 2, 3, 4]
    assert await listed(uow, resource_id="i-1") == [1, 2]
    assert await listed(uow, correlation_id="corr-1") == [1, 3]
    assert await listed(uow, since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4)) == [2, 3]


async def test_since_after_until_is_refused(uow: FakeUnitOfWork[AuditRepositories]) -> None:
    with pytest.raises(ValidationFailed):
        await listed(uow, since=T0 + timedelta(seconds=1), until=T0)


# --- verifying ---------------------------------------------------------------------------------------------------


async def test_verify_finds_the_first_record_changed_behind_the_chains_back(
    uow: FakeUnitOfWork[AuditRepositories],
) -> None:
    assert await handlers.verify(uow) == Verification(True, 0, None)
    await store(uow, *(event(n) for n in range(1, 6)))
    assert await handlers.verify(uow) == Verification(True, 5, None)

    tamper(uow, 3, payload={"n": 30})

    assert await handlers.verify(uow) == Verification(False, 3, 3)
