"""A cloud call whose answer is lost (the cloud timed out after acting, or the provisioner died before committing)
never leaves a resource in the cloud without a record, and is never done twice: the request answers 202, or the
worker takes the action over and finds what the first try made. On real PostgreSQL and a real SimCloud, behind a
hand-written adapter that loses chosen answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

import pytest

from adapters.base import (
    AdapterBase,
    Address,
    CloudUnavailable,
    Feature,
    Flavor,
    Image,
    Instance,
    KeyPair,
    LaunchSpec,
    Throttled,
    Volume,
    VolumeSpec,
)
from adapters.simcloud import MIGRATIONS as SIM_MIGRATIONS
from adapters.simcloud import SCHEMA as SIM_SCHEMA
from adapters.simcloud import SimCloudAdapter, SimCloudConfig, SimStore
from kernel import db
from kernel.errors import ServiceUnavailable
from kernel.keyset import PageRequest
from kernel.migrations import migrate
from services.provisioner import handlers, repository, resources, resources_handlers
from services.provisioner import resources_repository as store
from services.provisioner.app import MIGRATIONS, SCHEMA
from services.provisioner.clouds import CloudDirectory
from services.provisioner.domain import RetryPolicy
from services.provisioner.pacing import Pacer
from services.provisioner.resources import ResourceRecord
from tests.conftest import Servers, make_pool

pytestmark = pytest.mark.integration

T = TypeVar("T")
POLICY = RetryPolicy(max_attempts=5, throttle_budget=60.0)


class LosingCloud(AdapterBase):
    """SimCloud, except that the operations named in `lose` act and then fail as if their answer never came, and
    those named in `throttle` are refused before acting."""

    driver: ClassVar[str] = "simcloud"
    features: ClassVar[frozenset[Feature]] = SimCloudAdapter.features

    def __init__(self, real: SimCloudAdapter) -> None:
        self.real = real
        self.lose: set[str] = set()
        self.throttle: set[str] = set()
        self.calls: list[str] = []

    async def _call(self, name: str, call: Callable[[], Awaitable[T]]) -> T:
        self.calls.append(name)
        if name in self.throttle:
            raise Throttled(f"{name}: slow down")
        result = await call()
        if name in self.lose:
            self.lose.discard(name)
            raise CloudUnavailable(f"{name}: the answer was lost")
        return result

    async def list_flavors(self) -> Sequence[Flavor]:
        return await self._call("list_flavors", self.real.list_flavors)

    async def list_images(self) -> Sequence[Image]:
        return await self._call("list_images", self.real.list_images)

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        return await self._call("launch_instance", lambda: self.real.launch_instance(spec))

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        return await self._call("get_instances", lambda: self.real.get_instances(instance_ids))

    async def list_volumes(self) -> Sequence[Volume]:
        return await self._call("list_volumes", self.real.list_volumes)

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        return await self._call("create_volume", lambda: self.real.create_volume(spec))

    async def list_key_pairs(self) -> Sequence[KeyPair]:
        return await self._call("list_key_pairs", self.real.list_key_pairs)

    async def create_key_pair(self, name: str) -> KeyPair:
        return await self._call("create_key_pair", lambda: self.real.create_key_pair(name))

    async def delete_key_pair(self, name: str) -> None:
        await self._call("delete_key_pair", lambda: self.real.delete_key_pair(name))

    async def list_addresses(self) -> Sequence[Address]:
        return await self._call("list_addresses", self.real.list_addresses)

    async def allocate_address(self) -> Address:
        return await self._call("allocate_address", self.real.allocate_address)


@pytest.fixture
async def pool(servers: Servers) -> AsyncIterator[db.Pool]:
    name = f"t_prov_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(servers.postgres.create_database, name)
    url = servers.database_url(name)
    await asyncio.to_thread(migrate, url, schema=SIM_SCHEMA, location=SIM_MIGRATIONS)
    await asyncio.to_thread(migrate, url, schema=SCHEMA, location=MIGRATIONS)
    pool = await make_pool(url, SCHEMA)
    # The account belongs to the project the tests act in: another project's is as unknown as no account.
    await repository.upsert_cloud(pool, cloud_id="sim", name="SimCloud", driver="simcloud", config={}, project_id="p")
    yield pool
    await pool.close()
    await asyncio.to_thread(servers.postgres.drop_database, name)


@pytest.fixture
def cloud(pool: db.Pool) -> LosingCloud:
    config = SimCloudConfig(volume_seconds=0, snapshot_seconds=0, attach_seconds=0)
    return LosingCloud(SimCloudAdapter(SimStore(pool, "sim"), config))


@pytest.fixture
def clouds(pool: db.Pool, cloud: LosingCloud) -> CloudDirectory:
    return CloudDirectory(pool, connected={"sim": cloud})


def new_volume(name: str) -> ResourceRecord:
    return resources.new_record(
        "volume",
        id=str(uuid.uuid4()),
        project_id="p",
        cloud_id="sim",
        name=name,
        attrs={"size_gb": 1, "zone": None},
        pending={},
        correlation_id="c",
        now=datetime.now(UTC),
    )


async def worker_step(pool: db.Pool, clouds: CloudDirectory, resource_id: str, within: float = 10.0) -> None:
    """Run the worker's step for a record as soon as its action is due (polling, with a deadline)."""
    deadline = time.monotonic() + within
    while not await resources_handlers.dispatch(pool, clouds, resource_id, policy=POLICY, pacer=Pacer()):
        assert time.monotonic() < deadline, f"the action of {resource_id} never came due"
        await asyncio.sleep(0.05)


