"""Inventory sync on real PostgreSQL and a real SimCloud: instances made outside Clanavi are adopted, changes made
outside it are followed, Clanavi's own work in flight is never mistaken for either, runs of one account never
overlap, and a failing run is recorded without stopping the schedule."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.base import CloudAuthError, Feature, Instance, LaunchSpec, Page, Volume, VolumeSpec
from adapters.simcloud import MIGRATIONS as SIM_MIGRATIONS
from adapters.simcloud import SCHEMA as SIM_SCHEMA
from adapters.simcloud import SimCloudAdapter, SimCloudConfig, SimStore
from kernel import db
from kernel.errors import InvalidState, NotFound
from kernel.keyset import PageRequest
from kernel.migrations import migrate
from services.provisioner.app import MIGRATIONS, SCHEMA
from services.provisioner.errors import ModuleIsDisabled
from services.provisioner.instances import handlers
from services.provisioner.instances.cloud import INSTANCES
from services.provisioner.instances.domain import INSTANCE_TAG
from services.provisioner.instances.repository import InstanceFilter
from services.provisioner.inventory.domain import SyncRun
from services.provisioner.inventory.handlers import Inventory
from services.provisioner.inventory.repository import INTERRUPTED
from services.provisioner.inventory.schedule import Schedule
from services.provisioner.modules import handlers as modules
from services.provisioner.resources import domain as resources
from services.provisioner.resources import handlers as resources_handlers
from services.provisioner.resources.answers import volume_out
from services.provisioner.resources.repository import ResourceFilter
from tests.conftest import Servers, make_pool
from tests.integration.provisioner_parts import Parts, add_cloud, parts, started
from tests.tokens import new_token

pytestmark = pytest.mark.integration

PROJECT = "p"


class ListedSim(SimCloudAdapter):
    """SimCloud that counts its list calls, can hold them until released, can fail the next ones, and can run
    something once the last page has been listed."""

    def __init__(self, store: SimStore, config: SimCloudConfig) -> None:
        super().__init__(store, config)
        self.list_calls = 0
        self.gate: asyncio.Event | None = None
        self.failures: list[Exception] = []
        self.after_listing: Callable[[], Awaitable[None]] | None = None
        self.after_volume_listing: Callable[[], Awaitable[None]] | None = None

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

    async def list_volumes(self) -> Sequence[Volume]:
        listed = await super().list_volumes()
        if self.after_volume_listing is not None:
            hook, self.after_volume_listing = self.after_volume_listing, None
            await hook()
        return listed


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
    await add_cloud(pool, "sim", project_id=PROJECT)
    yield pool
    await pool.close()


@pytest.fixture
def sim(pool: db.Pool) -> ListedSim:
    # Transitions complete at once: what the cloud reports is settled when the sync lists it.
    config = SimCloudConfig(
        boot_seconds=0, stop_seconds=0, start_seconds=0, terminate_seconds=0, volume_seconds=0, attach_seconds=0
    )
    return ListedSim(SimStore(pool, "sim"), config)


@pytest.fixture
async def p(pool: db.Pool, sim: ListedSim) -> AsyncIterator[Parts]:
    made = await started(pool, {"sim": sim})
    yield made
    await made.clouds.close()


@pytest.fixture
async def inventory(p: Parts) -> AsyncIterator[Inventory]:
    inventory = Inventory(p.uow, p.clouds, page_size=2)
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


async def instances(pool: db.Pool, **filters: Any) -> list[Any]:
    async with parts(pool).uow.reading() as repos:
        return (await repos.instances.page(InstanceFilter(project_id=PROJECT, **filters), PageRequest(500)))[0]


async def by_provider(pool: db.Pool) -> dict[str, Any]:
    return {r.provider_id or "": r for r in await instances(pool)}


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
    assert await instances(pool, discovered=False) == []
    gone = await instances(pool, discovered=True, states=["gone"])
    assert {r.provider_id for r in gone} == {made[2], made[3]}

    # The runs, newest first, paged.
    page, cursor = await inventory.runs("sim", project_id=PROJECT, paging=PageRequest(4))
    assert [r.id for r in page][:1] == [quiet.id] and cursor is not None
    rest, end = await inventory.runs("sim", project_id=PROJECT, paging=PageRequest(4, cursor))
    assert [r.id for r in rest] == [first.id] and end is None


async def test_clanavi_s_own_work_in_flight_is_neither_adopted_nor_undone(
    pool: db.Pool, sim: ListedSim, p: Parts, inventory: Inventory
) -> None:
    request = handlers.LaunchRequest(
        project_id=PROJECT, cloud_id="sim", name="mine", image_id="img-debian-12", flavor_id="sim.small",
        correlation_id="c",
    )  # fmt: skip
    record = await handlers.launch(p.uow, p.clouds, request)
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
    assert await handlers.get(p.uow, PROJECT, record.id) == record
    assert [r.name for r in (await by_provider(pool)).values() if r.discovered] == ["theirs"]

    # The worker records its launch (SimCloud answers the same instance for the same token): nothing to do then.
    assert await p.engine.step(INSTANCES, record.id)
    launched = await handlers.get(p.uow, PROJECT, record.id)
    assert launched.provider_id is not None and launched.state == "running"
    run = await sync(inventory)
    assert (run.counts.adopted, run.counts.drifted, run.counts.vanished, run.counts.unchanged) == (0, 0, 0, 2)

    # While the cloud is being listed, Clanavi launches one more instance and stops another: the listing, taken
    # before, shows neither the new instance nor the stop.
    late = await handlers.launch(p.uow, p.clouds, request)

    async def meanwhile() -> None:
        assert await p.engine.step(INSTANCES, late.id)
        await handlers.request_action(
            p.uow, p.clouds, project_id=PROJECT, instance_id=record.id, action="stop", correlation_id="c"
        )
        assert await p.engine.step(INSTANCES, record.id)

    sim.after_listing = meanwhile
    seen = await last_seq(pool)
    run = await sync(inventory)

    assert sim.after_listing is None  # it ran
    assert (run.counts.adopted, run.counts.drifted, run.counts.vanished) == (0, 0, 0)
    assert (await handlers.get(p.uow, PROJECT, late.id)).state == "running"
    assert (await handlers.get(p.uow, PROJECT, record.id)).state == "stopped"
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
        replica_parts = parts(other_pool, {"sim": sim})
        replica = Inventory(replica_parts.uow, replica_parts.clouds)
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
    async with parts(pool).uow.transaction() as tx:
        stale = await tx.repos.inventory.start_run(
            cloud_id="sim", project_id=PROJECT, trigger="scheduled", correlation_id="c", lease=0
        )
    # Its process renewed the run's lease; gone with it, the lease runs out.
    assert stale is not None

    run = await sync(inventory)

    assert run.status == "succeeded"
    closed = await inventory.run("sim", stale.id, project_id=PROJECT)
    assert (closed.status, closed.error) == ("failed", INTERRUPTED)


async def test_a_failing_run_is_recorded_and_the_schedule_goes_on(pool: db.Pool, sim: ListedSim, p: Parts) -> None:
    await outside(sim, "ext")
    sim.failures = [CloudAuthError("the account's key was revoked")]
    scheduled = Inventory(p.uow, p.clouds)
    task = asyncio.create_task(Schedule(scheduled, interval=0.3).run())
    try:

        async def two_runs() -> list[SyncRun]:
            async with p.uow.reading() as repos:
                runs, _ = await repos.inventory.page_runs(PROJECT, "sim", PageRequest(10))
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
    pool: db.Pool, p: Parts, inventory: Inventory
) -> None:
    with pytest.raises(NotFound):
        await inventory.request("sim", project_id="someone-else", correlation_id="c")
    with pytest.raises(NotFound):
        await inventory.request("nowhere", project_id=PROJECT, correlation_id="c")
    with pytest.raises(NotFound):
        await inventory.runs("sim", project_id="someone-else", paging=PageRequest(10))

    await modules.set_enabled(p.uow, p.clouds, "simcloud", enabled=False, correlation_id="c")
    with pytest.raises(ModuleIsDisabled):
        await inventory.request("sim", project_id=PROJECT, correlation_id="c")
    await Schedule(Inventory(p.uow, p.clouds), interval=0.01).sync_due()
    assert await pool.fetchval("SELECT count(*) FROM sync_runs") == 0


async def volumes(pool: db.Pool, *, discovered: bool | None = None) -> dict[str, resources.ResourceRecord]:
    flt = ResourceFilter(PROJECT, "volume", discovered=discovered)
    async with parts(pool).uow.reading() as repos:
        records, _ = await repos.resources.page(flt, PageRequest(500))
    return {r.provider_id or r.id: r for r in records}


async def test_outside_volumes_are_adopted_and_followed_and_clanavi_s_own_creation_is_left_alone(
    pool: db.Pool, sim: ListedSim, p: Parts, inventory: Inventory
) -> None:
    instance = await outside(sim, "ext-vm")
    kept = await sim.create_volume(VolumeSpec(name="ext-data", size_gb=5, client_token=new_token()))
    dropped = await sim.create_volume(VolumeSpec(name="ext-scratch", size_gb=8, client_token=new_token()))
    await sim.attach_volume(kept.id, instance, "/dev/vdb")
    # A volume Clanavi is creating: its cloud call has not answered yet.
    own = resources.new_record(
        "volume",
        id=str(uuid.uuid4()),
        project_id=PROJECT,
        cloud_id="sim",
        name="mine",
        attrs={"size_gb": 1},
        pending={},
        correlation_id="c-own",
        now=datetime.now(UTC),
    )
    async with p.uow.transaction() as tx:
        await tx.repos.resources.add(own, claim=str(uuid.uuid4()), lease=600)
    seq = await last_seq(pool)

    first = await sync(inventory)

    assert first.status == "succeeded", first.error
    c = first.counts
    assert (c.volumes_adopted, c.volumes_drifted, c.volumes_vanished, c.volumes_listed) == (2, 0, 0, 2)
    found = await volumes(pool, discovered=True)
    assert set(found) == {kept.id, dropped.id}
    adopted = found[kept.id]
    assert adopted.discovered and adopted.state == "in-use" and adopted.pending_action is None
    instances = await by_provider(pool)
    assert adopted.attrs["instance_id"] == instances[instance].id and adopted.attrs["device"] == "/dev/vdb"
    assert (adopted.name, adopted.attrs["size_gb"], adopted.attrs["zone"]) == ("ext-data", 5, kept.zone)
    assert found[dropped.id].state == "available"
    assert set(await volumes(pool, discovered=False)) == {own.id}
    published = await events(pool, seq)
    discovered = {e["payload"]["provider_id"]: e for e in published if e["type"] == "volume.discovered"}
    assert set(discovered) == {kept.id, dropped.id}
    assert discovered[kept.id]["subject"] == adopted.id and discovered[kept.id]["payload"]["sync_id"] == first.id
    assert discovered[kept.id]["payload"]["instance_id"] == instances[instance].id
    (synced,) = [e for e in published if e["type"] == "cloud.synced"]
    assert synced["payload"]["volumes_adopted"] == 2 and synced["payload"]["adopted"] == 1

    await sim.delete_volume(dropped.id)
    seq = await last_seq(pool)

    second = await sync(inventory)

    c = second.counts
    assert (c.volumes_adopted, c.volumes_drifted, c.volumes_vanished, c.volumes_unchanged) == (0, 0, 1, 1)
    after = await volumes(pool)
    gone = after[dropped.id]
    assert gone.state == "gone" and after[kept.id].state == "in-use"
    assert after[own.id].state == "creating" and after[own.id].pending_action == "create"
    vanished = [e for e in await events(pool, seq) if e["type"].startswith("volume.")]
    assert [(e["type"], e["subject"], e["payload"]["previous_state"]) for e in vanished] == [
        ("volume.vanished", gone.id, "available")
    ]
    assert volume_out(gone).state == "gone"
    with pytest.raises(InvalidState):
        await resources_handlers.act_plainly(
            p.ports, project_id=PROJECT, kind="volume", resource_id=gone.id, action="delete", correlation_id="c"
        )
    seq = await last_seq(pool)

    third = await sync(inventory)

    c = third.counts
    assert (c.volumes_adopted, c.volumes_drifted, c.volumes_vanished, c.volumes_unchanged) == (0, 0, 0, 1)
    assert [e["type"] for e in await events(pool, seq)] == ["cloud.synced"]
    assert (await volumes(pool))[dropped.id].state == "gone"
    # A gone volume is not something Clanavi still holds in the cloud.
    async with p.uow.reading() as repos:
        live = await repos.clouds.usage("sim")
    assert sorted(live["volume"]) == sorted([adopted.id, own.id])


async def test_a_volume_record_changed_while_the_cloud_was_listed_waits_for_the_next_sync(
    pool: db.Pool, sim: ListedSim, inventory: Inventory
) -> None:
    made = await sim.create_volume(VolumeSpec(name="ext-data", size_gb=5, client_token=new_token()))
    await sync(inventory)
    record = (await volumes(pool))[made.id]
    await sim.delete_volume(made.id)

    async def touched() -> None:
        await pool.execute("UPDATE resources SET updated_at = now() WHERE id = $1", uuid.UUID(record.id))

    sim.after_volume_listing = touched
    seq = await last_seq(pool)

    left = await sync(inventory)

    assert (left.counts.volumes_vanished, left.counts.volumes_listed) == (0, 0)
    assert (await volumes(pool))[made.id].state == "available"
    assert [e["type"] for e in await events(pool, seq)] == ["cloud.synced"]

    assert (await sync(inventory)).counts.volumes_vanished == 1
    assert (await volumes(pool))[made.id].state == "gone"


class VolumelessSim(SimCloudAdapter):
    """SimCloud declaring no volumes, as an adapter without them does."""

    features = SimCloudAdapter.features - {Feature.VOLUMES}


async def test_an_adapter_without_volumes_has_its_volumes_left_alone(pool: db.Pool) -> None:
    sim = VolumelessSim(SimStore(pool, "sim"), SimCloudConfig(volume_seconds=0))
    await sim.create_volume(VolumeSpec(name="ext-data", size_gb=5, client_token=new_token()))
    volumeless = await started(pool, {"sim": sim})
    inventory = Inventory(volumeless.uow, volumeless.clouds)
    try:
        run = await sync(inventory)
    finally:
        await inventory.close()
        await volumeless.clouds.close()

    assert run.status == "succeeded" and run.counts.volumes_listed == 0
    assert await volumes(pool) == {}
