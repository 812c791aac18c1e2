"""The alerts service on real PostgreSQL and RabbitMQ: metric samples and events published on the bus, its alert
events caught there, its notifications received by a local webhook receiver that checks their signatures."""

from __future__ import annotations

import asyncio
import email
import email.message
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from fastapi import FastAPI

from devstack.ports import free_port
from kernel.bus import Bus
from kernel.events import (
    BudgetScope,
    BudgetThresholdCrossed,
    EventPayload,
    InstanceFailed,
    InstanceRequested,
    MetricPoint,
    MetricsSampled,
    TemplateVersionCreated,
)
from kernel.settings import KernelSettings
from services.alerts.app import create_app
from services.alerts.settings import AlertsSettings
from tests.integration.failover_world import Caught, listen, publish
from tests.integration.webhook_receiver import Receiver, receiver
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

PROJECT = "p-alerts"
OWNER = identity_headers(PROJECT)
FAST = {"group_wait_seconds": 0, "group_interval_seconds": 0.2, "repeat_interval_seconds": 3600}


@pytest.fixture
async def app(kernel_settings: KernelSettings) -> AsyncIterator[FastAPI]:
    settings = AlertsSettings(
        kernel=kernel_settings,
        webhook_deny="",  # the test's receivers listen on 127.0.0.1
        evaluate_interval_seconds=0.1,
        notify_interval_seconds=0.05,
        retry_schedule_seconds=(0.2, 0.2, 0.2),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://alerts", headers=OWNER
    ) as client:
        yield client


@pytest.fixture
async def bus(kernel_settings: KernelSettings, app: FastAPI) -> AsyncIterator[tuple[Bus, Caught]]:
    bus, caught = await listen(kernel_settings.amqp_url.get_secret_value(), kernel_settings.bus_prefix)
    yield bus, caught
    await bus.close()


def sample(instance_id: str, value: float, name: str = "cpu_utilization") -> MetricsSampled:
    point = MetricPoint(name=name, value=value, at=datetime.now(UTC), instance_id=instance_id)
    return MetricsSampled(source="cloud", samples=[point])


async def send(bus: Bus, *payloads: EventPayload) -> None:
    await publish(bus, *payloads, project=PROJECT)


async def until(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "not seen in time"
        await asyncio.sleep(0.03)


async def webhook(client: httpx.AsyncClient, hook: Receiver, name: str = "ops") -> str:
    created = await client.post("/v1/channels", json={"kind": "webhook", "name": name, "url": hook.url})
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    hook.secret = created.json()["secret"]
    assert hook.secret.startswith("whsec_")
    return str(created.json()["id"])


async def rule(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"r-{uuid.uuid4().hex[:6]}")
    created = await client.post("/v1/alert-rules", json=body)
    assert created.status_code == 201, created.text
    answer: dict[str, Any] = created.json()
    return answer


async def alerts(client: httpx.AsyncClient, path: str = "/v1/alerts", **params: Any) -> list[dict[str, Any]]:
    answer = await client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_a_threshold_fires_notifies_signed_and_resolves(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught], kernel_settings: KernelSettings
) -> None:
    publisher, caught = bus
    async with receiver() as hook:
        channel = await webhook(client, hook)
        cpu = await rule(
            client,
            kind="threshold",
            metric="cpu_utilization",
            operator=">",
            value=80,
            channel_ids=[channel],
            routing=FAST,
        )
        await send(publisher, sample("i-1", 95.0), sample("i-2", 10.0))
        (firing,) = await until(lambda: alerts(client, state="firing"))
        assert firing["labels"] == {"instance_id": "i-1", "alertname": cpu["name"], "severity": "warning"}
        assert firing["value"] == 95.0 and not firing["silenced"]
        await caught.wait(lambda: caught.of("alert.firing", alert_id=firing["id"]))
        await until(lambda: _received(hook, 1))
        first = hook.received[0].json()
        assert first["status"] == "firing" and [a["id"] for a in first["alerts"]] == [firing["id"]]
        assert hook.bad_signatures == 0

        # The same series breaching again is the same alert: nothing new is sent.
        await send(publisher, sample("i-1", 97.0))

        async def updated() -> bool:
            return [a["value"] for a in await alerts(client, state="firing")] == [97.0]

        await until(updated)  # the consumer handles events concurrently: the next sample must come after this one
        await send(publisher, sample("i-1", 20.0))
        (resolved,) = await until(lambda: alerts(client, "/v1/alerts/history"))
        assert resolved["id"] == firing["id"] and resolved["state"] == "resolved"
        await caught.wait(lambda: caught.of("alert.resolved", alert_id=firing["id"]))
        await until(lambda: _received(hook, 2))
        assert hook.received[1].json()["status"] == "resolved" and hook.bad_signatures == 0
        assert len(caught.distinct("alert.firing")) == 1
        assert await alerts(client) == []

    # A breaching sample taken before the one that resolved the alert, delivered late, fires nothing anew.
    late = MetricPoint(
        name="cpu_utilization", value=99.0, at=datetime.now(UTC) - timedelta(minutes=5), instance_id="i-1"
    )
    await send(publisher, MetricsSampled(source="cloud", samples=[late]), sample("i-3", 99.0))
    (other,) = await until(lambda: alerts(client, state="firing"))
    assert other["labels"]["instance_id"] == "i-3"  # the late sample, published first, was judged and dropped

    # The secret is never shown again, nor sent on the bus, and is stored sealed.
    shown = (await client.get(f"/v1/channels/{channel}")).text + (await client.get("/v1/channels")).text
    shown += (await client.get(f"/v1/channels/{channel}/deliveries")).text
    assert hook.secret not in shown and "secret" not in (await client.get(f"/v1/channels/{channel}")).json()
    assert all(hook.secret not in e.model_dump_json() for _, e in caught.messages)
    conn = await asyncpg.connect(kernel_settings.database_url.get_secret_value())
    try:
        stored = await conn.fetchval("SELECT secret FROM alerts.channels")
    finally:
        await conn.close()
    assert hook.secret.encode() not in stored and hook.secret.removeprefix("whsec_").encode() not in stored


