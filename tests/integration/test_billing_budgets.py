"""Budgets on real PostgreSQL and RabbitMQ: refused input named, thresholds crossed by usage rated from the bus, the
launch block published and lifted, servers stopped by command; what they publish caught off the bus by a queue bound
to everything (as the audit's is)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kernel.bus import Bus
from kernel.events import InstanceRequested, InstanceRunning, InstanceStopped, InstanceTerminated
from kernel.identity import Role
from kernel.settings import KernelSettings
from services.billing.budgets.domain import PROTECTED_TAG as PROTECTED
from tests.integration.failover_world import Caught, listen
from tests.integration.test_billing_service import (
    PROJECT,
    a_priced_cloud,
    app,
    bus,
    client,
    event,
    inbox_count,
    send,
    until,
)
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

__all__ = ["app", "bus", "client"]  # the billing app's fixtures, shared with test_billing_service

VIEWER = identity_headers(PROJECT, Role.VIEWER)
STRANGER = identity_headers("p-other")


@pytest.fixture
async def caught(kernel_settings: KernelSettings, app: FastAPI) -> AsyncIterator[Caught]:
    listener, caught = await listen(kernel_settings.amqp_url.get_secret_value(), kernel_settings.bus_prefix)
    yield caught
    await listener.close()


def published(caught: Caught, budget_id: str) -> list[dict[str, Any]]:
    """What the service published about the budget (its events, and the commands it sent for it), each once, in the
    order they arrived."""
    seen: dict[str, dict[str, Any]] = {}
    for _, e in caught.messages:
        about = e.payload.get("budget_id") == budget_id or e.payload.get("requested_by") == f"billing:{budget_id}"
        if about:
            seen.setdefault(str(e.id), {"type": e.type, "payload": e.payload})
    return list(seen.values())


BUDGET = {
    "name": "team blue",
    "scope": {"kind": "tag", "tag_key": "team", "tag_value": "blue"},
    "amount": "0.00001",
    "currency": "USD",
    "thresholds": [
        {"percent": 50, "actions": ["notify"]},
        {"percent": 100, "actions": ["block_launches", "stop_servers"]},
    ],
}


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"amount": None}, "body.amount"),
        ({"amount": "-5"}, "body.amount"),
        ({"currency": "XYZ"}, "body.currency"),
        ({"thresholds": [{"percent": 0}]}, "body.thresholds.0.percent"),
        ({"thresholds": [{"percent": 1001}]}, "body.thresholds.0.percent"),
    ],
)
async def test_a_bad_budget_is_refused_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], location: str
) -> None:
    body = {k: v for k, v in {**BUDGET, **change}.items() if v is not None}
    answer = await client.post("/v1/budgets", json=body)
    assert answer.status_code == 422, answer.text
    assert location in [e.get("location") for e in answer.json()["errors"]]
    assert (await client.get("/v1/budgets")).json()["items"] == []


async def test_a_budget_crossed_blocks_launches_stops_servers_and_a_raise_unblocks(
    client: httpx.AsyncClient, bus: Bus, caught: Caught, database_url: str
) -> None:
    made = await client.post("/v1/budgets", json=BUDGET)
    assert made.status_code == 201, made.text
    budget = made.json()
    assert budget["spent"] == "0" and budget["launches_blocked"] is False
    assert (await client.post("/v1/budgets", json=BUDGET)).status_code == 409
    assert (await client.post("/v1/budgets", json=BUDGET, headers=VIEWER)).status_code == 403
    assert (await client.get(f"/v1/budgets/{budget['id']}", headers=STRANGER)).status_code == 404

    await a_priced_cloud(bus)
    # A blue server that ran since the hour began and stopped a second ago: at sim.small's 0.02 an hour, over the
    # amount of 0.00001 after 1.8 s; two blue servers still running, one of them protected; a red one out of the
    # scope. Running since the hour began, no hour of theirs has ended: only the stop is rated, and with it the
    # budget is crossed while the other two run.
    now = datetime.now(UTC)
    if now.minute == 0 and now.second < 5:
        await asyncio.sleep(5)  # a run of a few seconds at least
        now = datetime.now(UTC)
    began = now.replace(minute=0, second=0, microsecond=0)
    envelopes = []
    servers = (("i-b1", {"team": "blue"}), ("i-b2", {"team": "blue"}), ("i-b3", {"team": "blue", PROTECTED: "true"}))
    for iid, tags in (*servers, ("i-r1", {"team": "red"})):
        requested = InstanceRequested(
            instance_id=iid, cloud_id="sim-b", name=iid, image_id="img", flavor_id="sim.small", tags=tags
        )
        running = InstanceRunning(
            instance_id=iid, cloud_id="sim-b", provider_id=iid, flavor_id="sim.small", previous_state="pending"
        )
        envelopes += [event(requested, began), event(running, began)]
    stopped = InstanceStopped(instance_id="i-b1", cloud_id="sim-b", provider_id="i-b1")
    handled = await inbox_count(database_url)
    await send(bus, envelopes)

    async def all_running() -> bool:
        return await inbox_count(database_url) >= handled + len(envelopes)

    # The stop crosses the budget; the servers running then are those stopped, so billing knows them first.
    await until(all_running)
    await send(bus, [event(stopped, now - timedelta(seconds=1))])

    async def blocked() -> bool:
        return bool((await client.get(f"/v1/budgets/{budget['id']}")).json()["launches_blocked"])

    await until(blocked)
    await caught.wait(lambda: [e for e in published(caught, budget["id"]) if e["type"] == "provisioner.stop_instance"])
    events = published(caught, budget["id"])
    crossed = [e["payload"] for e in events if e["type"] == "budget.threshold_crossed"]
    assert sorted(c["percent"] for c in crossed) == [50, 100]
    assert all(c["currency"] == "USD" and c["scope"]["tag_key"] == "team" for c in crossed)
    assert [e["payload"]["budget_id"] for e in events if e["type"] == "budget.launches_blocked"] == [budget["id"]]
    stops = sorted(e["payload"]["instance_id"] for e in events if e["type"] == "provisioner.stop_instance")
    assert stops == ["i-b2"]
    assert all(
        e["payload"]["requested_by"] == f"billing:{budget['id']}"
        for e in events
        if e["type"] == "provisioner.stop_instance"
    )

    raised = await client.put(f"/v1/budgets/{budget['id']}", json={**BUDGET, "amount": "100000"})
    assert raised.status_code == 200 and raised.json()["launches_blocked"] is False
    await caught.wait(lambda: [e for e in published(caught, budget["id"]) if e["type"].endswith("_unblocked")])
    events = published(caught, budget["id"])
    assert [e["type"] for e in events if e["type"].startswith("budget.launches_")] == [
        "budget.launches_blocked",
        "budget.launches_unblocked",
    ]
    listed = (await client.get("/v1/budgets", headers=VIEWER)).json()["items"]
    assert [b["id"] for b in listed] == [budget["id"]]
    assert (await client.delete(f"/v1/budgets/{budget['id']}", headers=VIEWER)).status_code == 403
    assert (await client.delete(f"/v1/budgets/{budget['id']}")).status_code == 204
    assert (await client.get(f"/v1/budgets/{budget['id']}")).status_code == 404


async def test_usage_rated_before_its_launch_event_counts_for_its_tags_budget_once_that_is_handled(
    client: httpx.AsyncClient, bus: Bus, caught: Caught, database_url: str
) -> None:
    late = {**BUDGET, "name": "team late", "scope": {"kind": "tag", "tag_key": "team", "tag_value": "late"}}
    made = await client.post("/v1/budgets", json={**late, "thresholds": [{"percent": 100, "actions": ["notify"]}]})
    assert made.status_code == 201, made.text
    budget = made.json()
    await a_priced_cloud(bus)
    # The server's start and termination are handled before its launch: rated, under no tag, so outside the budget.
    now = datetime.now(UTC)
    ids = {"instance_id": "i-late", "cloud_id": "sim-b", "provider_id": "i-late"}
    handled = await inbox_count(database_url)
    usage = [
        event(InstanceRunning(**ids, flavor_id="sim.small", previous_state="pending"), now - timedelta(minutes=10)),
        event(InstanceTerminated(**ids), now - timedelta(minutes=1)),
    ]
    await send(bus, usage)
    await until(lambda: _handled(database_url, handled + len(usage)))
    found = (await client.get(f"/v1/budgets/{budget['id']}")).json()
    assert found["spent"] == "0"
    assert [e["type"] for e in published(caught, budget["id"])] == ["budget.created"]

    # Its launch's event tells its tag: the lines are shown under it, and the budget is crossed at once.
    requested = InstanceRequested(
        instance_id="i-late",
        cloud_id="sim-b",
        name="i-late",
        image_id="img",
        flavor_id="sim.small",
        tags={"team": "late"},
    )
    await send(bus, [event(requested, now - timedelta(minutes=11))])
    await caught.wait(lambda: [e for e in published(caught, budget["id"]) if e["type"] == "budget.threshold_crossed"])
    spent = (await client.get(f"/v1/budgets/{budget['id']}")).json()["spent"]
    assert Decimal(spent) > Decimal("0.00001")


async def _handled(database_url: str, n: int) -> bool:
    return await inbox_count(database_url) >= n
