"""A provisioner killed (`kill -9`) while it holds commands it has recorded but not all carried out: started again,
it carries out every one, and none twice (each instance once in the platform and once in the cloud)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator

import asyncpg
import pytest

from kernel.bus import Bus
from kernel.commands import LaunchInstance
from kernel.events import new_event
from tests.conftest import Servers
from tests.e2e.conftest import _platform
from tests.e2e.platform import Platform, eventually

pytestmark = pytest.mark.e2e

COUNT = 30


@pytest.fixture
def own_platform(servers: Servers) -> Iterator[Platform]:
    """A platform whose provisioner holds a command for 2 s: a killed one's are taken again soon after its restart."""
    lease = {"CLANAVI_PROVISIONER_COMMAND_LEASE_SECONDS": "2"}
    yield from _platform(servers, env=lease, boot="1.0", stop="0.2", start="0.2", reboot="0.2", terminate="0.2")


async def _count(platform: Platform, sql: str) -> int:
    conn = await asyncpg.connect(platform.database_url)
    try:
        found: int = await conn.fetchval(sql)
        return found
    finally:
        await conn.close()


async def test_provisioner_killed_between_recording_and_carrying_out_commands_resumes_them_once(
    own_platform: Platform,
) -> None:
    provisioner = own_platform.processes["provisioner"]
    async with own_platform.client() as client:
        project = (await client.get("/v1/me")).json()["project_id"]
        body = {"name": "web", "clouds": [{"cloud_id": "sim", "image_id": "img-ubuntu-2404", "flavor_id": "sim.nano"}]}
        made = await client.post("/v1/templates", json=body)
        assert made.status_code == 201, made.text
        template = made.json()["template_id"]

        env = provisioner.env
        bus = Bus(env["CLANAVI_AMQP_URL"], prefix=env["CLANAVI_BUS_PREFIX"], service="e2e-sender")
        await bus.connect()
        launches = [
            LaunchInstance(instance_id=str(uuid.uuid4()), requested_by="scaler:g1", template_id=template)
            for _ in range(COUNT)
        ]
        envelopes = [new_event(c, project_id=project, correlation_id=f"c-{c.instance_id}") for c in launches]
        try:
            # Each sent twice: the second copy of each is dropped however the crash falls.
            await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in envelopes * 2])
        finally:
            await bus.close()

        async def recorded() -> bool:
            return await _count(own_platform, "SELECT count(*) FROM provisioner.commands") > 0

        await eventually(recorded, within=30, what="a command recorded")
        provisioner.kill()
        left = await _count(own_platform, "SELECT count(*) FROM provisioner.commands WHERE state <> 'done'")
        own_platform.start("provisioner")

        ids = [c.instance_id for c in launches]

        async def all_running() -> bool:
            answers = await asyncio.gather(*(client.get(f"/v1/instances/{i}") for i in ids))
            return all(a.status_code == 200 and a.json()["state"] == "running" for a in answers)

        await eventually(all_running, within=90, what="every commanded instance running")
        for instance_id in ids:
            shown = (await client.get(f"/v1/instances/{instance_id}")).json()
            assert shown["requested_by"] == "scaler:g1"

    conn = await asyncpg.connect(own_platform.database_url)
    try:
        tokens = Counter(r["client_token"] for r in await conn.fetch("SELECT client_token FROM simcloud.instances"))
        states = [r["state"] for r in await conn.fetch("SELECT state FROM provisioner.commands")]
        instances = await conn.fetchval("SELECT count(*) FROM provisioner.instances")
    finally:
        await conn.close()
    assert tokens == Counter(ids), "the cloud got a duplicate or missed one"
    assert instances == COUNT and states == ["done"] * COUNT
    # The crash did fall between recording and carrying out (else this test proves nothing).
    assert left > 0
