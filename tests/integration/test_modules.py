"""Disabling an adapter module on real PostgreSQL and a real SimCloud: its accounts refuse requests with nothing
recorded, a worker action already recorded waits untouched (whether the worker learns of the change from the
database or from its own memory first), the state outlives the process, and enabling the module resumes the
action."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.simcloud import MIGRATIONS as SIM_MIGRATIONS
from adapters.simcloud import SCHEMA as SIM_SCHEMA
from kernel import db
from kernel.errors import NotFound
from kernel.migrations import migrate
from services.provisioner.app import MIGRATIONS, SCHEMA
from services.provisioner.errors import ModuleIsDisabled
from services.provisioner.instances import handlers
from services.provisioner.instances.cloud import INSTANCES
from services.provisioner.modules import handlers as modules
from tests.conftest import Servers, make_pool
from tests.integration.provisioner_parts import Parts, add_cloud, parts, started

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(servers: Servers) -> AsyncIterator[db.Pool]:
    name = f"t_mod_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(servers.postgres.create_database, name)
    url = servers.database_url(name)
    await asyncio.to_thread(migrate, url, schema=SIM_SCHEMA, location=SIM_MIGRATIONS)
    await asyncio.to_thread(migrate, url, schema=SCHEMA, location=MIGRATIONS)
    pool = await make_pool(url, SCHEMA)
    # The account belongs to the project the tests act in: another project's is as unknown as no account.
    await add_cloud(pool, "sim", project_id="p")
    yield pool
    await pool.close()
    await asyncio.to_thread(servers.postgres.drop_database, name)


@pytest.fixture
async def p(pool: db.Pool) -> AsyncIterator[Parts]:
    made = await started(pool)
    yield made
    await made.clouds.close()


async def due(p: Parts) -> list[str]:
    return await p.engine.due(INSTANCES, 100)


def launch_request(name: str) -> handlers.LaunchRequest:
    return handlers.LaunchRequest(
        project_id="p", cloud_id="sim", name=name, image_id="img-debian-12", flavor_id="sim.small", correlation_id="c"
    )


async def outbox(pool: db.Pool) -> list[dict[str, object]]:
    rows = await pool.fetch("SELECT body FROM outbox ORDER BY seq")
    return [json.loads(r["body"]) for r in rows]


async def test_a_recorded_action_waits_while_the_module_is_disabled_and_resumes_after(pool: db.Pool, p: Parts) -> None:
    record = await handlers.launch(p.uow, p.clouds, launch_request("held"))
    assert record.pending_action == "launch"

    view = await modules.set_enabled(p.uow, p.clouds, "simcloud", enabled=False, correlation_id="c1")
    assert view.enabled is False and view.cloud_ids == ("sim",)
    assert record.id not in await due(p)
    assert await p.engine.step(INSTANCES, record.id) is False

    # A worker that still believes the module enabled: the database holds the row back.
    stale = parts(pool)
    assert stale.clouds.module_enabled("simcloud")
    assert await stale.engine.step(INSTANCES, record.id) is False
    await stale.clouds.close()

    # Nothing more is recorded while it is disabled, and the held row is untouched.
    with pytest.raises(ModuleIsDisabled) as refused:
        await handlers.launch(p.uow, p.clouds, launch_request("refused"))
    assert refused.value.http_status == 409 and refused.value.code == "module_disabled"
    with pytest.raises(ModuleIsDisabled):
        await handlers.request_action(
            p.uow, p.clouds, project_id="p", instance_id=record.id, action="terminate", correlation_id="c"
        )
    assert await handlers.get(p.uow, "p", record.id) == record
    assert await pool.fetchval("SELECT count(*) FROM instances") == 1

    # The state is in the database: a provisioner starting now reads it.
    restarted = (await started(pool)).clouds
    assert not restarted.module_enabled("simcloud")
    await restarted.close()

    await modules.set_enabled(p.uow, p.clouds, "simcloud", enabled=True, correlation_id="c2")
    # Enabling again changes nothing and publishes nothing.
    await modules.set_enabled(p.uow, p.clouds, "simcloud", enabled=True, correlation_id="c3")
    assert record.id in await due(p)
    assert await p.engine.step(INSTANCES, record.id) is True
    launched = await handlers.get(p.uow, "p", record.id)
    assert launched.pending_action is None and launched.provider_id is not None and launched.state == "pending"

    facts = [
        (e["type"], e["subject"], e["payload"]) for e in await outbox(pool) if str(e["type"]).startswith("module.")
    ]
    assert facts == [
        ("module.disabled", "simcloud", {"module": "simcloud", "cloud_ids": ["sim"]}),
        ("module.enabled", "simcloud", {"module": "simcloud", "cloud_ids": ["sim"]}),
    ]


async def test_a_worker_that_learns_of_the_change_first_leaves_the_action_untouched(pool: db.Pool, p: Parts) -> None:
    record = await handlers.launch(p.uow, p.clouds, launch_request("raced"))
    # Disabled in this process's memory but not yet in the database: the row is claimed, the adapter refused.
    p.clouds.set_module("simcloud", enabled=False)
    assert record.id in await due(p)
    assert await p.engine.step(INSTANCES, record.id) is False
    assert await handlers.get(p.uow, "p", record.id) == record
    p.clouds.set_module("simcloud", enabled=True)
    assert await p.engine.step(INSTANCES, record.id) is True


async def test_an_unknown_module_is_not_found(pool: db.Pool, p: Parts) -> None:
    names = [v.name for v in await modules.list_modules(p.uow, p.clouds)]
    assert names[:3] == ["simcloud", "ec2", "libvirt"]
    with pytest.raises(NotFound, match="Module nope does not exist") as missing:
        await modules.set_enabled(p.uow, p.clouds, "nope", enabled=False, correlation_id="c")
    assert missing.value.http_status == 404
    assert await pool.fetchval("SELECT count(*) FROM modules") == 0
