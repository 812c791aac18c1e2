"""Budgets that block launches, on the whole provisioner app with real PostgreSQL, RabbitMQ and SimCloud: the
billing service's `budget.launches_blocked` / `budget.launches_unblocked` published on the bus as billing publishes
them. A block refuses the launches within its scope (the project, a tag, a cluster) within seconds with 409
`budget_exceeded` and nothing recorded, by the API and by command; an unblock allows them again; a redelivered or
overtaken event changes nothing; another project is never blocked."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from kernel.bus import Bus
from kernel.commands import LaunchInstance
from kernel.events import BudgetLaunchesBlocked, BudgetLaunchesUnblocked, BudgetScope, Envelope, EventPayload, new_event
from kernel.identity import Role
from kernel.settings import KernelSettings
from tests.integration.provisioner_world import SIM, ok, provisioner, use_secret_key
from tests.integration.test_clusters import role, setup
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

OWNER = identity_headers("alpha")
VIEWER = identity_headers("alpha", Role.VIEWER)
OTHER = identity_headers("beta")
WITHIN = 10.0


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


@pytest.fixture
async def bus(kernel_settings: KernelSettings) -> AsyncIterator[Bus]:
    billing = Bus(kernel_settings.amqp_url.get_secret_value(), prefix=kernel_settings.bus_prefix, service="billing")
    await billing.connect()
    yield billing
    await billing.close()


def budget(
    blocked: bool,
    scope: BudgetScope,
    *,
    budget_id: str = "bud-1",
    project: str = "alpha",
    at: datetime | None = None,
    period: str = "2026-12",
) -> Envelope:
    cls = BudgetLaunchesBlocked if blocked else BudgetLaunchesUnblocked
    reason = "spent 120.00 of 100.00 USD" if blocked else "the budget was raised to 200.00 USD"
    payload: EventPayload = cls(budget_id=budget_id, name="web spend", scope=scope, period=period, reason=reason)
    envelope = new_event(payload, project_id=project, correlation_id=f"corr-{uuid.uuid4().hex[:8]}")
    return envelope if at is None else envelope.model_copy(update={"occurred_at": at})


PROJECT_WIDE = BudgetScope(kind="project")


async def publish(bus: Bus, *envelopes: Envelope) -> None:
    await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in envelopes])


async def rows(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "provisioner"})
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def handled(database_url: str, *envelopes: Envelope) -> None:
    """Wait until the provisioner's consumer has taken each envelope (its inbox holds the id)."""
    wanted = {e.id for e in envelopes}
    await eventually(
        lambda: rows(database_url, "SELECT event_id FROM inbox WHERE event_id = ANY($1::uuid[])", list(wanted)),
        lambda found: {r["event_id"] for r in found} == wanted,
    )


async def eventually(read: Callable[[], Any], done: Callable[[Any], bool], within: float = WITHIN) -> Any:
    deadline = time.monotonic() + within
    while True:
        got = await read()
        if done(got):
            return got
        assert time.monotonic() < deadline, f"never got there: {got}"
        await asyncio.sleep(0.05)


def plain(cloud: str, **tags: str) -> dict[str, Any]:
    return {"cloud_id": cloud, "name": "web", "image_id": "img-debian-12", "flavor_id": "sim.small", "tags": tags}


