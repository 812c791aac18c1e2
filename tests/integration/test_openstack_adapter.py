"""The OpenStack adapter against the OpenStack stand-in: openstacksdk really speaks HTTP to Keystone and Nova, what a
launch carries is read back from the cloud, launches are idempotent by client token, paging uses Nova's limit and
marker, and Nova's errors arrive as the contract's."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.base import CloudAuthError, CloudNotFound, InstanceState, InvalidCloudState, LaunchSpec
from adapters.openstack import OpenStackAdapter
from tests.contract.cloud import ContractCloud
from tests.contract.clouds.openstack import FLAVOR, SDK_WARNING_FILTERS, open_adapter, standin_for
from tests.contract.helpers import all_instances, eventually, missing_like, wait_instance, wait_instance_gone
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
    # openstacksdk negotiated the newest microversion both sides know (the stand-in's 2.46) from the version document.
    assert (SERVERS, "2.46") in standin.microversions


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
