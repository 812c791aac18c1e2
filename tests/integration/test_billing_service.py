"""The billing service on real PostgreSQL and RabbitMQ: lifecycle events and price catalogs published on the bus as
the provisioner publishes them, in any order and more than once; the costs read over HTTP."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from kernel.bus import Bus
from kernel.events import (
    CloudAdded,
    Envelope,
    EventPayload,
    InstanceRequested,
    InstanceRunning,
    InstanceStopped,
    InstanceTerminated,
    VolumeCreated,
    VolumeDeleted,
    new_event,
)
from kernel.identity import Role
from kernel.settings import KernelSettings
from services.billing.app import create_app
from services.billing.settings import BillingSettings
from services.provisioner.prices.published import builtin_pages
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

PROJECT = "p-billing"
OWNER = identity_headers(PROJECT)
VIEWER = identity_headers(PROJECT, Role.VIEWER)
STRANGER = identity_headers("p-other")
# sim.small's built-in hourly price.
SMALL = Decimal("0.0200")
# Ten hours ago, 13 s past the hour: every lifetime below has ended by now, and what a shuffled delivery leaves
# running for a while is rated over a few hours only.
T0 = (datetime.now(UTC) - timedelta(hours=10)).replace(minute=0, second=13, microsecond=0)
LIFETIMES = int(os.environ.get("BILLING_LIFETIMES", "1000"))


@pytest.fixture
async def app(kernel_settings: KernelSettings) -> AsyncIterator[FastAPI]:
    app = create_app(BillingSettings(kernel=kernel_settings, rating_interval_seconds=0.2))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://billing", headers=OWNER
    ) as client:
        yield client


@pytest.fixture
async def bus(kernel_settings: KernelSettings, app: FastAPI) -> AsyncIterator[Bus]:
    bus = Bus(kernel_settings.amqp_url.get_secret_value(), prefix=kernel_settings.bus_prefix, service="test")
    await bus.connect()
    yield bus
    await bus.close()


def event(payload: EventPayload, at: datetime, project: str = PROJECT) -> Envelope:
    return new_event(payload, project_id=project, correlation_id="test", occurred_at=at)


async def send(bus: Bus, envelopes: list[Envelope]) -> None:
    for n in range(0, len(envelopes), 100):
        chunk = envelopes[n : n + 100]
        await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in chunk])


async def a_priced_cloud(bus: Bus, cloud_id: str = "sim-b") -> None:
    added = CloudAdded(
        cloud_id=cloud_id,
        name=cloud_id,
        driver="simcloud",
        project=PROJECT,
        source="api",
        config_fields=[],
        credential_fields=[],
    )
    await send(bus, [event(added, T0), *(event(p, T0) for p in builtin_pages(added))])


async def until(check: Callable[[], Awaitable[Any]], within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in time: {found}")
        await _pause()


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.1)


async def groups(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = await client.get(
            "/v1/costs", params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def lifetimes(n: int, rng: random.Random) -> tuple[list[Envelope], dict[str, int]]:
    """`n` instances' lifecycle events (random stops, starts, a termination), and the seconds each ran."""
    envelopes: list[Envelope] = []
    ran: dict[str, int] = {}
    for k in range(n):
        iid = f"i-{k:04d}"
        t = T0 + timedelta(seconds=rng.randint(1, 7200))
        requested = InstanceRequested(
            instance_id=iid,
            cloud_id="sim-b",
            name=iid,
            image_id="img-linux",
            flavor_id="sim.small",
            tags={"team": "blue" if k % 2 else "red"},
        )
        envelopes.append(event(requested, t))
        seconds = 0
        runs = rng.randint(1, 4)
        for run in range(runs):
            t += timedelta(seconds=rng.randint(1, 600))
            up = rng.randint(1, 5000)
            envelopes.append(event(InstanceRunning(**_ids(iid), flavor_id="sim.small", previous_state="x"), t))
            t += timedelta(seconds=up)
            seconds += up
            if run == runs - 1 and rng.random() < 0.5:
                break  # terminated while running
            envelopes.append(event(InstanceStopped(**_ids(iid)), t))
            t += timedelta(seconds=rng.randint(0, 600))
        envelopes.append(event(InstanceTerminated(**_ids(iid)), t))
        ran[iid] = seconds
    return envelopes, ran