async def _received(hook: Receiver, count: int) -> bool:
    return len(hook.received) >= count


async def test_retries_honour_retry_after_and_a_410_disables_the_channel(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, _ = bus
    async with receiver() as hook:
        hook.script = [(500, {}), (429, {"Retry-After": "1"}), (200, {})]
        channel = await webhook(client, hook)
        await rule(
            client,
            kind="threshold",
            metric="cpu_utilization",
            operator=">",
            value=80,
            channel_ids=[channel],
            routing=FAST,
        )
        await send(publisher, sample("i-1", 99.0))
        await until(lambda: _received(hook, 3))
        statuses = [r.status for r in hook.received]
        assert statuses == [500, 429, 200]
        assert hook.received[2].at - hook.received[1].at >= 0.95  # the Retry-After, not the 0.2 s schedule
        assert len({r.headers["webhook-id"] for r in hook.received}) == 1  # one message, retried
        assert hook.bad_signatures == 0

        async def delivered() -> list[dict[str, Any]]:
            page = (await client.get(f"/v1/channels/{channel}/deliveries")).json()["items"]
            return [d for d in page if d["state"] == "delivered"]

        (delivery,) = await until(delivered)
        assert delivery["attempts"] == 3 and delivery["last_status"] == 200

        hook.script = [(410, {})]
        await send(publisher, sample("i-2", 99.0))
        await until(lambda: _received(hook, 4))

        async def disabled() -> bool:
            return not (await client.get(f"/v1/channels/{channel}")).json()["enabled"]

        await until(disabled)
        failed = (await client.get(f"/v1/channels/{channel}/deliveries", params={"state": "failed"})).json()["items"]
        assert len(failed) == 1 and failed[0]["last_status"] == 410
        enabled = await client.post(f"/v1/channels/{channel}/enable")
        assert enabled.status_code == 200 and enabled.json()["enabled"]


async def test_a_silenced_alert_shows_silenced_and_sends_nothing(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, _ = bus
    async with receiver() as hook:
        channel = await webhook(client, hook)
        await rule(
            client,
            kind="threshold",
            metric="cpu_utilization",
            operator=">",
            value=80,
            channel_ids=[channel],
            routing=FAST,
        )
        ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        made = await client.post(
            "/v1/silences", json={"matchers": [{"label": "instance_id", "value": "i-9"}], "ends_at": ends}
        )
        assert made.status_code == 201, made.text
        assert made.json()["state"] == "active"
        await send(publisher, sample("i-9", 99.0), sample("i-8", 99.0))
        found = await until(lambda: _two(client))
        by_instance = {a["labels"]["instance_id"]: a for a in found}
        assert by_instance["i-9"]["silenced"] and not by_instance["i-8"]["silenced"]
        await until(lambda: _received(hook, 1))
        await asyncio.sleep(0.5)  # time for a wrong second notification to arrive
        sent = [a["labels"]["instance_id"] for r in hook.received for a in r.json()["alerts"]]
        assert sent == ["i-8"]
        assert [a["labels"]["instance_id"] for a in await alerts(client, silenced="true")] == ["i-9"]

        expired = await client.delete(f"/v1/silences/{made.json()['id']}")
        assert expired.status_code == 204
        assert (await client.get(f"/v1/silences/{made.json()['id']}")).json()["state"] == "expired"


async def _two(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    found = await alerts(client, state="firing")
    return found if len(found) == 2 else []


async def test_for_holds_an_alert_pending_and_keep_firing_for_holds_it_firing(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, _ = bus
    await rule(
        client,
        kind="threshold",
        metric="cpu_utilization",
        operator=">=",
        value=50,
        **{"for": 0.6},
        keep_firing_for=0.6,
    )
    (listed,) = (await client.get("/v1/alert-rules", params={"kind": "threshold"})).json()["items"]
    assert listed["for"] == 0.6 and listed["keep_firing_for"] == 0.6
    await send(publisher, sample("i-1", 60.0))
    (pending,) = await until(lambda: alerts(client, state="pending"))
    (firing,) = await until(lambda: alerts(client, state="firing"))  # the evaluator's pass, with no new sample
    assert firing["id"] == pending["id"]
    await send(publisher, sample("i-1", 1.0))
    await asyncio.sleep(0.2)
    assert [a["id"] for a in await alerts(client, state="firing")] == [firing["id"]]  # kept firing a while
    await until(lambda: alerts(client, "/v1/alerts/history"))


async def test_event_rate_no_data_and_budget_rules(client: httpx.AsyncClient, bus: tuple[Bus, Caught]) -> None:
    publisher, _ = bus
    rate = await rule(client, kind="event_rate", event_type="instance.failed", count=3, window_seconds=60)
    await send(
        publisher,
        InstanceRequested(
            instance_id="i-1", cloud_id="sim", name="a", image_id="img", flavor_id="f", tags={"t": "web"}
        ),
    )
    quiet = await rule(client, kind="no_data", metric="cpu_utilization", quiet_seconds=1, scope={"tags": {"t": "web"}})
    budget = await rule(client, kind="budget", min_percent=80)
    await send(publisher, sample("i-1", 5.0), sample("i-other", 5.0))
    for _ in range(3):
        await send(publisher, InstanceFailed(instance_id="i-1", cloud_id="sim", provider_id=None, reason="x"))
    crossed = BudgetThresholdCrossed(
        budget_id="b-1",
        name="team",
        scope=BudgetScope(kind="project"),
        period=datetime.now(UTC).strftime("%Y-%m"),
        basis="actual",
        percent=90,
        amount="100",
        spent="90",
        forecast="120",
        currency="USD",
        actions=["notify"],
    )
    await send(publisher, crossed)

    async def three_kinds() -> dict[str, dict[str, Any]]:
        found = {a["rule_id"]: a for a in await alerts(client, state="firing")}
        return found if len(found) == 3 else {}

    found = await three_kinds() or await until(three_kinds)
    assert found[rate["id"]]["value"] == 3
    assert found[quiet["id"]]["labels"]["instance_id"] == "i-1"  # i-other is outside the rule's scope
    assert found[budget["id"]]["labels"]["budget_id"] == "b-1"
    await send(publisher, sample("i-1", 5.0))

    async def quiet_resolved() -> bool:
        return quiet["id"] in {a["rule_id"] for a in await alerts(client, "/v1/alerts/history")}

    await until(quiet_resolved)


async def test_bad_input_is_refused_naming_the_field(client: httpx.AsyncClient, bus: tuple[Bus, Caught]) -> None:
    publisher, _ = bus
    unknown = await client.post(
        "/v1/alert-rules", json={"name": "q", "kind": "threshold", "metric": "queue_depth", "operator": ">", "value": 1}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["location"] == "body.metric"
    pushed = MetricsSampled(
        source="agent", samples=[MetricPoint(name="queue_depth", value=3, at=datetime.now(UTC), labels={"q": "jobs"})]
    )
    await send(publisher, pushed)

    async def known() -> bool:
        answer = await client.post(
            "/v1/alert-rules",
            json={"name": "q", "kind": "threshold", "metric": "queue_depth", "operator": ">", "value": 1},
        )
        return answer.status_code == 201

    await until(known)
    ftp = await client.post("/v1/channels", json={"kind": "webhook", "name": "x", "url": "ftp://example.com/x"})
    assert ftp.status_code == 422 and ftp.json()["errors"][0]["location"].endswith("url")
    now = datetime.now(UTC)
    backwards = await client.post(
        "/v1/silences",
        json={
            "matchers": [{"label": "a", "value": "b"}],
            "starts_at": now.isoformat(),
            "ends_at": (now - timedelta(hours=1)).isoformat(),
        },
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["location"] == "body.ends_at"
    no_channel = await client.post(
        "/v1/alert-rules",
        json={"name": "c", "kind": "budget", "channel_ids": [str(uuid.uuid4())]},
    )
    assert no_channel.status_code == 422 and no_channel.json()["errors"][0]["location"] == "body.channel_ids"


async def test_a_channel_rules_send_to_is_kept_until_they_no_longer_do(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    made = await client.post("/v1/channels", json={"kind": "console", "name": f"c-{uuid.uuid4().hex[:6]}"})
    assert made.status_code == 201, made.text
    channel = made.json()["id"]
    first = await rule(client, kind="budget", name="budget-a", channel_ids=[channel])
    await rule(client, kind="budget", name="budget-b", channel_ids=[channel])
    kept = await client.delete(f"/v1/channels/{channel}")
    assert kept.status_code == 409 and kept.headers["content-type"].startswith("application/problem+json")
    assert "budget-a, budget-b" in kept.json()["detail"]
    assert (await client.get(f"/v1/channels/{channel}")).status_code == 200
    # Another project's caller cannot learn of the channel, nor of the rules that use it.
    assert (await client.delete(f"/v1/channels/{channel}", headers=identity_headers("p-other"))).status_code == 404
    assert (await client.delete(f"/v1/alert-rules/{first['id']}")).status_code == 204
    second = await _rule_id(client, "budget-b")
    moved = await client.put(f"/v1/alert-rules/{second}", json={"name": "budget-b", "kind": "budget"})
    assert moved.status_code == 200 and moved.json()["channel_ids"] == [], moved.text
    assert (await client.delete(f"/v1/channels/{channel}")).status_code == 204
    assert (await client.get(f"/v1/channels/{channel}")).status_code == 404


async def _rule_id(client: httpx.AsyncClient, name: str) -> str:
    found = (await client.get("/v1/alert-rules", params={"name": name})).json()["items"]
    return str(found[0]["id"])


async def test_another_project_and_a_viewer(client: httpx.AsyncClient, bus: tuple[Bus, Caught]) -> None:
    from kernel.identity import Role

    made = await rule(client, kind="budget")
    other = identity_headers("p-other")
    assert (await client.get(f"/v1/alert-rules/{made['id']}", headers=other)).status_code == 404
    assert (await client.get("/v1/alert-rules", headers=other)).json()["items"] == []
    viewer = identity_headers(PROJECT, Role.VIEWER)
    assert (await client.get("/v1/alert-rules", headers=viewer)).status_code == 200
    refused = await client.post("/v1/alert-rules", json={"name": "v", "kind": "budget"}, headers=viewer)
    assert refused.status_code == 403


class Mailbox:
    """What a local SMTP server (aiosmtpd) received."""

    def __init__(self) -> None:
        self.mails: list[email.message.Message] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's
        assert isinstance(envelope.content, bytes)
        self.mails.append(email.message_from_bytes(envelope.content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


async def test_an_email_channel_mails_the_alert_over_smtp(
    kernel_settings: KernelSettings, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    settings = AlertsSettings(
        kernel=kernel_settings,
        webhook_deny="",  # the test's receivers listen on 127.0.0.1
        evaluate_interval_seconds=0.1,
        notify_interval_seconds=0.05,
        smtp_port=port,
        smtp_from="alerts@clanavi.test",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://alerts", headers=OWNER) as client:
            made = await client.post(
                "/v1/channels", json={"kind": "email", "name": "oncall", "to": ["ops@example.com", "ana@example.com"]}
            )
            assert made.status_code == 201, made.text
            assert made.json()["secret"] is None
            await rule(
                client,
                name="busy",
                kind="threshold",
                metric="cpu_utilization",
                operator=">",
                value=80,
                severity="critical",
                channel_ids=[made.json()["id"]],
                routing=FAST,
            )
            publisher, _ = await listen(kernel_settings.amqp_url.get_secret_value(), kernel_settings.bus_prefix)
            try:
                await send(publisher, sample("i-7", 91.0))

                async def mailed() -> bool:
                    return bool(box.mails)

                await until(mailed)
            finally:
                await publisher.close()
    (mail,) = box.mails
    assert box.recipients == [["ops@example.com", "ana@example.com"]]
    assert mail["From"] == "alerts@clanavi.test" and mail["Subject"] == "[FIRING] busy (1 alert)"
    assert "i-7" in mail.get_payload() and "cpu_utilization is 91 (> 80)" in mail.get_payload()


async def test_a_template_versions_alert_specs_become_rules_on_its_servers_at_launch(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, _ = bus
    specs = [
        {"name": "hot", "kind": "threshold", "metric": "cpu_utilization", "operator": ">", "value": 90},
        {"name": "bad", "kind": "threshold", "metric": "cpu_utilization"},  # not a rule body: left out
    ]
    await send(publisher, TemplateVersionCreated(template_id="tpl-1", name="web", version=1, scripts=[], alerts=specs))

    def launched(instance_id: str, version: int) -> InstanceRequested:
        return InstanceRequested(
            instance_id=instance_id,
            cloud_id="sim",
            name=instance_id,
            image_id="img",
            flavor_id="f",
            template_id="tpl-1",
            template_version=version,
        )

    async def made() -> list[dict[str, Any]]:
        # Launched again until the template's event was handled first (the consumer takes events concurrently).
        await send(publisher, launched("i-t1", 1))
        items: list[dict[str, Any]] = (await client.get("/v1/alert-rules")).json()["items"]
        return items

    (hot,) = await until(made)
    assert hot["name"] == "hot-tpl-tpl-1-v1" and hot["metric"] == "cpu_utilization"
    assert hot["scope"]["template_id"] == "tpl-1" and hot["scope"]["template_version"] == 1
    await send(publisher, launched("i-t2", 2), launched("i-plain", 1).model_copy(update={"template_id": None}))
    await send(publisher, sample("i-t2", 95.0), sample("i-plain", 95.0), sample("i-t1", 95.0))
    (firing,) = await until(lambda: alerts(client, state="firing"))
    assert firing["labels"]["instance_id"] == "i-t1" and firing["rule_id"] == hot["id"]
    await asyncio.sleep(0.3)  # time for a wrong alert on another version's server to show
    assert len(await alerts(client, state="firing")) == 1


async def test_a_firing_alert_inhibits_the_alerts_it_names_on_the_same_server(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, _ = bus
    async with receiver() as hook:
        channel = await webhook(client, hook)
        routes = {**FAST, "group_by": ["alertname", "instance_id"]}
        critical = {**routes, "inhibits": {"severity": "warning"}, "inhibit_equal": ["instance_id"]}
        await rule(client, name="melting", kind="threshold", metric="cpu_utilization", operator=">", value=90,
                   severity="critical", channel_ids=[channel], routing=critical)  # fmt: skip
        await rule(client, name="busy", kind="threshold", metric="cpu_utilization", operator=">", value=50,
                   channel_ids=[channel], routing=routes)  # fmt: skip
        await send(publisher, sample("i-1", 95.0), sample("i-2", 60.0))

        async def three() -> list[dict[str, Any]]:
            found = await alerts(client, state="firing")
            return found if len(found) == 3 else []

        found = {(a["rule_name"], a["labels"]["instance_id"]): a for a in await until(three)}
        assert found[("busy", "i-1")]["inhibited"] and not found[("busy", "i-2")]["inhibited"]
        assert not found[("melting", "i-1")]["inhibited"]
        await until(lambda: _received(hook, 2))
        await asyncio.sleep(0.5)  # time for a wrong third notification to arrive
        sent = sorted((a["rule_name"], a["labels"]["instance_id"]) for r in hook.received for a in r.json()["alerts"])
        assert sent == [("busy", "i-2"), ("melting", "i-1")]
