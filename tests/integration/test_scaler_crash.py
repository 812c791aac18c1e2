"""The scaler as a process, killed with SIGKILL while it decides for many groups at once: once it runs again, every
group has exactly the members its decision called for - no decision lost, no launch sent twice."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import free_port
from devstack.processes import ServiceProcess, service_env
from kernel.bus import Bus
from kernel.commands import SCALING_GROUP_TAG, LaunchInstance
from kernel.events import MetricPoint, MetricsSampled, TemplateCreated
from kernel.settings import KernelSettings
from tests.conftest import INTERNAL_KEY
from tests.integration.scaler_standin import BINDINGS, Cloud, eventually
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

P1 = identity_headers("p1")
GROUPS = 20
MAX = 8


@pytest.fixture
def scaler(kernel_settings: KernelSettings) -> Any:
    root = Path(tempfile.mkdtemp(prefix="clanavi-scaler-crash-"))
    port = free_port()
    env = service_env(
        env="test",
        database_url=kernel_settings.database_url.get_secret_value(),
        amqp_url=kernel_settings.amqp_url.get_secret_value(),
        bus_prefix=kernel_settings.bus_prefix,
        internal_key=INTERNAL_KEY,
        log_format="text",
        scaler_port=str(port),
        scaler_reconcile_seconds="0.5",
    )
    process = ServiceProcess("scaler", port, env, root / "scaler.log")
    process.start()
    process.wait_ready()
    try:
        yield process
    finally:
        process.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def cloud(kernel_settings: KernelSettings, scaler: ServiceProcess) -> AsyncIterator[Cloud]:
    bus = Bus(kernel_settings.amqp_url.get_secret_value(), prefix=kernel_settings.bus_prefix, service="standin")
    await bus.connect()
    cloud = Cloud(bus)
    await bus.subscribe(bindings=BINDINGS, callback=cloud, max_deliveries=5, prefetch=200)
    await cloud.publish(TemplateCreated(template_id="tpl", name="web"))
    yield cloud
    await bus.close()


async def test_kill_9_mid_decision_loses_nothing_and_launches_nothing_twice(
    scaler: ServiceProcess, cloud: Cloud
) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{scaler.port}", headers=P1, timeout=30) as client:
        ids = []
        for n in range(GROUPS):
            body = {"name": f"g{n}", "template_id": "tpl", "template_version": 1, "min_size": 1, "max_size": MAX}

            async def created(body: dict[str, Any] = body) -> str | None:
                answer = await client.post("/v1/scaling-groups", json=body)
                if answer.status_code == 422:
                    return None  # the template's event is on its way
                assert answer.status_code == 201, answer.text
                return str(answer.json()["id"])

            gid = await eventually(created, what="a group")
            policy = {"name": "cpu", "kind": "target_tracking", "metric": "cpu_utilization", "target": 10}
            answer = await client.post(f"/v1/scaling-groups/{gid}/policies", json={**policy, "warmup_seconds": 0})
            assert answer.status_code == 201, answer.text
            ids.append(gid)

        async def all_running() -> bool:
            return len(cloud.launched()) == GROUPS and len(cloud.alive) == GROUPS

        await eventually(all_running, what="one member per group")
        first = {e.payload["tags"][SCALING_GROUP_TAG]: e.payload["instance_id"] for e in cloud.commands}
        await asyncio.sleep(0.5)  # the members' running events reach the scaler
        # Every group at 10 x its target: each scales out to its max, as the batches arrive, and the scaler dies.
        now = datetime.now(UTC)
        batches = [
            MetricsSampled(
                source="cloud",
                samples=[MetricPoint(name="cpu_utilization", value=100, unit="%", at=now, instance_id=first[gid])],
            )
            for gid in ids
        ]
        await cloud.publish(*batches)
        # 150 ms in, some groups' decisions are committed and sent, others not yet (27 to 79 of the 160 launches when
        # this was written): the batches not acknowledged come again after the restart.
        await asyncio.sleep(0.15)
        scaler.kill()
        scaler.start()
        scaler.wait_ready()

        async def settled() -> bool:
            per_group = Counter(
                e.payload["tags"][SCALING_GROUP_TAG] for e in cloud.commands if e.type == LaunchInstance.TYPE
            )
            return all(per_group[g] >= MAX for g in ids)

        await eventually(settled, within=60, what="every group at its max")
        await asyncio.sleep(1.5)  # anything sent twice would arrive by now
        launches = [e for e in cloud.commands if e.type == LaunchInstance.TYPE]
        per_group = Counter(e.payload["tags"][SCALING_GROUP_TAG] for e in launches)
        assert per_group == dict.fromkeys(ids, MAX), per_group
        assert len({e.payload["instance_id"] for e in launches}) == len(launches)
        for gid in ids:
            group = (await client.get(f"/v1/scaling-groups/{gid}")).json()
            assert group["desired"] == MAX
            members = (await client.get(f"/v1/scaling-groups/{gid}/instances")).json()["items"]
            assert len(members) == MAX
