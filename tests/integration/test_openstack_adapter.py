"""The OpenStack adapter against the OpenStack stand-in: openstacksdk really speaks HTTP to Keystone and Nova, what a
launch carries is read back from the cloud, launches are idempotent by client token, paging uses Nova's limit and
marker, and Nova's errors arrive as the contract's."""

from __future__ import annotations

import base64
import gzip
import uuid
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest

from adapters.base import (
    CloudAuthError,
    CloudNotFound,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    LaunchSpec,
    QuotaExceeded,
    Throttled,
    VolumeSpec,
    VolumeState,
)
from adapters.openstack import OpenStackAdapter
from services.provisioner.errors import retry_after
from tests.contract.cloud import ContractCloud
from tests.contract.clouds.openstack import FLAVOR, SDK_WARNING_FILTERS, open_adapter, standin_for
from tests.contract.helpers import (
    all_instances,
    eventually,
    missing_like,
    wait_instance,
    wait_instance_gone,
    wait_volume,
)
from tests.standins.openstack import OpenStackStandIn
from tests.standins.openstack.server import ZONE
from tests.tokens import new_token

pytestmark = [pytest.mark.filterwarnings(f) for f in SDK_WARNING_FILTERS]

S = InstanceState
SERVERS = "/compute/v2.1/servers"


@pytest.fixture
def standin(request: pytest.FixtureRequest) -> OpenStackStandIn:
    shared = standin_for(request.config)
    shared.reset()
    return shared


@pytest.fixture
async def adapter(standin: OpenStackStandIn) -> AsyncIterator[OpenStackAdapter]:
    opened = await open_adapter(standin)
    yield opened
    await opened.close()


def _cloud(adapter: OpenStackAdapter, standin: OpenStackStandIn) -> ContractCloud:
    return ContractCloud(adapter=adapter, image_id=standin.image_id, flavor_id=FLAVOR, settle_seconds=5.0, zone=ZONE)


def _spec(standin: OpenStackStandIn, **fields: object) -> LaunchSpec:
    values: dict[str, object] = {
        "name": f"vm-{uuid.uuid4().hex[:8]}",
        "image_id": standin.image_id,
        "flavor_id": FLAVOR,
        "client_token": uuid.uuid4().hex,
    }
    values.update(fields)
    return LaunchSpec(**values)  # type: ignore[arg-type]


