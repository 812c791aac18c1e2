"""The failover service killed with SIGKILL while it decides: after a restart every failed server has been replaced
exactly once (one command each, the replacement's id chosen once), nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import free_port
from devstack.processes import ServiceProcess, service_env
from tests.conftest import INTERNAL_KEY, SECRET_KEY, Servers
from tests.integration.failover_world import PROJECT, failed, listen, policy_body, publish, requested, running
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

COUNT = 40


@pytest.fixture
def failover(servers: Servers, database_url: str, bus_prefix: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    port = free_port()
    env = service_env(
        env="test",
        database_url=database_url,
        amqp_url=servers.rabbit.url,
        bus_prefix=bus_prefix,
        internal_key=INTERNAL_KEY,
        secret_key=SECRET_KEY,
        log_format="text",
        failover_port=str(port),
    )
    process = ServiceProcess("failover", port, env, tmp_path / "failover.log")
    process.start()
    process.wait_ready()
    yield process
    process.stop()


async def test_killed_mid_decision_it_loses_and_duplicates_nothing(
    failover: ServiceProcess, servers: Servers, bus_prefix: str
) -> None:
    bus, caught = await listen(servers.rabbit.url, bus_prefix)
    url = f"http://127.0.0.1:{failover.port}"
    try:
        async with httpx.AsyncClient(base_url=url, headers=identity_headers(PROJECT), timeout=10) as client:
            # No breaker in the way: every failure is to be remediated.
            body = policy_body(breaker={"max_unhealthy_percent": 100, "window_seconds": 60})
            assert (await client.post("/v1/health-policies", json=body)).status_code == 201
            ids = [f"k-{n}" for n in range(COUNT)]
            await publish(bus, *(requested(i) for i in ids))
            await asyncio.sleep(0.5)
            await publish(bus, *(running(i) for i in ids))

            async def healthy() -> int:
                items = (await client.get("/v1/instance-health", params={"limit": 500})).json()["items"]
                return sum(1 for item in items if item["health"] == "healthy")

            deadline = time.monotonic() + 30
            while await healthy() < COUNT:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)

        await publish(bus, *(failed(i) for i in ids))
        # Killed as soon as it has decided some, and before it has decided all.
        await caught.wait(lambda: caught.of("provisioner.replace_instance"))
        failover.kill()
        decided_before = len(caught.distinct("provisioner.replace_instance"))
        assert decided_before < COUNT, "killed after every decision: nothing was tested"
        failover.start()
        failover.wait_ready()
        await caught.wait(lambda: len(caught.distinct("provisioner.replace_instance")) >= COUNT, within=30)
        await asyncio.sleep(1.0)  # anything doubled would have come by now

        commands = caught.distinct("provisioner.replace_instance")
        per_instance = Counter(c.payload["instance_id"] for c in commands)
        assert per_instance == Counter(ids), f"decided {decided_before} before the kill; {per_instance}"
        assert len({c.payload["new_instance_id"] for c in commands}) == COUNT
        remediated = caught.distinct("failover.remediated")
        assert Counter(e.payload["instance_id"] for e in remediated) == Counter(ids)
        chosen = {e.payload["instance_id"]: e.payload["new_instance_id"] for e in remediated}
        assert chosen == {c.payload["instance_id"]: c.payload["new_instance_id"] for c in commands}
    finally:
        await bus.close()