async def a_cloud(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    body = {"name": "s", "driver": "simcloud", "config": SIM}
    return str(ok(await client.post("/v1/clouds", headers=headers, json=body), 201)["id"])


def refused_by_budget(answer: httpx.Response, budget_id: str = "bud-1") -> bool:
    if answer.status_code != 409:
        return False
    problem = answer.json()
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "budget_exceeded" and problem["budget_id"] == budget_id, problem
    assert "raise the budget" in problem["detail"]
    return True


async def test_a_block_refuses_launches_within_seconds_and_an_unblock_allows_them_again(
    kernel_settings: KernelSettings, database_url: str, bus: Bus
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, other_cloud = await a_cloud(client, OWNER), await a_cloud(client, OTHER)
        t0 = datetime.now(UTC)
        blocked = budget(True, PROJECT_WIDE, at=t0)
        await publish(bus, blocked)
        # Once the block is in force (and only then: a launch tried earlier would be taken), the launch is refused.
        await eventually(
            lambda: client.get("/v1/launch-blocks", headers=OWNER), lambda r: bool(r.json()["items"]), within=5.0
        )
        assert refused_by_budget(await client.post("/v1/instances", headers=OWNER, json=plain(cloud)))
        # Nothing of a refused launch is recorded, nor announced.
        assert await rows(database_url, "SELECT id FROM instances WHERE project_id = 'alpha'") == []
        assert (
            await rows(database_url, "SELECT seq FROM outbox WHERE body::jsonb->>'type' = 'instance.requested'") == []
        )
        # The project's members (a viewer too) see why; another project sees nothing, and launches.
        for headers in (OWNER, VIEWER):
            [shown] = ok(await client.get("/v1/launch-blocks", headers=headers))["items"]
            assert (shown["budget_id"], shown["budget_name"], shown["scope"]["kind"], shown["period"]) == (
                "bud-1",
                "web spend",
                "project",
                "2026-12",
            )
            assert "Raise" in shown["unblock"]
        assert ok(await client.get("/v1/launch-blocks", headers=OTHER))["items"] == []
        ok(await client.post("/v1/instances", headers=OTHER, json=plain(other_cloud)), 202)

        # The same block delivered again, and an unblock older than the block (overtaken on its way): still blocked.
        late = budget(False, PROJECT_WIDE, at=t0 - timedelta(seconds=1))
        await publish(bus, blocked, late)
        await handled(database_url, late)
        assert refused_by_budget(await client.post("/v1/instances", headers=OWNER, json=plain(cloud)))

        unblocked = budget(False, PROJECT_WIDE, at=t0 + timedelta(seconds=1))
        await publish(bus, unblocked)
        await eventually(
            lambda: client.post("/v1/instances", headers=OWNER, json=plain(cloud)), lambda a: a.status_code == 202
        )
        assert ok(await client.get("/v1/launch-blocks", headers=OWNER))["items"] == []
        # Last month's block arriving now, with a later clock: the new period's word stands.
        stale = budget(True, PROJECT_WIDE, at=t0 + timedelta(minutes=5), period="2026-11")
        await publish(bus, stale)
        await handled(database_url, stale)
        ok(await client.post("/v1/instances", headers=OWNER, json=plain(cloud)), 202)


async def test_each_scope_refuses_only_its_own_launches_by_api_cluster_and_command(
    kernel_settings: KernelSettings, database_url: str, bus: Bus
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template = await setup(client, OWNER)
        # A tag's block: only launches whose tags hold it.
        tagged = budget(True, BudgetScope(kind="tag", tag_key="team", tag_value="web"), budget_id="bud-tag")
        await publish(bus, tagged)
        await handled(database_url, tagged)
        assert refused_by_budget(
            await client.post("/v1/instances", headers=OWNER, json=plain(cloud, team="web")), "bud-tag"
        )
        ok(await client.post("/v1/instances", headers=OWNER, json=plain(cloud, team="db")), 202)
        from_template = {"template_id": template, "cloud_id": cloud, "name": "t", "inputs": {"who": "x"}}
        ok(await client.post("/v1/instances", headers=OWNER, json=from_template), 202)
        tagged_template = {**from_template, "tags": {"team": "web"}}
        assert refused_by_budget(await client.post("/v1/instances", headers=OWNER, json=tagged_template), "bud-tag")

        # A cluster's block: its role cannot grow, other clusters launch.
        made = ok(
            await client.post(
                "/v1/clusters", headers=OWNER, json={"name": "shop", "roles": [role("web", template, cloud, 1)]}
            ),
            202,
        )
        cluster = budget(True, BudgetScope(kind="cluster", cluster_id=made["id"]), budget_id="bud-cluster")
        await publish(bus, cluster)
        await handled(database_url, cluster)
        grow = await client.post(f"/v1/clusters/{made['id']}/roles/web/scale", headers=OWNER, json={"count": 2})
        assert refused_by_budget(grow, "bud-cluster")
        other = {"name": "blog", "roles": [role("web", template, cloud, 1)]}
        ok(await client.post("/v1/clusters", headers=OWNER, json=other), 202)
        kinds = ok(await client.get("/v1/launch-blocks", headers=OWNER, params={"kind": "cluster"}))["items"]
        assert [b["scope"] for b in kinds] == [
            {"kind": "cluster", "cluster_id": made["id"], "tag_key": None, "tag_value": None}
        ]

        # The project's block: a new cluster is refused whole, nothing recorded; a scaler's launch by command is
        # refused with command.refused, its code the budget's (the scaler backs off on it).
        clusters_before = await rows(database_url, "SELECT id FROM clusters ORDER BY id")
        whole = budget(True, PROJECT_WIDE, budget_id="bud-all")
        await publish(bus, whole)
        await handled(database_url, whole)
        refused = await client.post("/v1/clusters", headers=OWNER, json={**other, "name": "more"})
        assert refused_by_budget(refused, "bud-all")
        assert await rows(database_url, "SELECT id FROM clusters ORDER BY id") == clusters_before
        launch = LaunchInstance(
            instance_id=str(uuid.uuid4()),
            requested_by="scaler:grp-1",
            reason="scale out 1 -> 2",
            template_id=template,
            inputs={"who": "group"},
            cloud_id=cloud,
        )
        command = new_event(launch, project_id="alpha", correlation_id="corr-scale")
        await publish(bus, command)
        outbox = "SELECT body::jsonb AS body FROM outbox WHERE body::jsonb->>'type' = 'command.refused'"
        found = await eventually(lambda: rows(database_url, outbox), lambda r: len(r) == 1, within=30.0)
        refusal = found[0]["body"]
        refusal = refusal if isinstance(refusal, dict) else json.loads(refusal)
        assert refusal["payload"]["code"] == "budget_exceeded" and refusal["payload"]["status"] == 409
        assert refusal["payload"]["subject_id"] == launch.instance_id
        assert await rows(database_url, "SELECT id FROM instances WHERE id = $1", uuid.UUID(launch.instance_id)) == []