async def test_the_sdk_authenticates_with_keystone_and_discovers_nova_over_http(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    assert ("POST", "/identity/v3/auth/tokens") in standin.requests
    flavors = await adapter.list_flavors()
    assert {f.name for f in flavors} >= {"m1.tiny", "m1.small"}
    assert ("GET", "/compute/v2.1/flavors/detail") in standin.requests
    # keystoneauth read Nova's version document (microversions) before its first compute call.
    compute = [path for _method, path in standin.requests if path.startswith("/compute")]
    assert compute.index("/compute/v2.1/flavors/detail") > 0, compute


async def test_compressed_user_data_reaches_nova_byte_for_byte(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    packed = gzip.compress(b"#!/bin/sh\n" + b"echo compressed boot script\n" * 800, mtime=0)
    launched = await adapter.launch_instance(_spec(standin, user_data=packed))
    stored = standin.state.servers[launched.id].user_data
    assert stored is not None and base64.b64decode(stored) == packed
    # Nova refuses more than 65,535 characters of base64: the adapter's limit is the most raw bytes within them.
    largest = await adapter.launch_instance(_spec(standin, user_data=b"x" * OpenStackAdapter.user_data_limit))
    assert standin.state.servers[largest.id].user_data is not None
    with pytest.raises(InvalidCloudRequest):
        await adapter.launch_instance(_spec(standin, user_data=b"x" * (OpenStackAdapter.user_data_limit + 1)))


async def test_a_wrong_password_is_an_auth_error(standin: OpenStackStandIn) -> None:
    with pytest.raises(CloudAuthError):
        await open_adapter(standin, password="not-the-password")
    assert ("POST", "/identity/v3/auth/tokens") in standin.requests


async def test_a_launch_is_read_back_as_asked(standin: OpenStackStandIn, adapter: OpenStackAdapter) -> None:
    key = await adapter.create_key_pair(f"key-{uuid.uuid4().hex[:6]}")
    script = "#!/bin/sh\necho hello\n"
    spec = _spec(standin, key_name=key.name, user_data=script, zone=ZONE, tags={"team": "platform"})
    standin.transition_seconds = 600  # held in BUILD until let go
    launched = await adapter.launch_instance(spec)
    assert launched.state is S.PENDING
    assert launched.flavor_id == FLAVOR, "the flavor Nova embeds is found in the catalogue by its id"
    standin.complete_transitions()
    running = await wait_instance(_cloud(adapter, standin), launched.id, S.RUNNING)
    assert (running.name, running.image_id, running.flavor_id) == (spec.name, standin.image_id, FLAVOR)
    assert running.key_name == key.name
    assert running.zone == ZONE
    assert running.tags == {"team": "platform"}, "the client token must not show as a tag"
    assert running.private_ips and running.private_ips[0].startswith("10.0.0.")
    stored = standin.state.servers[launched.id]
    assert stored.user_data is not None and base64.b64decode(stored.user_data).decode() == script
    assert stored.metadata["clanavi-client-token"] == spec.client_token
    # openstacksdk negotiated the newest microversion both sides know from the version document (the stand-in has
    # Nova's newest, the SDK's servers stop at 2.100), and the adapter reads servers at that one too.
    assert (SERVERS, "2.100") in standin.microversions
    assert (f"{SERVERS}/{launched.id}", "2.100") in standin.microversions
    assert {v for path, v in standin.microversions if path == f"{SERVERS}/detail"} == {"2.100"}


async def test_the_same_client_token_creates_one_server(standin: OpenStackStandIn, adapter: OpenStackAdapter) -> None:
    spec = _spec(standin)
    first = await adapter.launch_instance(spec)
    again = await adapter.launch_instance(spec)
    other = await adapter.launch_instance(_spec(standin, name=spec.name))  # same name, another token
    assert again.id == first.id
    assert other.id != first.id
    assert standin.requests.count(("POST", SERVERS)) == 2
    assert len(standin.state.servers) == 2


async def test_stop_twice_is_a_conflict_and_start_brings_it_back(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    cloud = _cloud(adapter, standin)
    standin.transition_seconds = 600  # the server stays in BUILD until let go
    launched = await adapter.launch_instance(_spec(standin))
    with pytest.raises(InvalidCloudState):  # Nova: 409 conflictingRequest while building
        await adapter.stop_instance(launched.id)
    standin.complete_transitions()
    await wait_instance(cloud, launched.id, S.RUNNING)
    assert (await adapter.stop_instance(launched.id)).state is S.STOPPING
    with pytest.raises(InvalidCloudState):  # still powering off
        await adapter.start_instance(launched.id)
    standin.complete_transitions()
    await wait_instance(cloud, launched.id, S.STOPPED)
    with pytest.raises(InvalidCloudState):
        await adapter.stop_instance(launched.id)
    assert (await adapter.start_instance(launched.id)).state is S.STARTING
    standin.complete_transitions()
    await wait_instance(cloud, launched.id, S.RUNNING)
    actions = [path for method, path in standin.requests if method == "POST" and path.endswith("/action")]
    assert actions == [f"{SERVERS}/{launched.id}/action"] * 5


async def test_listing_pages_with_nova_limit_and_marker(standin: OpenStackStandIn, adapter: OpenStackAdapter) -> None:
    launched = [await adapter.launch_instance(_spec(standin)) for _ in range(7)]
    before = len(standin.requests)
    pages = []
    cursor: str | None = None
    while True:
        page = await adapter.list_instances(cursor=cursor, limit=3)
        pages.append([i.id for i in page.items])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(i for p in pages for i in p) == sorted(i.id for i in launched)
    sent = [
        q
        for (m, p), q in zip(standin.requests[before:], standin.queries[before:], strict=True)
        if p.endswith("/detail")
    ]
    assert len(sent) == 3, "one Nova request per page"
    assert [q.get("limit") for q in sent] == ["4", "4", "4"]
    assert "marker" not in sent[0] and sent[1]["marker"] == pages[0][-1] and sent[2]["marker"] == pages[1][-1]


async def test_many_servers_are_read_in_one_listing(standin: OpenStackStandIn, adapter: OpenStackAdapter) -> None:
    launched = [await adapter.launch_instance(_spec(standin)) for _ in range(5)]
    before = len(standin.requests)
    found = await adapter.get_instances([i.id for i in launched] + [missing_like(launched[0].id)])
    assert sorted(i.id for i in found) == sorted(i.id for i in launched)
    assert standin.requests[before:] == [("GET", f"{SERVERS}/detail")]


async def test_a_deleted_server_is_not_found(standin: OpenStackStandIn, adapter: OpenStackAdapter) -> None:
    cloud = _cloud(adapter, standin)
    launched = await adapter.launch_instance(_spec(standin))
    assert (await adapter.terminate_instance(launched.id)).state is S.TERMINATING
    await wait_instance_gone(cloud, launched.id)
    assert ("DELETE", f"{SERVERS}/{launched.id}") in standin.requests
    with pytest.raises(CloudNotFound):
        await adapter.start_instance(launched.id)
    with pytest.raises(CloudNotFound):
        await adapter.terminate_instance(launched.id)
    assert launched.id not in {i.id for i in await all_instances(cloud)}


async def test_image_from_a_server_and_console_output(standin: OpenStackStandIn, adapter: OpenStackAdapter) -> None:
    cloud = _cloud(adapter, standin)
    launched = await adapter.launch_instance(_spec(standin))
    await wait_instance(cloud, launched.id, S.RUNNING)
    output = await eventually(lambda: adapter.console_output(launched.id), 5.0, what="console output")
    assert "login:" in output
    image = await adapter.create_image(launched.id, "snap-of-vm", client_token=new_token())
    assert image.name == "snap-of-vm"
    assert image.extra["instance_id"] == launched.id
    assert (await adapter.get_image(image.id)).id == image.id
    await adapter.deregister_image(image.id)
    with pytest.raises(CloudNotFound):
        await adapter.get_image(image.id)
    assert ("DELETE", f"/image/v2/images/{image.id}") in standin.requests


async def test_reading_more_servers_than_one_nova_page_follows_its_links(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    ids = standin.add_servers(2300)
    await adapter.list_flavors()  # Nova's version document and the flavor catalogue are read once, before
    before = len(standin.requests)
    wanted = [ids[0], ids[1500], ids[-1]]
    found = await adapter.get_instances(wanted)
    assert sorted(i.id for i in found) == sorted(wanted)
    assert all(i.state is S.RUNNING for i in found)
    nova = [
        (r, q) for r, q in zip(standin.requests[before:], standin.queries[before:], strict=True) if "/compute" in r[1]
    ]
    assert [r for r, _q in nova] == [("GET", f"{SERVERS}/detail")] * 3, "Nova pages hold at most 1000 servers"
    sent = [q for _r, q in nova]
    assert "marker" not in sent[0] and sent[1]["marker"] and sent[2]["marker"]
    page = await adapter.list_instances(limit=5000)
    assert len(page.items) == 999 and page.next_cursor == page.items[-1].id


# --- flavors at current Nova microversions ---------------------------------------------------------------------


async def test_a_servers_flavor_has_one_id_however_the_server_is_read(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    cloud = _cloud(adapter, standin)
    launched = await adapter.launch_instance(_spec(standin, flavor_id="2"))
    running = await wait_instance(cloud, launched.id, S.RUNNING)
    (one,) = await adapter.get_instances([launched.id])
    listed = next(i for i in (await adapter.list_instances()).items if i.id == launched.id)
    stopped = await adapter.stop_instance(launched.id)
    assert {launched.flavor_id, running.flavor_id, one.flavor_id, listed.flavor_id, stopped.flavor_id} == {"2"}
    assert (await adapter.get_flavor(listed.flavor_id)).name == "m1.small"
    # Nova embedded the flavor (2.47 and later): no server answer named flavor "2" by id.
    assert ("GET", "/compute/v2.1/flavors/detail") in standin.requests


async def test_a_flavor_gone_from_the_catalogue_is_known_by_its_name_and_sizes(standin: OpenStackStandIn) -> None:
    standin.add_flavor("g1", "gone.small", vcpus=3, ram=3072, disk=30, ephemeral=5)
    standin.add_flavor("r1", "renamed.before", vcpus=6, ram=6144, disk=60)
    adapter = await open_adapter(standin)
    try:
        gone = await adapter.launch_instance(_spec(standin, flavor_id="g1"))
        renamed = await adapter.launch_instance(_spec(standin, flavor_id="r1"))
        standin.delete_flavor("g1")
        standin.delete_flavor("r1")
        standin.add_flavor("r2", "renamed.after", vcpus=6, ram=6144, disk=60)
    finally:
        await adapter.close()
    adapter = await open_adapter(standin)  # a fresh catalogue
    try:
        found = {i.id: i.flavor_id for i in await adapter.get_instances([gone.id, renamed.id])}
        assert found == {gone.id: "gone.small", renamed.id: "r2"}, "by name when gone, by sizes when replaced"
        flavor = await adapter.get_flavor("gone.small")
        assert (flavor.vcpus, flavor.ram_mb, flavor.disk_gb, flavor.extra["ephemeral_gb"]) == (3, 3072, 30, 5)
        assert flavor.extra["catalogued"] is False
        with pytest.raises(CloudNotFound):
            await adapter.get_flavor("never.was")
    finally:
        await adapter.close()


async def test_an_older_nova_names_a_servers_flavor_by_id() -> None:
    with OpenStackStandIn(nova_max=(2, 46)) as older:
        adapter = await open_adapter(older)
        try:
            launched = await adapter.launch_instance(_spec(older, flavor_id="3"))
            assert launched.flavor_id == "3"
            assert {v for path, v in older.microversions if path.startswith(SERVERS)} == {"2.46"}
            assert ("GET", "/compute/v2.1/flavors/detail") not in older.requests, "no catalogue needed"
        finally:
            await adapter.close()


async def test_a_server_whose_cell_does_not_answer_is_listed_as_unknown(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    launched = await adapter.launch_instance(_spec(standin))
    await wait_instance(_cloud(adapter, standin), launched.id, S.RUNNING)
    standin.cell_down(launched.id)
    (listed,) = (await adapter.list_instances()).items
    assert (listed.id, listed.state, listed.name, listed.flavor_id) == (launched.id, S.UNKNOWN, "", "")
    (one,) = await adapter.get_instances([launched.id])
    assert one.state is S.UNKNOWN
    standin.cell_down(launched.id, down=False)
    assert (await adapter.get_instances([launched.id]))[0].state is S.RUNNING


# --- faults, limits and servers booted from volumes ------------------------------------------------------------


async def _nova_post(standin: OpenStackStandIn, path: str, body: Mapping[str, object]) -> httpx.Response:
    """What another Nova client (the dashboard, the CLI) asks of the same project: a token, then the request."""
    async with httpx.AsyncClient(base_url=standin.base, timeout=10) as http:
        user = {"name": standin.username, "password": standin.password}
        login = {"identity": {"methods": ["password"], "password": {"user": user}}}
        token = (await http.post("/identity/v3/auth/tokens", json={"auth": login})).headers["X-Subject-Token"]
        answer = await http.post(f"/compute/v2.1{path}", json=body, headers={"X-Auth-Token": token})
    assert answer.is_success, answer.text
    return answer


async def test_a_failed_build_is_an_error_with_novas_reason(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    standin.fail_builds("No valid host was found. There are not enough hosts available.")
    launched = await adapter.launch_instance(_spec(standin))
    failed = await wait_instance(_cloud(adapter, standin), launched.id, S.ERROR)
    assert failed.reason == "No valid host was found. There are not enough hosts available."
    assert failed.extra["fault_code"] == 500


async def test_nova_quotas_and_rate_limits(standin: OpenStackStandIn, adapter: OpenStackAdapter) -> None:
    standin.quotas.instances = 1
    await adapter.launch_instance(_spec(standin))
    with pytest.raises(QuotaExceeded):  # Nova: 403 forbidden, "Quota exceeded for instances: ..."
        await adapter.launch_instance(_spec(standin))
    standin.quotas.key_pairs = 0
    with pytest.raises(QuotaExceeded):  # Nova: 403 forbidden, "Quota exceeded, too many key pairs."
        await adapter.create_key_pair("one-too-many")
    for status in (429, 413):
        standin.throttle(1, retry_after=30, status=status)
        with pytest.raises(Throttled) as throttled:
            await adapter.list_instances()
        assert retry_after(throttled.value) == 30.0
    assert len((await adapter.list_instances()).items) == 1


async def test_a_server_booted_from_a_volume_reads_without_an_image(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    volume = await adapter.create_volume(VolumeSpec("root", 1, client_token=new_token()))
    cloud = _cloud(adapter, standin)
    await wait_volume(cloud, volume.id, VolumeState.AVAILABLE)
    boot = {"boot_index": 0, "uuid": volume.id, "source_type": "volume", "destination_type": "volume"}
    body = {"server": {"name": "bfv", "flavorRef": FLAVOR, "networks": "auto", "block_device_mapping_v2": [boot]}}
    # The contract launches from images: the server is made as another Nova client would make it.
    created = (await _nova_post(standin, "/servers", body)).json()
    running = await wait_instance(cloud, created["server"]["id"], S.RUNNING)
    assert (running.image_id, running.flavor_id, running.extra["boot_from_volume"]) == ("", FLAVOR, True)
    attached = await wait_volume(cloud, volume.id, VolumeState.IN_USE)
    assert attached.instance_id == running.id
    await adapter.terminate_instance(running.id)
    await wait_instance_gone(cloud, running.id)


async def test_a_shelved_server_starts_and_a_paused_one_resumes(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    cloud = _cloud(adapter, standin)
    shelved = await adapter.launch_instance(_spec(standin))
    paused = await adapter.launch_instance(_spec(standin))
    for server_id in (shelved.id, paused.id):
        await wait_instance(cloud, server_id, S.RUNNING)
    # Shelved and paused elsewhere (the contract has no word for either): Nova's own actions.
    await _nova_post(standin, f"/servers/{shelved.id}/action", {"shelve": None})
    await _nova_post(standin, f"/servers/{paused.id}/action", {"pause": None})
    assert (await wait_instance(cloud, shelved.id, S.STOPPED)).extra["status"] == "SHELVED_OFFLOADED"
    assert (await wait_instance(cloud, paused.id, S.SUSPENDED)).extra["status"] == "PAUSED"
    assert (await adapter.start_instance(shelved.id)).state is S.STARTING
    assert (await adapter.resume_instance(paused.id)).state is S.STARTING
    for server_id in (shelved.id, paused.id):
        await wait_instance(cloud, server_id, S.RUNNING)
    with pytest.raises(InvalidCloudState):  # running: neither start nor unshelve
        await adapter.start_instance(shelved.id)
    actions = [path for method, path in standin.requests if method == "POST" and path.endswith("/action")]
    assert len(actions) == 7, "start tried first, then unshelve; resume, then unpause; the last start alone"
