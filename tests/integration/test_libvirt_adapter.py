"""The libvirt adapter against libvirt's test driver, served by the session's private libvirtd.

Each step is checked twice: through the adapter, and straight through libvirt on the session's own connection
(`shared.keeper`), so a state the adapter only claims cannot pass.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import libvirt
import pytest

from adapters import registry
from adapters.base import (
    CloudNotFound,
    CloudUnavailable,
    Feature,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    LaunchSpec,
    MetricSample,
    QuotaExceeded,
    UnsupportedOperation,
    VolumeSpec,
    VolumeState,
    Zone,
)
from adapters.libvirt import HotplugLibvirtAdapter, LibvirtAdapter
from adapters.libvirt import _xml as libvirt_xml
from adapters.registry import AdapterContext
from tests.contract.clouds.libvirt import POOL, Hypervisor, connect, hypervisor
from tests.tokens import new_token

pytestmark = pytest.mark.integration

S = InstanceState
GIB = 1024**3
T = TypeVar("T")


@pytest.fixture
def shared(request: pytest.FixtureRequest) -> Hypervisor:
    return hypervisor(request.config)


@pytest.fixture
def image(shared: Hypervisor) -> str:
    return shared.ensure_image("image-it-base", size_gb=2)


class Made:
    """What a test launched or created, removed afterwards whatever the test did to it."""

    def __init__(self, adapter: LibvirtAdapter) -> None:
        self.adapter = adapter
        self.instances: list[str] = []
        self.volumes: list[str] = []
        self.snapshots: list[str] = []
        self.images: list[str] = []

    async def launch(self, spec: LaunchSpec) -> Instance:
        instance = await self.adapter.launch_instance(spec)
        self.instances.append(instance.id)
        return instance

    async def undo(self) -> None:
        for instance_id in self.instances:
            await _ignore_missing(self.adapter.terminate_instance(instance_id))
        for volume_id in self.volumes:
            await _ignore_missing(self.adapter.delete_volume(volume_id))
        for snapshot_id in self.snapshots:
            await _ignore_missing(self.adapter.delete_snapshot(snapshot_id))
        for image_id in self.images:
            await _ignore_missing(self.adapter.deregister_image(image_id))


async def _ignore_missing(step: Awaitable[object]) -> None:
    try:
        await step
    except CloudNotFound:
        pass


@pytest.fixture
async def adapter(shared: Hypervisor) -> AsyncIterator[LibvirtAdapter]:
    adapter = await connect(shared, account_id=f"it-{uuid.uuid4().hex[:8]}")
    yield adapter
    await adapter.close()


@pytest.fixture
async def made(adapter: LibvirtAdapter) -> AsyncIterator[Made]:
    made = Made(adapter)
    yield made
    await made.undo()


def spec(image: str, **fields: Any) -> LaunchSpec:
    values: dict[str, Any] = {
        "name": f"it-{uuid.uuid4().hex[:8]}",
        "image_id": image,
        "flavor_id": "lv.tiny",
        "client_token": uuid.uuid4().hex,
    }
    values.update(fields)
    return LaunchSpec(**values)


# --- what libvirt itself says ------------------------------------------------------------------------------------


def domain_state(shared: Hypervisor, instance_id: str) -> int | None:
    try:
        return int(shared.keeper.lookupByUUIDString(instance_id).state(0)[0])
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def domain_facts(shared: Hypervisor, instance_id: str, *, inactive: bool = False) -> libvirt_xml.DomainFacts:
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
    return libvirt_xml.parse_domain(shared.keeper.lookupByUUIDString(instance_id).XMLDesc(flags))


def volume_capacity(shared: Hypervisor, name: str) -> int:
    return int(shared.keeper.storagePoolLookupByName(POOL).storageVolLookupByName(name).info()[1])


async def eventually(probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], within: float = 10.0) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if until(value):
            return value
        assert time.monotonic() < deadline, f"not within {within} s; last: {value!r}"
        await asyncio.sleep(0.05)


# --- connecting ------------------------------------------------------------------------------------------------


async def test_the_registry_connects_the_cold_plug_adapter_to_the_test_driver(shared: Hypervisor) -> None:
    adapter = await registry.connect("libvirt", "acct", shared.config(), AdapterContext(pool=None))
    try:
        assert type(adapter) is LibvirtAdapter, "the test driver cannot hot-plug disks"
        assert Feature.VOLUME_ATTACH not in adapter.features
        # What the provisioner is told of the account without connecting is what the connected adapter declares.
        assert registry.adapter_class("libvirt").features_for(shared.config()) == adapter.features
        assert HotplugLibvirtAdapter.features == adapter.features | {Feature.VOLUME_ATTACH}
        host = str(shared.keeper.getHostname())
        assert list(await adapter.list_zones()) == [Zone(id=host, region_id=host)]
        assert [r.id for r in await adapter.list_regions()] == [host]
    finally:
        await adapter.close()


async def test_a_missing_pool_or_network_or_daemon_is_said_so(shared: Hypervisor) -> None:
    with pytest.raises(CloudNotFound):
        await connect(shared, pool="no-such-pool")
    with pytest.raises(CloudNotFound):
        await connect(shared, network="no-such-network")
    with pytest.raises(CloudUnavailable):
        await connect(shared, uri="test+unix:///default?socket=/nonexistent/libvirt-sock")


# --- instances -------------------------------------------------------------------------------------------------


async def test_a_launch_defines_and_starts_a_domain_on_a_clone_of_the_image(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    tags = {"team": "platform", "note": "<&>"}
    before = datetime.now(UTC)
    instance = await made.launch(spec(image, flavor_id="lv.medium", tags=tags))
    assert instance.state is S.RUNNING
    assert (instance.image_id, instance.flavor_id, dict(instance.tags)) == (image, "lv.medium", tags)
    assert before <= instance.created_at <= datetime.now(UTC)
    leases = shared.keeper.lookupByUUIDString(instance.id).interfaceAddresses(
        libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0
    )
    assert instance.private_ips == tuple(a["addr"] for nic in leases.values() for a in nic["addrs"])
    assert instance.private_ips and all(ipaddress.ip_address(ip).version == 4 for ip in instance.private_ips)

    assert domain_state(shared, instance.id) == libvirt.VIR_DOMAIN_RUNNING
    facts = domain_facts(shared, instance.id)
    assert facts.name == f"clanavi-{instance.id}"
    assert (facts.vcpus, facts.memory_kib) == (2, 4096 * 1024), "the flavor's size"
    assert facts.meta is not None and facts.meta.name == instance.name and facts.meta.tags == tags
    [root] = facts.disks
    assert (root.source_pool, root.source_volume) == (POOL, f"clanavi-root-{instance.id}")
    assert volume_capacity(shared, f"clanavi-root-{instance.id}") == 20 * GIB, "grown to the flavor's disk"
    assert [i.network for i in facts.interfaces] == ["default"]
    assert image in shared.volume_names(), "the image itself is untouched"


async def test_each_step_of_the_lifecycle_reads_back(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    instance = await made.launch(spec(image))
    i = instance.id
    assert volume_capacity(shared, f"clanavi-root-{i}") == 2 * GIB, "a 1 GB flavor still gets the 2 GB image whole"

    assert (await adapter.stop_instance(i)).state is S.STOPPED
    assert domain_state(shared, i) == libvirt.VIR_DOMAIN_SHUTOFF
    assert [x.state for x in await adapter.get_instances([i])] == [S.STOPPED]
    assert (await adapter.stop_instance(i)).state is S.STOPPED, "stopping a stopped instance changes nothing"
    for refused in (adapter.reboot_instance, adapter.suspend_instance, adapter.resume_instance):
        with pytest.raises(InvalidCloudState):
            await refused(i)

    assert (await adapter.start_instance(i)).state is S.RUNNING
    assert domain_state(shared, i) == libvirt.VIR_DOMAIN_RUNNING
    assert (await adapter.start_instance(i)).state is S.RUNNING, "starting a running instance changes nothing"
    assert (await adapter.reboot_instance(i)).state is S.RUNNING

    assert (await adapter.suspend_instance(i)).state is S.SUSPENDED
    assert domain_state(shared, i) == libvirt.VIR_DOMAIN_PAUSED
    with pytest.raises(InvalidCloudState):
        await adapter.start_instance(i)
    assert (await adapter.resume_instance(i)).state is S.RUNNING
    assert domain_state(shared, i) == libvirt.VIR_DOMAIN_RUNNING

    await adapter.suspend_instance(i)
    assert (await adapter.stop_instance(i)).state is S.STOPPED, "a suspended instance stops too"

    terminated = await adapter.terminate_instance(i)
    assert (terminated.id, terminated.state) == (i, S.TERMINATED)
    assert domain_state(shared, i) is None, "the domain is undefined"
    assert f"clanavi-root-{i}" not in shared.volume_names(), "its root disk is deleted"
    assert list(await adapter.get_instances([i])) == []
    assert i not in {x.id for x in (await adapter.list_instances(limit=1000)).items}
    for gone in (adapter.terminate_instance, adapter.start_instance, adapter.stop_instance):
        with pytest.raises(CloudNotFound):
            await gone(i)


async def test_the_same_client_token_gives_one_domain_even_when_raced(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    asked = spec(image)
    launched = await asyncio.gather(*(made.launch(asked) for _ in range(4)))
    assert {i.id for i in launched} == {adapter.instance_id_for(asked.client_token)}
    tokens = []
    for domain in shared.keeper.listAllDomains(0):
        meta = libvirt_xml.parse_domain(domain.XMLDesc(0)).meta
        if meta is not None and meta.client_token == asked.client_token:
            tokens.append(domain.UUIDString())
    assert tokens == [launched[0].id], "one domain carries the token"
    roots = [n for n in shared.volume_names() if n == f"clanavi-root-{launched[0].id}"]
    assert len(roots) == 1

    other = await connect(shared, account_id="another-account")
    try:
        elsewhere = await other.launch_instance(asked)
        made.instances.append(elsewhere.id)
        assert elsewhere.id != launched[0].id, "the token is the account's own"
    finally:
        await other.close()


async def test_a_launch_retried_after_a_crash_starts_what_was_defined_but_not_what_was_stopped(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    interrupted = spec(image)
    instance = await made.launch(interrupted)
    # What a crash between defining and starting leaves: the same definition, never started.
    domain = shared.keeper.lookupByUUIDString(instance.id)
    definition = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    domain.destroy()
    domain.undefine()
    shared.keeper.defineXML(definition)
    assert shared.keeper.lookupByUUIDString(instance.id).state(0) == [
        libvirt.VIR_DOMAIN_SHUTOFF,
        libvirt.VIR_DOMAIN_SHUTOFF_UNKNOWN,
    ]
    retried = await made.launch(interrupted)
    assert (retried.id, retried.state) == (instance.id, S.RUNNING)

    stopped = spec(image)
    other = await made.launch(stopped)
    await adapter.stop_instance(other.id)
    again = await made.launch(stopped)
    assert (again.id, again.state) == (other.id, S.STOPPED), "a retried launch does not undo a stop"


async def test_two_adapters_see_one_hypervisor_through_the_daemon(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    instance = await made.launch(spec(image))
    second = await connect(shared, account_id="whoever")
    try:
        [seen] = await second.get_instances([instance.id])
        assert (seen.state, seen.name) == (S.RUNNING, instance.name)
        await second.stop_instance(instance.id)
        [again] = await adapter.get_instances([instance.id])
        assert again.state is S.STOPPED, "a stop through one connection reads stopped through the other"
    finally:
        await second.close()
    [after] = await adapter.get_instances([instance.id])
    assert after.state is S.STOPPED, "closing one adapter's connection loses nothing"


async def test_refused_launches_leave_nothing_behind(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    refusals: list[tuple[LaunchSpec, type[Exception]]] = [
        (spec(image, user_data="#cloud-config\n"), UnsupportedOperation),
        (spec(image, key_name="mine"), UnsupportedOperation),
        (spec(image, security_group_ids=("web",)), UnsupportedOperation),
        (spec(image, zone="elsewhere"), InvalidCloudRequest),
        (spec(image, flavor_id="lv.huge"), CloudNotFound),
        (spec("image-does-not-exist"), CloudNotFound),
        (spec(f"clanavi-root-{uuid.uuid4()}"), CloudNotFound),  # a volume, but not an image
    ]
    for asked, error in refusals:
        with pytest.raises(error):
            await made.launch(asked)
        instance_id = adapter.instance_id_for(asked.client_token)
        assert domain_state(shared, instance_id) is None, f"{asked} left a domain"
        assert f"clanavi-root-{instance_id}" not in shared.volume_names(), f"{asked} left a root disk"


async def test_a_definition_the_hypervisor_refuses_leaves_no_root_disk(shared: Hypervisor, image: str) -> None:
    adapter = await connect(shared, domain_type="no-such-hypervisor")
    try:
        asked = spec(image)
        with pytest.raises(InvalidCloudRequest):
            await adapter.launch_instance(asked)
        instance_id = adapter.instance_id_for(asked.client_token)
        assert domain_state(shared, instance_id) is None
        assert f"clanavi-root-{instance_id}" not in shared.volume_names()
    finally:
        await adapter.close()


async def test_list_instances_pages_through_clanavi_domains_only(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    mine = {i.id for i in await asyncio.gather(*(made.launch(spec(image)) for _ in range(5)))}
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await adapter.list_instances(cursor=cursor, limit=2)
        assert len(page.items) <= 2
        seen.extend(i.id for i in page.items)
        if page.next_cursor is None:
            break
        assert cursor is None or page.next_cursor > cursor
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)), "an instance on two pages"
    assert mine <= set(seen)
    foreign = str(shared.keeper.lookupByName("test").UUIDString())  # the test driver's own domain
    assert foreign not in seen
    assert list(await adapter.get_instances([foreign, "not-a-uuid"])) == []
    with pytest.raises(InvalidCloudRequest):
        await adapter.list_instances(limit=0)


# --- volumes and snapshots --------------------------------------------------------------------------------------


async def test_volumes_attach_to_stopped_instances_on_a_hypervisor_without_hotplug(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    instance = await made.launch(spec(image))
    volume = await adapter.create_volume(VolumeSpec(name="data.1 é", size_gb=2, client_token=new_token()))
    made.volumes.append(volume.id)
    assert (volume.name, volume.size_gb, volume.state, volume.instance_id) == (
        "data.1 é",
        2,
        VolumeState.AVAILABLE,
        None,
    )
    assert abs(volume.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    libvirt_name = volume.extra["volume"]
    assert libvirt_name in shared.volume_names() and volume_capacity(shared, libvirt_name) == 2 * GIB

    with pytest.raises(UnsupportedOperation):
        await adapter.attach_volume(volume.id, instance.id)
    with pytest.raises(InvalidCloudState):
        await adapter.ex_attach_volume(volume.id, instance.id)

    await adapter.stop_instance(instance.id)
    with pytest.raises(InvalidCloudRequest):
        await adapter.ex_attach_volume(volume.id, instance.id, "/dev/nope")
    attached = await adapter.ex_attach_volume(volume.id, instance.id, "/dev/vdc")
    assert (attached.state, attached.instance_id, attached.device) == (VolumeState.IN_USE, instance.id, "/dev/vdc")
    disks = {d.target: d.source_volume for d in domain_facts(shared, instance.id, inactive=True).disks}
    assert disks["vdc"] == libvirt_name, "the disk is in the domain's definition"
    [listed] = [v for v in await adapter.list_volumes() if v.id == volume.id]
    assert listed.state is VolumeState.IN_USE
    with pytest.raises(InvalidCloudState):
        await adapter.delete_volume(volume.id)
    with pytest.raises(InvalidCloudState):
        await adapter.ex_attach_volume(volume.id, instance.id)

    await adapter.start_instance(instance.id)
    assert "vdc" in {d.target for d in domain_facts(shared, instance.id).disks}, "the running domain has the disk"
    with pytest.raises(InvalidCloudState):
        await adapter.ex_detach_volume(volume.id)
    await adapter.stop_instance(instance.id)
    detached = await adapter.ex_detach_volume(volume.id)
    assert (detached.state, detached.instance_id, detached.device) == (VolumeState.AVAILABLE, None, None)
    assert "vdc" not in {d.target for d in domain_facts(shared, instance.id, inactive=True).disks}
    with pytest.raises(InvalidCloudState):
        await adapter.ex_detach_volume(volume.id)

    await adapter.ex_attach_volume(volume.id, instance.id)
    await adapter.terminate_instance(instance.id)
    [left] = [v for v in await adapter.list_volumes() if v.id == volume.id]
    assert (left.state, left.instance_id) == (VolumeState.AVAILABLE, None), "terminating frees, not deletes, a volume"
    await adapter.delete_volume(volume.id)
    assert volume.id not in {v.id for v in await adapter.list_volumes()}
    assert libvirt_name not in shared.volume_names()
    with pytest.raises(CloudNotFound):
        await adapter.delete_volume(volume.id)


async def test_snapshots_copy_a_volume_and_volumes_come_from_them(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made
) -> None:
    volume = await adapter.create_volume(VolumeSpec(name="source", size_gb=2, client_token=new_token()))
    made.volumes.append(volume.id)
    snapshot = await adapter.create_snapshot(volume.id, "nightly.1 ü", client_token=new_token())
    made.snapshots.append(snapshot.id)
    assert (snapshot.volume_id, snapshot.name, snapshot.size_gb) == (volume.id, "nightly.1 ü", 2)
    assert snapshot.id in {s.id for s in await adapter.list_snapshots()}
    assert snapshot.id not in {v.id for v in await adapter.list_volumes()}, "a snapshot is not a volume"
    assert snapshot.extra["volume"] in shared.volume_names()

    with pytest.raises(InvalidCloudRequest):
        await adapter.create_volume(
            VolumeSpec(name="small", size_gb=1, snapshot_id=snapshot.id, client_token=new_token())
        )
    restored = await adapter.create_volume(
        VolumeSpec(name="restored", size_gb=3, snapshot_id=snapshot.id, client_token=new_token())
    )
    made.volumes.append(restored.id)
    assert (restored.snapshot_id, restored.size_gb, restored.state) == (snapshot.id, 3, VolumeState.AVAILABLE)
    assert volume_capacity(shared, restored.extra["volume"]) == 3 * GIB

    with pytest.raises(CloudNotFound):
        await adapter.delete_snapshot(volume.id)  # a volume's id names no snapshot
    with pytest.raises(CloudNotFound):
        await adapter.create_volume(VolumeSpec(name="x", size_gb=1, snapshot_id=restored.id, client_token=new_token()))
    await adapter.delete_snapshot(snapshot.id)
    assert snapshot.id not in {s.id for s in await adapter.list_snapshots()}
    assert {volume.id, restored.id} <= {v.id for v in await adapter.list_volumes()}, "volumes outlive snapshots"


async def test_a_full_pool_is_a_quota(shared: Hypervisor, adapter: LibvirtAdapter) -> None:
    before = shared.volume_names()
    with pytest.raises(QuotaExceeded):
        await adapter.create_volume(VolumeSpec(name="huge", size_gb=10 * 1024, client_token=new_token()))
    assert shared.volume_names() == before


async def test_creates_raced_with_one_client_token_make_one_volume_and_one_image(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    token = new_token()
    volumes = await asyncio.gather(
        *(adapter.create_volume(VolumeSpec(name="raced", size_gb=1, client_token=token)) for _ in range(3))
    )
    made.volumes.extend({v.id for v in volumes})
    assert len({v.id for v in volumes}) == 1
    assert [n for n in shared.volume_names() if volumes[0].id in n] == [volumes[0].extra["volume"]]

    instance = await made.launch(spec(image))
    name = f"it-{uuid.uuid4().hex[:8]}"
    images = await asyncio.gather(*(adapter.create_image(instance.id, name, client_token=token) for _ in range(2)))
    made.images.extend({i.id for i in images})
    assert len({i.id for i in images}) == 1, "two images for one client token"
    assert [n for n in shared.volume_names() if n.startswith(f"image-{name}")] == [images[0].id]


# --- images -----------------------------------------------------------------------------------------------------


async def test_images_made_from_instances_launch_and_deregister(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    instance = await made.launch(spec(image, flavor_id="lv.small"))
    name = f"it-{uuid.uuid4().hex[:8]}"
    created = await adapter.create_image(instance.id, name, client_token=new_token())
    made.images.append(created.id)
    # Named by its name and its client token, whose digest no image name can hold (it has no '=').
    assert created.id.startswith(f"image-{name}.t=") and (created.name, created.min_disk_gb) == (name, 10)
    assert domain_state(shared, instance.id) == libvirt.VIR_DOMAIN_RUNNING, "paused for the copy, then resumed"
    assert await adapter.get_image(created.id) == created
    assert created.id in {i.id for i in await adapter.list_images()}
    with pytest.raises(InvalidCloudRequest):
        await adapter.create_image(instance.id, name, client_token=new_token())
    with pytest.raises(InvalidCloudRequest):
        await adapter.create_image(instance.id, "no spaces please", client_token=new_token())

    child = await made.launch(replace(spec(image), image_id=created.id))
    assert (child.image_id, child.state) == (created.id, S.RUNNING)

    await adapter.deregister_image(created.id)
    with pytest.raises(CloudNotFound):
        await adapter.get_image(created.id)
    assert created.id not in shared.volume_names()
    [still] = await adapter.get_instances([child.id])
    assert still.state is S.RUNNING, "an instance outlives its image: its root disk is a full copy"
    for not_an_image in (f"clanavi-root-{instance.id}", "default-pool"):
        with pytest.raises(CloudNotFound):
            await adapter.deregister_image(not_an_image)
    assert f"clanavi-root-{instance.id}" in shared.volume_names()


async def test_an_image_reads_the_os_it_is_configured_with(shared: Hypervisor, image: str) -> None:
    adapter = await connect(shared, image_os={image: "debian"})
    try:
        assert (await adapter.get_image(image)).os == "debian"
        others = [i for i in await adapter.list_images() if i.id != image]
        assert all(i.os == "unknown" for i in others)
    finally:
        await adapter.close()


# --- metrics ----------------------------------------------------------------------------------------------------


async def test_metrics_are_differences_of_libvirts_counters(
    shared: Hypervisor, adapter: LibvirtAdapter, made: Made, image: str
) -> None:
    instance = await made.launch(spec(image, flavor_id="lv.medium"))
    since = datetime.now(UTC) - timedelta(minutes=1)
    first = await adapter.get_metrics(instance.id, since)
    names = sorted(s.name for s in first)
    assert names == ["cpu_utilization", "disk_read_bytes", "disk_write_bytes", "network_in_bytes", "network_out_bytes"]
    cpu = next(s for s in first if s.name == "cpu_utilization")
    # The test driver's domain CPU time advances with the wall clock: one vCPU busy, half of the two it has.
    assert 35 <= cpu.value <= 65, cpu

    def cpu_samples(samples: Any) -> list[MetricSample]:
        return [s for s in samples if s.name == "cpu_utilization"]

    more = await eventually(lambda: adapter.get_metrics(instance.id, since), until=lambda s: len(cpu_samples(s)) >= 2)
    times = [s.timestamp for s in cpu_samples(more)]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert list(await adapter.get_metrics(instance.id, times[-1])) == [s for s in more if s.timestamp >= times[-1]]

    await adapter.stop_instance(instance.id)
    kept = await adapter.get_metrics(instance.id, since)
    assert cpu_samples(kept) == cpu_samples(more), "a stopped instance adds no samples and keeps the old ones"
    with pytest.raises(CloudNotFound):
        await adapter.get_metrics(str(uuid.uuid4()), since)