def _ids(iid: str) -> dict[str, Any]:
    return {"instance_id": iid, "cloud_id": "sim-b", "provider_id": f"sim-{iid}"}


async def inbox_count(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM billing.inbox"))
    finally:
        await conn.close()


async def line_count(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM billing.costs"))
    finally:
        await conn.close()


async def test_a_thousand_lifetimes_in_any_order_are_billed_their_seconds_exactly_and_replays_change_nothing(
    client: httpx.AsyncClient, bus: Bus, database_url: str
) -> None:
    await a_priced_cloud(bus)
    rng = random.Random(17)
    envelopes, ran = lifetimes(LIFETIMES, rng)
    # Every event in any order: a stop rated before its start, a termination before the runs, the launch that tells
    # what an instance is shown under (its tags) after all of them.
    shuffled = list(envelopes)
    rng.shuffle(shuffled)
    await send(bus, shuffled)
    total = sum(ran.values())

    async def billed() -> list[dict[str, Any]] | None:
        found = await groups(client, group_by="resource_type")
        done = found and Decimal(found[0]["consumed_seconds"]) == total
        return found if done else None

    (whole,) = await until(billed, within=120)
    # Each line is kept to 12 places; summed over the lines they differ from the exact figure by far less than 1e-6.
    assert abs(Decimal(whole["cost"]) - SMALL * total / 3600) < Decimal("1e-6")
    per_resource = {
        g["group"]["resource"]: Decimal(g["consumed_seconds"]) for g in await groups(client, group_by="resource")
    }
    assert per_resource == {iid: Decimal(s) for iid, s in ran.items()}

    # Every event again under its own id, and every fact again under a new id: nothing more is billed.
    lines_before = await line_count(database_url)
    seen = await inbox_count(database_url)
    again = [
        new_event(parse(e), project_id=PROJECT, correlation_id="replay", occurred_at=e.occurred_at) for e in envelopes
    ]
    await send(bus, envelopes + again)
    await until(lambda: _at_least(database_url, seen + len(again)), within=120)
    assert await line_count(database_url) == lines_before
    (after,) = await groups(client, group_by="resource_type")
    assert after == whole

    # Showback by tag, and another project sees none of it.
    by_team = {
        g["group"]["tag:team"]: Decimal(g["consumed_seconds"]) for g in await groups(client, group_by="tag:team")
    }
    assert by_team == {
        "red": sum(Decimal(s) for i, s in ran.items() if int(i[2:]) % 2 == 0),
        "blue": sum(Decimal(s) for i, s in ran.items() if int(i[2:]) % 2 == 1),
    }
    other = await client.get("/v1/costs", headers=STRANGER, params={"group_by": "resource"})
    assert other.status_code == 200 and other.json()["items"] == []


def parse(envelope: Envelope) -> EventPayload:
    from kernel.events import parse_payload

    return parse_payload(envelope)


async def _at_least(database_url: str, n: int) -> bool:
    return await inbox_count(database_url) >= n


async def test_a_late_stop_is_a_correction_and_the_export_is_focus(client: httpx.AsyncClient, bus: Bus) -> None:
    await a_priced_cloud(bus)
    iid = f"i-{uuid.uuid4().hex[:6]}"
    start = T0 + timedelta(minutes=10)
    req = InstanceRequested(
        instance_id=iid, cloud_id="sim-b", name="web", image_id="img", flavor_id="sim.small", cluster_id="cl-1"
    )
    await send(
        bus,
        [
            event(req, start),
            event(InstanceRunning(**_ids(iid), flavor_id="sim.small", previous_state="pending"), start),
            event(InstanceTerminated(**_ids(iid)), start + timedelta(seconds=600)),
        ],
    )

    async def seconds() -> Decimal | None:
        found = await groups(client, group_by="resource", resource_id=iid)
        return Decimal(found[0]["consumed_seconds"]) if found else None

    await until(lambda: _equals(seconds, Decimal(600)))
    before = await export(client, iid)
    # The stop that happened at 300 s arrives late: the run is corrected by a line of its own, never rewritten.
    await send(bus, [event(InstanceStopped(**_ids(iid)), start + timedelta(seconds=300))])
    await until(lambda: _equals(seconds, Decimal(300)))
    rows = await export(client, iid)
    assert rows[: len(before)] == before
    (fix,) = rows[len(before) :]
    assert fix["ChargeClass"] == "Correction" and Decimal(fix["ConsumedQuantity"]) == -300
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    assert fix["ChargePeriodStart"] == start.strftime(stamp)
    assert fix["ChargePeriodEnd"] == (start + timedelta(seconds=300)).strftime(stamp)
    assert fix["x_ClusterId"] == "cl-1" and fix["BillingCurrency"] == "USD" and fix["ChargeCategory"] == "Usage"
    assert sum(Decimal(r["BilledCost"]) for r in rows) == (SMALL * 300 / 3600).quantize(Decimal("1e-12"))
    jsonl = await client.get("/v1/costs/export", params={"format": "jsonl", "resource_id": iid})
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [line["x_LineId"] for line in lines] == [r["x_LineId"] for r in rows]
    assert lines[-1]["ChargeClass"] == "Correction" and lines[-1]["Tags"] == {}
    by_cluster = await groups(client, group_by=["cluster", "day"], cluster_id="cl-1")
    assert [(g["group"], g["currency"]) for g in by_cluster] == [
        ({"cluster": "cl-1", "day": start.strftime("%Y-%m-%d")}, "USD")
    ]


async def export(client: httpx.AsyncClient, resource_id: str) -> list[dict[str, str]]:
    answer = await client.get("/v1/costs/export", params={"format": "csv", "resource_id": resource_id})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


async def _equals(read: Callable[[], Awaitable[Any]], value: Any) -> bool:
    return bool(await read() == value)


async def test_lines_rated_before_the_launch_event_are_shown_under_what_it_tells(
    client: httpx.AsyncClient, bus: Bus
) -> None:
    await a_priced_cloud(bus)
    iid = f"i-{uuid.uuid4().hex[:6]}"
    start = T0 + timedelta(minutes=20)
    # The server's start and termination are handled first (two consumers, a redelivery): rated, shown under nothing.
    running = event(InstanceRunning(**_ids(iid), flavor_id="sim.small", previous_state="pending"), start)
    await send(bus, [running, event(InstanceTerminated(**_ids(iid)), start + timedelta(seconds=900))])

    async def seconds() -> Decimal | None:
        found = await groups(client, group_by="resource", resource_id=iid)
        return Decimal(found[0]["consumed_seconds"]) if found else None

    await until(lambda: _equals(seconds, Decimal(900)))
    before = await export(client, iid)
    assert {(r["ResourceName"], r["Tags"], r["x_ClusterId"]) for r in before} == {("", "{}", "")}

    # Then the launch's event, which tells its name, tags and cluster: the same lines, what they cost unchanged,
    # are shown under them, and showback by tag and by cluster counts every second.
    req = InstanceRequested(
        instance_id=iid,
        cloud_id="sim-b",
        name="late-web",
        image_id="img",
        flavor_id="sim.small",
        cluster_id="cl-late",
        tags={"team": "late"},
    )
    await send(bus, [event(req, start - timedelta(seconds=5))])

    async def described() -> list[dict[str, str]] | None:
        rows = await export(client, iid)
        return rows if all(r["ResourceName"] == "late-web" for r in rows) else None

    after = await until(described)
    assert [(r["x_LineId"], r["BilledCost"], r["ConsumedQuantity"]) for r in after] == [
        (r["x_LineId"], r["BilledCost"], r["ConsumedQuantity"]) for r in before
    ]
    assert {(json.loads(r["Tags"])["team"], r["x_ClusterId"]) for r in after} == {("late", "cl-late")}
    (team,) = await groups(client, group_by="tag:team", tag="team=late")
    assert team["group"] == {"tag:team": "late"} and Decimal(team["consumed_seconds"]) == 900
    (cluster,) = await groups(client, group_by="cluster", cluster_id="cl-late")
    assert Decimal(cluster["consumed_seconds"]) == 900


async def test_volumes_prices_that_arrive_late_and_a_rerate(client: httpx.AsyncClient, bus: Bus) -> None:
    # The volume's usage is told before its account's prices: rated at no cost, then re-rated when they arrive.
    await send(
        bus,
        [
            event(
                VolumeCreated(
                    volume_id="vol-1",
                    cloud_id="sim-b",
                    provider_id=None,
                    name="d",
                    size_gb=73,
                    zone=None,
                    snapshot_id=None,
                ),
                T0,
            ),
            event(VolumeDeleted(volume_id="vol-1", cloud_id="sim-b", provider_id=None), T0 + timedelta(hours=10)),
        ],
    )

    async def volume() -> list[dict[str, Any]]:
        return await groups(client, group_by="resource", resource_id="vol-1")

    unpriced = await until(volume)
    assert Decimal(unpriced[0]["cost"]) == 0 and Decimal(unpriced[0]["consumed_seconds"]) == 36000
    await a_priced_cloud(bus)
    # sim's volume price: 0.1 per GB-month, 73 GB for 10 of a month's 730 hours.
    await until(lambda: _equals(lambda: _cost(volume), Decimal("0.1")))
    rerated = await client.post(
        "/v1/costs/rerate", json={"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}
    )
    assert rerated.status_code == 200 and rerated.json()["lines"] == 0
    refused = await client.post(
        "/v1/costs/rerate", headers=VIEWER, json={"start": T0.isoformat(), "end": T0.isoformat()}
    )
    assert refused.status_code == 403
    bad = await client.post("/v1/costs/rerate", json={"start": T0.isoformat(), "end": T0.isoformat()})
    assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == "body.end"
    wrong = await client.get("/v1/costs", params={"group_by": "colour"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["location"] == "query.group_by"


async def _cost(read: Callable[[], Awaitable[list[dict[str, Any]]]]) -> Decimal:
    found = await read()
    return Decimal(found[0]["cost"]).quantize(Decimal("1e-9")) if found else Decimal(-1)


async def test_a_months_invoice_as_json_csv_and_pdf(client: httpx.AsyncClient, bus: Bus) -> None:
    await a_priced_cloud(bus)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    iid = f"i-{uuid.uuid4().hex[:6]}"
    req = InstanceRequested(instance_id=iid, cloud_id="sim-b", name="inv", image_id="img", flavor_id="sim.small")
    await send(
        bus,
        [
            event(req, start),
            event(InstanceRunning(**_ids(iid), flavor_id="sim.small", previous_state="pending"), start),
            event(InstanceTerminated(**_ids(iid)), start + timedelta(seconds=5400)),
        ],
    )
    month = start.strftime("%Y-%m")

    async def invoiced() -> dict[str, Any] | None:
        # The account's prices may be handled after the usage (two deliveries at once): rated at 0, then re-rated.
        body = (await client.get(f"/v1/invoices/{month}")).json()
        priced = [t for t in body["totals"] if Decimal(t["total"]) != 0]
        return body if priced and Decimal(body["lines"][0]["consumed_seconds"]) == 5400 else None

    found = await until(invoiced)
    status = "open" if month == datetime.now(UTC).strftime("%Y-%m") else "closed"
    assert found["status"] == status and found["project_id"] == PROJECT
    (total,) = found["totals"]
    assert total["currency"] == "USD" and Decimal(total["total"]) == SMALL * Decimal("1.5")
    listed = (await client.get("/v1/invoices", headers=VIEWER)).json()["items"]
    assert [(i["month"], i["currency"], i["status"]) for i in listed][-1] == (month, "USD", status)
    as_csv = await client.get(f"/v1/invoices/{month}", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert [(r["resource_id"], Decimal(r["cost"])) for r in rows] == [(iid, SMALL * Decimal("1.5"))]
    as_pdf = await client.get(f"/v1/invoices/{month}", params={"format": "pdf"})
    assert as_pdf.headers["content-type"] == "application/pdf" and as_pdf.content.startswith(b"%PDF-1.4")
    assert f"({iid} ".encode() not in as_pdf.content and iid.encode() in as_pdf.content
    future = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m")
    refused = await client.get(f"/v1/invoices/{future}")
    assert refused.status_code == 422 and refused.json()["errors"][0]["location"] == "path.month"
    other = await client.get(f"/v1/invoices/{month}", headers=STRANGER)
    assert other.status_code == 200 and other.json()["lines"] == [] and other.json()["totals"] == []
    assert (await client.get("/v1/invoices", headers=STRANGER)).json()["items"] == []
