"""Inventory sync on real PostgreSQL and a real SimCloud: instances made outside Clanavi are adopted, changes made
outside it are followed, Clanavi's own work in flight is never mistaken for either, runs of one account never
overlap, and a failing run is recorded without stopping the schedule."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from adapters.base import CloudAuthError, Instance, LaunchSpec, Page
from adapters.simcloud import MIGRATIONS as SIM_MIGRATIONS
from adapters.simcloud import SCHEMA as SIM_SCHEMA
from adapters.simcloud import SimCloudAdapter, SimCloudConfig, SimStore
from kernel import db
from kernel.errors import NotFound
from kernel.migrations import migrate
from services.provisioner import handlers, inventory_repository, modules, repository
from services.provisioner.app import MIGRATIONS, SCHEMA
from services.provisioner.clouds import CloudDirectory
from services.provisioner.domain import RetryPolicy
from services.provisioner.errors import ModuleDisabled
from services.provisioner.inventory import INSTANCE_TAG, SyncRun
from services.provisioner.inventory_handlers import Inventory
from services.provisioner.pacing import Pacer
from tests.conftest import Servers, make_pool

pytestmark = pytest.mark.integration

PROJECT = "p"
POLICY = RetryPolicy(max_attempts=5, throttle_budget=60.0)


class ListedSim(SimCloudAdapter):
    """SimCloud that counts its list calls, can hold them until released, can fail the next ones, and can run
    something once the last page has been listed."""

    def __init__(self, store: SimStore, config: SimCloudConfig) -> None:
        super().__init__(store, config)
        self.list_calls = 0
        self.gate: asyncio.Event | None = None
        self.failures: list[Exception] = []
        self.after_listing: Callable[[], Awaitable[None]] | None = None

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        self.list_calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            raise self.failures.pop(0)
        page = await super().list_instances(cursor=cursor, limit=limit)
        if page.next_cursor is None and self.after_listing is not None:
            hook, self.after_listing = self.after_listing, None
            await hook()
        return page


@pytest.fixture
async def url(servers: Servers) -> AsyncIterator[str]:
    name = f"t_inv_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(servers.postgres.create_database, name)
    url = servers.database_url(name)
    await asyncio.to_thread(migrate, url, schema=SIM_SCHEMA, location=SIM_MIGRATIONS)
    await asyncio.to_thread(migrate, url, schema=SCHEMA, location=MIGRATIONS)
    yield url
    await asyncio.to_thread(servers.postgres.drop_database, name)


@pytest.fixture
async def pool(url: str) -> AsyncIterator[db.Pool]:
    pool = await make_pool(url, SCHEMA)
    await repository.upsert_cloud(
        pool, cloud_id="sim", name="SimCloud", driver="simcloud", config={}, project_id=PROJECT
    )
    yield pool
    await pool.close()


@pytest.fixture
def sim(pool: db.Pool) -> ListedSim:
    # Transitions complete at once: what the cloud reports is settled when the sync lists it.
    config = SimCloudConfig(boot_seconds=0, stop_seconds=0, start_seconds=0, terminate_seconds=0)
    return ListedSim(SimStore(pool, "sim"), config)


@pytest.fixture
async def clouds(pool: db.Pool, sim: ListedSim) -> AsyncIterator[CloudDirectory]:
    directory = CloudDirectory(pool, connected={"sim": sim})
    await directory.load_modules()
    yield directory
    await directory.close()


@pytest.fixture
async def inventory(pool: db.Pool, clouds: CloudDirectory) -> AsyncIterator[Inventory]:
    inventory = Inventory(pool, clouds, interval=0, page_size=2)
    yield inventory
    await inventory.close()


async def outside(sim: SimCloudAdapter, name: str, **tags: str) -> str:
    """An instance made directly in the cloud, as a user of its own console or API would."""
    instance = await sim.launch_instance(
        LaunchSpec(name=name, image_id="img-debian-12", flavor_id="sim.small", client_token=name, tags=tags)
    )
    return instance.id


async def events(pool: db.Pool, since: int = 0) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT body FROM outbox WHERE seq > $1 ORDER BY seq", since)
    return [json.loads(r["body"]) for r in rows]


async def last_seq(pool: db.Pool) -> int:
    return int(await pool.fetchval("SELECT coalesce(max(seq), 0) FROM outbox"))


async def by_provider(pool: db.Pool) -> dict[str, Any]:
    records, _ = await repository.page(pool, repository.InstanceFilter(project_id=PROJECT), cursor=None, limit=500)
    return {r.provider_id or "": r for r in records}


async def sync(inventory: Inventory) -> SyncRun:
    return await inventory.sync("sim", trigger="manual", correlation_id=f"c-{uuid.uuid4().hex[:6]}")


async def test_outside_instances_are_adopted_and_outside_changes_followed(
    pool: db.Pool, sim: ListedSim, inventory: Inventory
) -> None:
    made = [await outside(sim, f"ext-{n}", team="web") for n in range(5)]

    first = await sync(inventory)

    assert first.status == "succeeded" and first.error is None and first.finished_at is not None
    counts = first.counts
    assert (counts.adopted, counts.drifted, counts.vanished, counts.unchanged) == (5, 0, 0, 0)
    # Five instances, two per page: three calls, never one per instance.
    assert (counts.listed, counts.list_calls, sim.list_calls) == (5, 3, 3)
    found = await by_provider(pool)
    assert set(found) == set(made)
    adopted = found[made[0]]
    assert adopted.discovered and adopted.project_id == PROJECT and adopted.pending_action is None
    assert (adopted.name, adopted.state, adopted.tags, adopted.image_id) == (
        "ext-0",
        "running",
        {"team": "web"},
        "img-debian-12",
    )
    facts = await events(pool)
    discovered = [e for e in facts if e["type"] == "instance.discovered"]
    assert sorted(e["subject"] for e in discovered) == sorted(r.id for r in found.values())
    assert {e["payload"]["provider_id"] for e in discovered} == set(made)
    assert all(e["project_id"] == PROJECT and e["payload"]["sync_id"] == first.id for e in discovered)
    assert [(e["type"], e["subject"], e["payload"]["adopted"]) for e in facts[-1:]] == [("cloud.synced", "sim", 5)]
    # Each record's last event is the one that adopted it.
    assert {r.last_event_id for r in found.values()} == {e["id"] for e in discovered}

    # Nothing changed: nothing is written but the run's own event.
    seen = await last_seq(pool)
    again = await sync(inventory)
    assert (again.counts.adopted, again.counts.drifted, again.counts.vanished, again.counts.unchanged) == (0, 0, 0, 5)
    assert [e["type"] for e in await events(pool, seen)] == ["cloud.synced"]
    assert await by_provider(pool) == found

    # Stopped outside Clanavi: the record follows.
    await sim.stop_instance(made[1])
    seen = await last_seq(pool)
    drifted = await sync(inventory)
    assert (drifted.counts.drifted, drifted.counts.vanished, drifted.counts.unchanged) == (1, 0, 4)
    assert (await by_provider(pool))[made[1]].state == "stopped"
    [fact, synced] = await events(pool, seen)
    assert (fact["type"], fact["subject"]) == ("instance.drifted", found[made[1]].id)
    assert (fact["payload"]["from_state"], fact["payload"]["to_state"]) == ("running", "stopped")
    assert fact["causation_id"] == found[made[1]].last_event_id
    assert synced["payload"]["drifted"] == 1

    # Terminated outside Clanavi (SimCloud still lists it, as terminated), and deleted for good (as EC2 forgets a
    # terminated instance after a while: SimCloud has no call for that, so its row goes).
    await sim.terminate_instance(made[2])
    await pool.execute(f"DELETE FROM {SIM_SCHEMA}.instances WHERE id = $1", made[3])
    seen = await last_seq(pool)
    vanished = await sync(inventory)
    assert (vanished.counts.vanished, vanished.counts.drifted, vanished.counts.unchanged) == (2, 0, 3)
    now = await by_provider(pool)
    assert (now[made[2]].state, now[made[3]].state) == ("gone", "gone")
    facts = await events(pool, seen)
    assert sorted((e["type"], e["subject"]) for e in facts[:-1]) == sorted(
        [("instance.vanished", found[made[2]].id), ("instance.vanished", found[made[3]].id)]
    )
    assert {e["payload"]["previous_state"] for e in facts[:-1]} == {"running"}

    # Gone is final: the next sync leaves it, and writes nothing.
    seen = await last_seq(pool)
    quiet = await sync(inventory)
    assert (quiet.counts.adopted, quiet.counts.drifted, quiet.counts.vanished) == (0, 0, 0)
    assert [e["type"] for e in await events(pool, seen)] == ["cloud.synced"]

    # The list filters.
    mine, _ = await repository.page(
        pool, repository.InstanceFilter(project_id=PROJECT, discovered=False), cursor=None, limit=50
    )
    assert mine == []
    gone, _ = await repository.page(
        pool, repository.InstanceFilter(project_id=PROJECT, discovered=True, states=["gone"]), cursor=None, limit=50
    )
    assert {r.provider_id for r in gone} == {made[2], made[3]}

    # The runs, newest first, paged.
    page, cursor = await inventory.runs("sim", project_id=PROJECT, cursor=None, limit=4)
    assert [r.id for r in page][:1] == [quiet.id] and cursor is not None
    rest, end = await inventory.runs("sim", project_id=PROJECT, cursor=cursor, limit=4)
    assert [r.id for r in rest] == [first.id] and end is None


async def test_clanavi_s_own_work_in_flight_is_neither_adopted_nor_undone(
    pool: db.Pool, sim: ListedSim, clouds: CloudDirectory, inventory: Inventory
) -> None:
    request = handlers.LaunchRequest(
        project_id=PROJECT, cloud_id="sim", name="mine", image_id="img-debian-12", flavor_id="sim.small",
        correlation_id="c",
    )  # fmt: skip
    record = await handlers.launch(pool, clouds, request)
    # The worker's launch call reached the cloud, but its answer is not recorded yet.
    await sim.launch_instance(
        LaunchSpec(
            name="mine", image_id="img-debian-12", flavor_id="sim.small", client_token=record.id,
            tags={INSTANCE_TAG: record.id},
        )
    )  # fmt: skip
    await outside(sim, "theirs")

    run = await sync(inventory)

    assert (run.counts.adopted, run.counts.vanished) == (1, 0)
    assert await handlers.get(pool, PROJECT, record.id) == record
    assert [r.name for r in (await by_provider(pool)).values() if r.discovered] == ["theirs"]

    # The worker records its launch (SimCloud answers the same instance for the same token): nothing to do then.
    assert await handlers.dispatch(pool, clouds, record.id, policy=POLICY, pacer=Pacer())
    launched = await handlers.get(pool, PROJECT, record.id)
    assert launched.provider_id is not None and launched.state == "running"
    run = await sync(inventory)
    assert (run.counts.adopted, run.counts.drifted, run.counts.vanished, run.counts.unchanged) == (0, 0, 0, 2)

    # While the cloud is being listed, Clanavi launches one more instance and stops another: the listing, taken
    # before, shows neither the new instance nor the stop.
    late = await handlers.launch(pool, clouds, request)

    async def meanwhile() -> None:
        assert await handlers.dispatch(pool, clouds, late.id, policy=POLICY, pacer=Pacer())
        await handlers.request_action(
            pool, clouds, project_id=PROJECT, instance_id=record.id, action="stop", correlation_id="c"
        )
        assert await handlers.dispatch(pool, clouds, record.id, policy=POLICY, pacer=Pacer())

    sim.after_listing = meanwhile
    seen = await last_seq(pool)
    run = await sync(inventory)

    assert sim.after_listing is None  # it ran
    assert (run.counts.adopted, run.counts.drifted, run.counts.vanished) == (0, 0, 0)
    assert (await handlers.get(pool, PROJECT, late.id)).state == "running"
    assert (await handlers.get(pool, PROJECT, record.id)).state == "stopped"
    assert not [e for e in await events(pool, seen) if e["type"].startswith("instance.") and "sync_id" in e["payload"]]
    # The next sync sees them as they are.
    run = await sync(inventory)
    assert (run.counts.adopted, run.counts.drifted, run.counts.vanished, run.counts.unchanged) == (0, 0, 0, 3)


async def test_runs_of_an_account_never_overlap(url: str, pool: db.Pool, sim: ListedSim, inventory: Inventory) -> None:
    await outside(sim, "ext")
    sim.gate = asyncio.Event()

    started = await inventory.request("sim", project_id=PROJECT, correlation_id="c1")
    assert started.status == "running" and started.trigger == "manual"
    # Asked again, here or in another replica (its own pool, directory and lock session): the same run.
    assert (await inventory.request("sim", project_id=PROJECT, correlation_id="c2")).id == started.id
    other_pool = await make_pool(url, SCHEMA)
    try:
        replica = Inventory(other_pool, CloudDirectory(other_pool, connected={"sim": sim}), interval=0)
        assert (await replica.sync("sim", trigger="scheduled", correlation_id="c3")).id == started.id
    finally:
        await other_pool.close()
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 1

    sim.gate.set()
    finished = await until(lambda: inventory.run("sim", started.id, project_id=PROJECT), "succeeded")
    assert finished.counts.adopted == 1
    assert (await sync(inventory)).counts.unchanged == 1


async def until(probe: Callable[[], Awaitable[SyncRun]], status: str, within: float = 10.0) -> SyncRun:
    deadline = time.monotonic() + within
    while True:
        run = await probe()
        if run.status == status:
            return run
        assert time.monotonic() < deadline, f"run still {run.status}"
        await asyncio.sleep(0.02)


async def test_a_run_left_running_by_a_stopped_provisioner_is_closed_by_the_next(
    pool: db.Pool, inventory: Inventory
) -> None:
    async with pool.acquire() as conn:
        stale = await inventory_repository.start_run(
            conn, cloud_id="sim", project_id=PROJECT, trigger="scheduled", correlation_id="c"
        )
    # Its process held the lock; gone with it, the lock is free again.

    run = await sync(inventory)

    assert run.status == "succeeded"
    closed = await inventory.run("sim", stale.id, project_id=PROJECT)
    assert (closed.status, closed.error) == ("failed", inventory_repository.INTERRUPTED)


async def test_a_failing_run_is_recorded_and_the_schedule_goes_on(
    pool: db.Pool, sim: ListedSim, clouds: CloudDirectory
) -> None:
    await outside(sim, "ext")
    sim.failures = [CloudAuthError("the account's key was revoked")]
    scheduled = Inventory(pool, clouds, interval=0.3)
    task = asyncio.create_task(scheduled.run_scheduled())
    try:

        async def two_runs() -> list[SyncRun]:
            runs, _ = await inventory_repository.page_runs(pool, "sim", cursor=None, limit=10)
            return runs if len(runs) >= 2 and runs[0].status != "running" else []

        deadline = time.monotonic() + 10
        while not (runs := await two_runs()):
            assert time.monotonic() < deadline, "the schedule did not run twice"
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await scheduled.close()

    latest, failed = runs[0], runs[-1]
    assert (failed.trigger, failed.status) == ("scheduled", "failed")
    assert failed.error is not None and "revoked" in failed.error
    assert (latest.trigger, latest.status, latest.counts.adopted) == ("scheduled", "succeeded", 1)
    types = [e["type"] for e in await events(pool)]
    assert types.index("cloud.sync_failed") < types.index("cloud.synced")


async def test_a_disabled_module_or_another_project_s_account_is_not_synced(
    pool: db.Pool, clouds: CloudDirectory, inventory: Inventory
) -> None:
    with pytest.raises(NotFound):
        await inventory.request("sim", project_id="someone-else", correlation_id="c")
    with pytest.raises(NotFound):
        await inventory.request("nowhere", project_id=PROJECT, correlation_id="c")
    with pytest.raises(NotFound):
        await inventory.runs("sim", project_id="someone-else", cursor=None, limit=10)

    await modules.set_enabled(pool, clouds, "simcloud", enabled=False, project_id=PROJECT, correlation_id="c")
    with pytest.raises(ModuleDisabled):
        await inventory.request("sim", project_id=PROJECT, correlation_id="c")
    scheduled = Inventory(pool, clouds, interval=0.01)
    await scheduled.sync_due()
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 0
