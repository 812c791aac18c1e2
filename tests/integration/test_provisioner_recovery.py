"""A cloud call whose answer is lost (the cloud timed out after acting, or the provisioner died before committing)
never leaves a resource in the cloud without a record, and is never done twice: the request answers 202, or the
worker takes the action over and finds what the first try made: by asking again with the same client token, or, on a
cloud that does not honour one, by the resource's name or by elimination. On real PostgreSQL and a real SimCloud,
behind a hand-written adapter that loses chosen answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

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
    Snapshot,
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
from services.provisioner.app import MIGRATIONS, SCHEMA
from services.provisioner.instances import handlers
from services.provisioner.instances.cloud import INSTANCES
from services.provisioner.resources import domain as resources
from services.provisioner.resources import handlers as resources_handlers
from services.provisioner.resources.cloud import RESOURCES
from services.provisioner.resources.domain import ResourceRecord
from services.provisioner.resources.repository import ResourceFilter
from services.provisioner.work.engine import Engine, Kind
from services.provisioner.work.pacing import Pacer, RetryPolicy
from tests.conftest import Servers, make_pool
from tests.integration.provisioner_parts import Parts, add_cloud, parts
from tests.provisioner_requests import request_volume

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

    def _token(self, client_token: str) -> str:
        return client_token

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
        asked = replace(spec, client_token=self._token(spec.client_token))
        return await self._call("create_volume", lambda: self.real.create_volume(asked))

    async def list_snapshots(self) -> Sequence[Snapshot]:
        return await self._call("list_snapshots", self.real.list_snapshots)

    async def create_snapshot(self, volume_id: str, name: str, *, client_token: str) -> Snapshot:
        token = self._token(client_token)
        return await self._call(
            "create_snapshot", lambda: self.real.create_snapshot(volume_id, name, client_token=token)
        )

    async def list_key_pairs(self) -> Sequence[KeyPair]:
        return await self._call("list_key_pairs", self.real.list_key_pairs)

    async def create_key_pair(self, name: str) -> KeyPair:
        return await self._call("create_key_pair", lambda: self.real.create_key_pair(name))

    async def delete_key_pair(self, name: str) -> None:
        await self._call("delete_key_pair", lambda: self.real.delete_key_pair(name))

    async def list_addresses(self) -> Sequence[Address]:
        return await self._call("list_addresses", self.real.list_addresses)

    async def allocate_address(self, *, client_token: str) -> Address:
        token = self._token(client_token)
        return await self._call("allocate_address", lambda: self.real.allocate_address(client_token=token))


class CloudWithoutTokens(LosingCloud):
    """The same cloud as an adapter (a plugin's, say) that does not honour client tokens: a repeated create makes
    another resource, so the worker finds what a lost try made by its name, or by elimination."""

    features: ClassVar[frozenset[Feature]] = LosingCloud.features - {Feature.IDEMPOTENT_CREATE}

    def _token(self, client_token: str) -> str:
        return uuid.uuid4().hex


@pytest.fixture
async def pool(servers: Servers) -> AsyncIterator[db.Pool]:
    name = f"t_prov_{uuid.uuid4().hex[:10]}"
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


def simcloud(pool: db.Pool) -> SimCloudAdapter:
    """SimCloud on the test's database, its volumes, snapshots and attachments done at once."""
    config = SimCloudConfig(volume_seconds=0, snapshot_seconds=0, attach_seconds=0)
    return SimCloudAdapter(SimStore(pool, "sim"), config)


@pytest.fixture
def cloud(pool: db.Pool) -> LosingCloud:
    return LosingCloud(simcloud(pool))


@pytest.fixture
def p(pool: db.Pool, cloud: LosingCloud) -> Parts:
    return parts(pool, {"sim": cloud}, policy=POLICY)


@pytest.fixture
def tokenless(pool: db.Pool) -> CloudWithoutTokens:
    return CloudWithoutTokens(simcloud(pool))


@pytest.fixture
def plain(pool: db.Pool, tokenless: CloudWithoutTokens) -> Parts:
    """The provisioner's parts on the cloud without client tokens."""
    return parts(pool, {"sim": tokenless}, policy=POLICY)


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


async def step(p: Parts, kind: Kind[Any, Any, Any], record_id: str) -> bool:
    """The worker's step for a record, with a pacer of its own (a throttled cloud is not left alone meanwhile)."""
    return await Engine(p.uow, p.clouds, policy=POLICY, pacer=Pacer()).step(kind, record_id)


async def worker_step(p: Parts, resource_id: str, within: float = 10.0) -> None:
    """Run the worker's step for a record as soon as its action is due (polling, with a deadline)."""
    deadline = time.monotonic() + within
    while not await step(p, RESOURCES, resource_id):
        assert time.monotonic() < deadline, f"the action of {resource_id} never came due"
        await asyncio.sleep(0.05)


async def insert(p: Parts, record: ResourceRecord) -> None:
    """What a request leaves when its process dies before its cloud call: the record, due at once."""
    async with p.uow.transaction() as tx:
        await tx.repos.resources.add(record)


async def resources_of(p: Parts, kind: resources.Kind) -> list[ResourceRecord]:
    async with p.uow.reading() as repos:
        return (await repos.resources.page(ResourceFilter("p", kind), PageRequest(10)))[0]


async def due_now(pool: db.Pool, table: str, record_id: str) -> None:
    await pool.execute(f"UPDATE {table} SET next_attempt_at = now() WHERE id = $1", uuid.UUID(record_id))


async def since(pool: db.Pool, table: str, record_id: str, *, seconds: int) -> None:
    """Make the record's action as old as `seconds`."""
    await pool.execute(
        f"UPDATE {table} SET pending_since = now() - make_interval(secs => $2) WHERE id = $1",
        uuid.UUID(record_id),
        seconds,
    )


async def outbox_types(pool: db.Pool) -> list[str]:
    rows = await pool.fetch("SELECT routing_key FROM outbox ORDER BY seq")
    return [r["routing_key"].rsplit(".", 1)[0] for r in rows]


async def test_a_lost_answer_to_a_volume_creation_is_accepted_and_the_worker_gets_the_volume_by_its_token(
    p: Parts, cloud: LosingCloud
) -> None:
    cloud.lose.add("create_volume")

    outcome = await request_volume(p.ports)

    assert not outcome.done
    assert (outcome.record.state, outcome.record.pending_action) == ("creating", "create")
    assert outcome.record.provider_id is None and "did not answer" in (outcome.record.reason or "")
    assert await outbox_types(p.pool) == []

    await worker_step(p, outcome.record.id)

    volumes = [v for v in await cloud.real.list_volumes() if v.name == outcome.record.attrs["cloud_name"]]
    assert len(volumes) == 1, "the cloud got a second volume"
    record = await resources_handlers.get(p.ports, "p", "volume", outcome.record.id)
    assert record.provider_id == volumes[0].id and record.pending_action is None and record.reason is None
    # The worker asked again with the record's id as client token, and got the same volume; it searched nothing.
    assert cloud.calls.count("create_volume") == 2 and "list_volumes" not in cloud.calls
    assert (await outbox_types(p.pool))[0] == "volume.created"


async def test_a_volume_creation_interrupted_by_a_crash_is_replayed_into_the_same_volume(
    p: Parts, cloud: LosingCloud
) -> None:
    # What a request leaves when its process dies between the cloud call and the commit: the record with the
    # action pending (committed first) and the volume in the cloud, made with the record's id as client token.
    record = new_volume("crash")
    await insert(p, record)
    made = await cloud.real.create_volume(
        VolumeSpec(name=record.attrs["cloud_name"], size_gb=1, client_token=record.id)
    )

    await worker_step(p, record.id)

    after = await resources_handlers.get(p.ports, "p", "volume", record.id)
    assert after.provider_id == made.id and after.state == "available"
    assert [v.id for v in await cloud.real.list_volumes()] == [made.id], "the replay made a second volume"
    assert cloud.calls == ["create_volume"]
    assert await outbox_types(p.pool) == ["volume.created", "volume.available"]


async def test_a_snapshot_creation_interrupted_by_a_crash_is_replayed_into_the_same_snapshot(
    p: Parts, cloud: LosingCloud
) -> None:
    volume = await cloud.real.create_volume(VolumeSpec(name="source", size_gb=1, client_token=uuid.uuid4().hex))
    record = resources.new_record(
        "snapshot",
        project_id="p",
        cloud_id="sim",
        name="nightly",
        attrs={"volume_id": str(uuid.uuid4()), "size_gb": 1},
        pending={"provider_volume_id": volume.id},
        correlation_id="c",
    )
    await insert(p, record)
    made = await cloud.real.create_snapshot(volume.id, record.attrs["cloud_name"], client_token=record.id)

    await worker_step(p, record.id)

    after = await resources_handlers.get(p.ports, "p", "snapshot", record.id)
    assert after.provider_id == made.id
    assert [s.id for s in await cloud.real.list_snapshots()] == [made.id], "the replay made a second snapshot"
    assert cloud.calls == ["create_snapshot"]


async def test_without_client_tokens_a_crashed_volume_creation_is_found_by_its_name(
    plain: Parts, tokenless: CloudWithoutTokens
) -> None:
    record = new_volume("crash")
    await insert(plain, record)
    made = await tokenless.real.create_volume(
        VolumeSpec(name=record.attrs["cloud_name"], size_gb=1, client_token=uuid.uuid4().hex)
    )

    await worker_step(plain, record.id)

    after = await resources_handlers.get(plain.ports, "p", "volume", record.id)
    assert after.provider_id == made.id and after.state == "available"
    assert "create_volume" not in tokenless.calls and "list_volumes" in tokenless.calls


async def test_an_uncreated_volume_is_created_by_the_worker(p: Parts, cloud: LosingCloud) -> None:
    record = new_volume("late")
    await insert(p, record)

    await worker_step(p, record.id)

    after = await resources_handlers.get(p.ports, "p", "volume", record.id)
    assert after.provider_id is not None and cloud.calls.count("create_volume") == 1


async def test_an_interrupted_key_pair_creation_is_undone_since_its_private_key_is_lost(
    p: Parts, cloud: LosingCloud
) -> None:
    cloud.lose.add("create_key_pair")

    with pytest.raises(ServiceUnavailable) as caught:
        await resources_handlers.create_key_pair(
            p.ports, project_id="p", cloud_id="sim", name="deploy", correlation_id="c"
        )

    assert caught.value.code == "cloud_unavailable"
    assert [k.name for k in await cloud.real.list_key_pairs()] == ["deploy"]
    (pending,) = await resources_of(p, "key_pair")

    await worker_step(p, pending.id)

    assert await cloud.real.list_key_pairs() == []
    assert await resources_of(p, "key_pair") == []
    assert await outbox_types(p.pool) == []
    again = await resources_handlers.create_key_pair(
        p.ports, project_id="p", cloud_id="sim", name="deploy", correlation_id="c"
    )
    assert again.done and again.private_key


async def test_a_lost_address_allocation_is_found_by_its_client_token(p: Parts, cloud: LosingCloud) -> None:
    foreign = await cloud.real.allocate_address(client_token=uuid.uuid4().hex)  # the account's, not Clanavi's
    cloud.lose.add("allocate_address")

    outcome = await resources_handlers.allocate_address(
        p.ports, project_id="p", cloud_id="sim", name=None, correlation_id="c"
    )
    assert not outcome.done and "known_before" not in outcome.record.pending

    await worker_step(p, outcome.record.id)

    held = await cloud.real.list_addresses()
    assert len(held) == 2, "the worker allocated a second address"
    record = await resources_handlers.get(p.ports, "p", "address", outcome.record.id)
    assert record.provider_id in {a.id for a in held} - {foreign.id}
    assert record.state == "available" and record.attrs["ip"]
    assert cloud.calls.count("allocate_address") == 2 and "list_addresses" not in cloud.calls


async def test_without_client_tokens_a_lost_address_allocation_is_found_by_elimination(
    plain: Parts, tokenless: CloudWithoutTokens
) -> None:
    foreign = await tokenless.real.allocate_address(client_token=uuid.uuid4().hex)
    tokenless.lose.add("allocate_address")

    outcome = await resources_handlers.allocate_address(
        plain.ports, project_id="p", cloud_id="sim", name=None, correlation_id="c"
    )
    assert not outcome.done and outcome.record.pending["known_before"] == [foreign.id]

    await worker_step(plain, outcome.record.id)

    held = await tokenless.real.list_addresses()
    assert len(held) == 2, "the worker allocated a second address"
    record = await resources_handlers.get(plain.ports, "p", "address", outcome.record.id)
    assert record.provider_id in {a.id for a in held} - {foreign.id}
    assert tokenless.calls.count("allocate_address") == 1


async def test_a_throttled_creation_leaves_nothing_and_says_when_to_retry(p: Parts, cloud: LosingCloud) -> None:
    cloud.throttle.add("create_volume")

    with pytest.raises(ServiceUnavailable) as caught:
        await request_volume(p.ports, "d")

    assert caught.value.code == "throttled"
    assert await resources_of(p, "volume") == []
    assert await cloud.real.list_volumes() == []


async def test_the_worker_keeps_trying_a_throttling_cloud_without_using_up_attempts(
    p: Parts, cloud: LosingCloud
) -> None:
    record = new_volume("slow")
    await insert(p, record)
    cloud.throttle.add("create_volume")

    for _ in range(POLICY.max_attempts + 2):
        await step(p, RESOURCES, record.id)
        await due_now(p.pool, "resources", record.id)

    waiting = await resources_handlers.get(p.ports, "p", "volume", record.id)
    assert (waiting.state, waiting.pending_action, waiting.attempts) == ("creating", "create", 0)
    assert waiting.throttled == POLICY.max_attempts + 2

    cloud.throttle.clear()
    await step(p, RESOURCES, record.id)
    done = await resources_handlers.get(p.ports, "p", "volume", record.id)
    assert done.provider_id is not None and done.throttled == 0


async def test_a_throttling_cloud_fails_the_action_once_the_budget_is_spent(p: Parts, cloud: LosingCloud) -> None:
    record = new_volume("never")
    await insert(p, record)
    await since(p.pool, "resources", record.id, seconds=61)
    cloud.throttle.add("create_volume")

    await step(p, RESOURCES, record.id)

    failed = await resources_handlers.get(p.ports, "p", "volume", record.id)
    assert (failed.state, failed.pending_action) == ("error", None)
    assert "kept throttling requests for 60 s" in (failed.reason or "")
    assert await outbox_types(p.pool) == ["volume.failed"]


async def _launch(p: Parts) -> str:
    record = await handlers.launch(
        p.uow,
        p.clouds,
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


async def _dispatch_now(p: Parts, instance_id: str) -> None:
    await due_now(p.pool, "instances", instance_id)
    assert await step(p, INSTANCES, instance_id)


async def test_a_throttled_launch_keeps_its_attempts_then_launches_once(p: Parts, cloud: LosingCloud) -> None:
    instance_id = await _launch(p)
    cloud.throttle.add("launch_instance")

    for _ in range(POLICY.max_attempts * 2):
        await _dispatch_now(p, instance_id)
    waiting = await handlers.get(p.uow, "p", instance_id)
    assert (waiting.state, waiting.pending_action, waiting.attempts) == ("requested", "launch", 0)
    assert waiting.throttled == POLICY.max_attempts * 2 and "slow down" in (waiting.reason or "")

    cloud.throttle.clear()
    await _dispatch_now(p, instance_id)
    launched = await handlers.get(p.uow, "p", instance_id)
    assert launched.provider_id is not None and launched.throttled == 0 and launched.pending_action is None
    assert cloud.calls.count("launch_instance") == POLICY.max_attempts * 2 + 1


async def test_a_launch_throttled_past_the_budget_fails_with_a_clear_reason(p: Parts, cloud: LosingCloud) -> None:
    instance_id = await _launch(p)
    await since(p.pool, "instances", instance_id, seconds=61)
    cloud.throttle.add("launch_instance")

    await _dispatch_now(p, instance_id)

    failed = await handlers.get(p.uow, "p", instance_id)
    assert (failed.state, failed.pending_action) == ("error", None)
    assert (failed.reason or "").startswith("The cloud kept throttling requests for 60 s")
    assert (await outbox_types(p.pool))[-1] == "instance.failed"


async def test_a_launch_whose_cloud_is_away_fails_after_its_attempts(p: Parts, cloud: LosingCloud) -> None:
    instance_id = await _launch(p)
    cloud.throttle.clear()
    for _ in range(POLICY.max_attempts):
        cloud.lose.add("launch_instance")
        await _dispatch_now(p, instance_id)
        record = await handlers.get(p.uow, "p", instance_id)
        if record.state == "error":
            break
    # Each lost answer still launched (idempotently, by the client token): one instance in the cloud.
    assert record.state == "error" and "kept failing" in (record.reason or "")
    assert record.attempts == POLICY.max_attempts - 1
    assert len((await cloud.real.list_instances()).items) == 1
