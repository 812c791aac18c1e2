"""A script's day with the platform through `clanavi.client`, as a user writes it: an admin makes a project and its
owner, the owner logs in and adds a cloud and a key for CI, CI launches, waits, lists, stops and terminates, and
everybody reads the audit; the API's refusals arrive as the client's typed errors."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from clanavi.client import (
    AsyncClient,
    Client,
    Forbidden,
    InvalidState,
    NotFound,
    RateLimited,
    Tokens,
    Unauthorized,
    ValidationFailed,
    WaitProgress,
)
from clanavi.client.models import (
    ApiKeyCreate,
    AuditEvent,
    CloudCreate,
    InstanceCreate,
    InstanceOut,
    MemberPut,
    ProjectCreate,
    Role,
    UserCreate,
)
from tests.e2e.platform import TOKEN, Platform, eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
SIM = {"boot_seconds": 0.3, "stop_seconds": 0.2, "start_seconds": 0.2, "terminate_seconds": 0.2}


def launch(cloud_id: str, name: str, flavor_id: str = "sim.small") -> InstanceCreate:
    return InstanceCreate(name=name, cloud_id=cloud_id, image_id="img-debian-12", flavor_id=flavor_id)


async def test_a_script_runs_a_projects_instances_through_the_client(platform: Platform) -> None:
    url = platform.gateway_url
    async with AsyncClient(url, token=TOKEN) as admin:
        await admin.projects.create(ProjectCreate(id="py", name="Python"))
        user = await admin.users.create(UserCreate(email="py@example.com", name="Py", password=PASSWORD))
        member = await admin.with_project("py").members.put(user.id, MemberPut(role=Role.OWNER))
        assert member.role is Role.OWNER

    heard: list[Tokens | None] = []
    async with AsyncClient(url, project="py", on_tokens=heard.append) as owner:
        await owner.login("py@example.com", PASSWORD)
        me = await owner.me()
        assert (me.kind, me.project_id, me.role) == ("user", "py", Role.OWNER)
        cloud = await owner.clouds.add(CloudCreate(name="sim-py", driver="simcloud", config=SIM))
        key = await owner.api_keys.create(ApiKeyCreate(name="ci", role=Role.OPERATOR))
        assert [k.name async for k in owner.api_keys.list()] == ["ci"]

        # CI's key acts in its own project.
        async with AsyncClient(url, api_key=key.key) as ci:
            launched = [await ci.instances.launch(launch(cloud.id, f"web-{n}")) for n in range(3)]
            assert {i.state for i in launched} == {"requested"} and {i.project_id for i in launched} == {"py"}
            ids = [i.id for i in launched]
            rounds: list[WaitProgress[InstanceOut]] = []
            running = await ci.instances.wait_for_all(ids, "running", timeout=30, progress=rounds.append)
            assert [i.state for i in running] == ["running"] * 3 and all(i.provider_id for i in running)
            assert rounds[-1].done == rounds[-1].total == 3

            # The same idempotency key is the same launch.
            again = await ci.instances.launch(launch(cloud.id, "web-9"), idempotency_key="ci-run-1")
            repeated = await ci.instances.launch(launch(cloud.id, "web-9"), idempotency_key="ci-run-1")
            assert repeated.id == again.id
            ids.append(again.id)
            await ci.instances.wait_for(again.id, "running", timeout=30)

            # A walk across pages of two, filtered and sorted; the cursor carries the sort.
            walked = ci.instances.list(cloud_id=cloud.id, state="running", sort="name", order="desc", limit=2)
            assert [i.name async for i in walked] == ["web-9", "web-2", "web-1", "web-0"]
            page = await walked.page()
            assert len(page.items) == 2 and page.next_cursor

            stopping = await ci.instances.stop(ids[0])
            assert stopping.state == "stopping"
            await ci.instances.wait_for(ids[0], "stopped", timeout=30)
            assert [i.id async for i in ci.instances.list(cloud_id=cloud.id, state="stopped")] == [ids[0]]
            assert await ci.instances.console(ids[1])
            assert (await ci.instances.metrics(ids[1])).instance_id == ids[1]

            for instance_id in ids:
                await ci.instances.terminate(instance_id)
            await ci.instances.wait_for_all(ids, "terminated", timeout=30)

            # The synchronous client, as a script without asyncio writes it.
            def terminated() -> list[str]:
                with Client(url, api_key=key.key) as sync:
                    return sorted(i.id for i in sync.instances.list(state="terminated", limit=1))

            assert await asyncio.to_thread(terminated) == sorted(ids)

            # Refusals, typed.
            with pytest.raises(ValidationFailed) as caught:
                await ci.instances.launch(launch(cloud.id, "web-x", flavor_id="sim.enormous"))
            assert [e.location for e in caught.value.errors] == ["body.flavor_id"]
            assert caught.value.code == "validation_failed" and caught.value.correlation_id
            with pytest.raises(InvalidState):
                await ci.instances.start(ids[1])
            with pytest.raises(NotFound):
                await ci.instances.get(str(uuid.uuid4()))
            with pytest.raises(Forbidden):
                await ci.clouds.add(CloudCreate(name="sim-ci", driver="simcloud"))

            async def trail() -> list[AuditEvent] | None:
                events = [e async for e in ci.audit.list(resource_id=ids[0], limit=3)]
                return events if events and events[-1].type == "instance.terminated" else None

            events = await eventually(trail, what="the audit of the stopped instance")
            assert [e.type for e in events] == [
                "instance.requested",
                "instance.launched",
                "instance.running",
                "instance.action_requested",
                "instance.stopped",
                "instance.action_requested",
                "instance.terminated",
            ]
            assert events[0].correlation_id == events[2].correlation_id != events[3].correlation_id

        await owner.logout()
        assert heard[-1] is None and owner.tokens is None
        with pytest.raises(Unauthorized):
            await owner.me()

    async with AsyncClient(url, token=TOKEN) as admin:
        chain = await admin.audit.verify()
        assert chain.valid and chain.checked > 0


async def test_a_rate_limit_longer_than_the_retry_budget_is_raised_at_once_with_its_wait(
    rate_limited_platform: Platform,
) -> None:
    """The gateway allows this caller one call, then one more in a thousand seconds: far past the client's budget,
    so the client does not sit out the wait; it raises, saying how long the wait is."""
    async with AsyncClient(rate_limited_platform.gateway_url, token=TOKEN) as admin:
        await admin.me()
        started = asyncio.get_running_loop().time()
        with pytest.raises(RateLimited) as caught:
            await admin.me()
        assert asyncio.get_running_loop().time() - started < 5
    error = caught.value
    assert error.code == "rate_limited" and error.status == 429
    assert error.retry_after is not None and error.retry_after > 60