async def outbox_types(pool: db.Pool) -> list[str]:
    rows = await pool.fetch("SELECT routing_key FROM outbox ORDER BY seq")
    return [r["routing_key"].rsplit(".", 1)[0] for r in rows]


async def test_a_lost_answer_to_a_volume_creation_is_accepted_and_the_worker_adopts_the_volume(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    cloud.lose.add("create_volume")

    outcome = await resources_handlers.create_volume(
        pool,
        clouds,
        project_id="p",
        cloud_id="sim",
        name="data",
        size_gb=1,
        zone=None,
        snapshot_id=None,
        correlation_id="c",
    )

    assert not outcome.done
    assert (outcome.record.state, outcome.record.pending_action) == ("creating", "create")
    assert outcome.record.provider_id is None and "did not answer" in (outcome.record.reason or "")
    assert await outbox_types(pool) == []

    await worker_step(pool, clouds, outcome.record.id)

    volumes = [v for v in await cloud.real.list_volumes() if v.name == outcome.record.attrs["cloud_name"]]
    assert len(volumes) == 1, "the cloud got a second volume"
    record = await resources_handlers.get(pool, "p", "volume", outcome.record.id)
    assert record.provider_id == volumes[0].id and record.pending_action is None and record.reason is None
    assert cloud.calls.count("create_volume") == 1
    assert (await outbox_types(pool))[0] == "volume.created"


async def test_a_volume_creation_interrupted_by_a_crash_is_finished_by_the_worker(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    # What a request leaves when its process dies between the cloud call and the commit: the record with the
    # action pending (committed first) and the volume in the cloud.
    record = new_volume("crash")
    async with pool.acquire() as conn, conn.transaction():
        await store.insert(conn, record, retry_in=0)
    made = await cloud.real.create_volume(VolumeSpec(name=record.attrs["cloud_name"], size_gb=1))

    await worker_step(pool, clouds, record.id)

    after = await resources_handlers.get(pool, "p", "volume", record.id)
    assert after.provider_id == made.id and after.state == "available"
    assert "create_volume" not in cloud.calls
    assert await outbox_types(pool) == ["volume.created", "volume.available"]


async def test_an_uncreated_volume_is_created_by_the_worker(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    record = new_volume("late")
    async with pool.acquire() as conn, conn.transaction():
        await store.insert(conn, record, retry_in=0)

    await worker_step(pool, clouds, record.id)

    after = await resources_handlers.get(pool, "p", "volume", record.id)
    assert after.provider_id is not None and cloud.calls.count("create_volume") == 1


async def test_an_interrupted_key_pair_creation_is_undone_since_its_private_key_is_lost(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    cloud.lose.add("create_key_pair")

    with pytest.raises(ServiceUnavailable) as caught:
        await resources_handlers.create_key_pair(
            pool, clouds, project_id="p", cloud_id="sim", name="deploy", correlation_id="c"
        )

    assert caught.value.code == "cloud_unavailable"
    assert [k.name for k in await cloud.real.list_key_pairs()] == ["deploy"]
    (pending,) = (await store.page(pool, store.ResourceFilter("p", "key_pair"), PageRequest(10)))[0]

    await worker_step(pool, clouds, pending.id)

    assert await cloud.real.list_key_pairs() == []
    assert await store.get(pool, "p", "key_pair", pending.id) is None
    assert await outbox_types(pool) == []
    again = await resources_handlers.create_key_pair(
        pool, clouds, project_id="p", cloud_id="sim", name="deploy", correlation_id="c"
    )
    assert again.done and again.private_key


async def test_a_lost_address_allocation_is_found_by_elimination(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    foreign = await cloud.real.allocate_address()  # held by the account, not by Clanavi
    cloud.lose.add("allocate_address")

    outcome = await resources_handlers.allocate_address(
        pool, clouds, project_id="p", cloud_id="sim", name=None, correlation_id="c"
    )
    assert not outcome.done and outcome.record.pending["known_before"] == [foreign.id]

    await worker_step(pool, clouds, outcome.record.id)

    held = await cloud.real.list_addresses()
    assert len(held) == 2, "the worker allocated a second address"
    record = await resources_handlers.get(pool, "p", "address", outcome.record.id)
    assert record.provider_id in {a.id for a in held} - {foreign.id}
    assert record.state == "available" and record.attrs["ip"]
    assert cloud.calls.count("allocate_address") == 1


async def test_a_throttled_creation_leaves_nothing_and_says_when_to_retry(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    cloud.throttle.add("create_volume")

    with pytest.raises(ServiceUnavailable) as caught:
        await resources_handlers.create_volume(
            pool,
            clouds,
            project_id="p",
            cloud_id="sim",
            name="d",
            size_gb=1,
            zone=None,
            snapshot_id=None,
            correlation_id="c",
        )

    assert caught.value.code == "throttled"
    assert (await store.page(pool, store.ResourceFilter("p", "volume"), PageRequest(10)))[0] == []
    assert await cloud.real.list_volumes() == []


async def test_the_worker_keeps_trying_a_throttling_cloud_without_using_up_attempts(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    record = new_volume("slow")
    async with pool.acquire() as conn, conn.transaction():
        await store.insert(conn, record, retry_in=0)
    cloud.throttle.add("list_volumes")

    for _ in range(POLICY.max_attempts + 2):
        await resources_handlers.dispatch(pool, clouds, record.id, policy=POLICY, pacer=Pacer())
        await pool.execute("UPDATE resources SET next_attempt_at = now() WHERE id = $1", uuid.UUID(record.id))

    waiting = await resources_handlers.get(pool, "p", "volume", record.id)
    assert (waiting.state, waiting.pending_action, waiting.attempts) == ("creating", "create", 0)
    assert waiting.throttled == POLICY.max_attempts + 2

    cloud.throttle.clear()
    await resources_handlers.dispatch(pool, clouds, record.id, policy=POLICY, pacer=Pacer())
    done = await resources_handlers.get(pool, "p", "volume", record.id)
    assert done.provider_id is not None and done.throttled == 0


async def test_a_throttling_cloud_fails_the_action_once_the_budget_is_spent(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    record = new_volume("never")
    async with pool.acquire() as conn, conn.transaction():
        await store.insert(conn, record, retry_in=0)
    await pool.execute(
        "UPDATE resources SET pending_since = now() - interval '61 seconds' WHERE id = $1", uuid.UUID(record.id)
    )
    cloud.throttle.add("list_volumes")

    await resources_handlers.dispatch(pool, clouds, record.id, policy=POLICY, pacer=Pacer())

    failed = await resources_handlers.get(pool, "p", "volume", record.id)
    assert (failed.state, failed.pending_action) == ("error", None)
    assert "kept throttling requests for 60 s" in (failed.reason or "")
    assert await outbox_types(pool) == ["volume.failed"]


async def _launch(pool: db.Pool, clouds: CloudDirectory) -> str:
    record = await handlers.launch(
        pool,
        clouds,
        handlers.LaunchRequest(
            project_id="p",
            cloud_id="sim",
            name="web",
            image_id="img-debian-12",
            flavor_id="sim.small",
            correlation_id="c",
        ),
    )
    return record.id


async def _dispatch_now(pool: db.Pool, clouds: CloudDirectory, instance_id: str) -> None:
    await pool.execute("UPDATE instances SET next_attempt_at = now() WHERE id = $1", uuid.UUID(instance_id))
    assert await handlers.dispatch(pool, clouds, instance_id, policy=POLICY, pacer=Pacer())


async def test_a_throttled_launch_keeps_its_attempts_then_launches_once(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    instance_id = await _launch(pool, clouds)
    cloud.throttle.add("launch_instance")

    for _ in range(POLICY.max_attempts * 2):
        await _dispatch_now(pool, clouds, instance_id)
    waiting = await handlers.get(pool, "p", instance_id)
    assert (waiting.state, waiting.pending_action, waiting.attempts) == ("requested", "launch", 0)
    assert waiting.throttled == POLICY.max_attempts * 2 and "slow down" in (waiting.reason or "")

    cloud.throttle.clear()
    await _dispatch_now(pool, clouds, instance_id)
    launched = await handlers.get(pool, "p", instance_id)
    assert launched.provider_id is not None and launched.throttled == 0 and launched.pending_action is None
    assert cloud.calls.count("launch_instance") == POLICY.max_attempts * 2 + 1


async def test_a_launch_throttled_past_the_budget_fails_with_a_clear_reason(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    instance_id = await _launch(pool, clouds)
    await pool.execute(
        "UPDATE instances SET pending_since = now() - interval '61 seconds' WHERE id = $1", uuid.UUID(instance_id)
    )
    cloud.throttle.add("launch_instance")

    await _dispatch_now(pool, clouds, instance_id)

    failed = await handlers.get(pool, "p", instance_id)
    assert (failed.state, failed.pending_action) == ("error", None)
    assert (failed.reason or "").startswith("The cloud kept throttling requests for 60 s")
    assert (await outbox_types(pool))[-1] == "instance.failed"


async def test_a_launch_whose_cloud_is_away_fails_after_its_attempts(
    pool: db.Pool, cloud: LosingCloud, clouds: CloudDirectory
) -> None:
    instance_id = await _launch(pool, clouds)
    cloud.throttle.clear()
    for _ in range(POLICY.max_attempts):
        cloud.lose.add("launch_instance")
        await _dispatch_now(pool, clouds, instance_id)
        record = await handlers.get(pool, "p", instance_id)
        if record.state == "error":
            break
    # Each lost answer still launched (idempotently, by the client token): one instance in the cloud.
    assert record.state == "error" and "kept failing" in (record.reason or "")
    assert record.attempts == POLICY.max_attempts - 1
    assert len((await cloud.real.list_instances()).items) == 1
