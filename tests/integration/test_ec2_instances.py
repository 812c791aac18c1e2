"""The EC2 adapter's instances against a real moto server: what a launch carries, idempotent launches, the
lifecycle as EC2 reports it, batched reads that tolerate missing ids, paging, and errors mapped to the contract."""

from __future__ import annotations

import asyncio
import base64
import gzip
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import aioboto3
import pytest

from adapters.base import (
    CloudNotFound,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
)
from adapters.ec2 import Ec2Adapter
from tests.contract.clouds.ec2 import FLAVOR, REGION, ZONE, fresh_adapter, launch_spec
from tests.contract.helpers import missing_like

pytestmark = pytest.mark.integration

T = TypeVar("T")
S = InstanceState


@pytest.fixture
async def ec2(request: pytest.FixtureRequest) -> AsyncIterator[Ec2Adapter]:
    adapter = await fresh_adapter(request.config)
    yield adapter
    await adapter.close()


@pytest.fixture
def image_id(ec2: Ec2Adapter) -> str:
    return ec2.config.image_ids[0]


class CallCounter:
    """Counts the EC2 requests an adapter sends, by action, through botocore's own event hooks."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, model: Any, **kwargs: Any) -> None:
        self.calls.append(model.name)

    def count(self, action: str) -> int:
        return self.calls.count(action)


@pytest.fixture
async def counted(ec2: Ec2Adapter) -> AsyncIterator[tuple[Ec2Adapter, CallCounter]]:
    """An adapter on clients of our own, so the test can watch what it sends (same account as `ec2`)."""
    config = ec2.config
    url = config.endpoint_url
    session = aioboto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    counter = CallCounter()
    async with (
        session.client("ec2", endpoint_url=url) as ec2_client,
        session.client("cloudwatch", endpoint_url=url) as cloudwatch,
    ):
        ec2_client.meta.events.register("before-call.ec2.*", counter)
        adapter = Ec2Adapter("counted", config, ec2_client, cloudwatch, AsyncExitStack())
        yield adapter, counter
        await adapter.close()


async def until(probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], within: float = 10.0) -> T:
    """Poll `probe` until `check` holds, with a deadline."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {within}s")
        await asyncio.sleep(0.05)


async def read(ec2: Ec2Adapter, instance_id: str) -> Instance:
    found = await ec2.get_instances([instance_id])
    assert [i.id for i in found] == [instance_id]
    return found[0]


async def reads(ec2: Ec2Adapter, instance_id: str, state: InstanceState) -> Instance:
    return await until(lambda: read(ec2, instance_id), lambda i: i.state is state)


async def test_a_launch_carries_everything_asked_and_answers_pending(ec2: Ec2Adapter, image_id: str) -> None:
    key = await ec2.create_key_pair("deploy")
    group = await ec2.create_security_group("web", "web servers")
    script = "#!/bin/sh\necho 'hello from clanavi' > /tmp/hello\n"
    launched = await ec2.launch_instance(
        launch_spec(
            ec2,
            name="web-1",
            key_name=key.name,
            security_group_ids=(group.id,),
            user_data=script,
            zone="us-east-1b",
            tags={"team": "platform", "env": "test"},
        )
    )
    # EC2 answers RunInstances with pending; the adapter passes that on rather than waiting.
    assert launched.state is S.PENDING
    running = await reads(ec2, launched.id, S.RUNNING)
    for instance in (launched, running):
        assert (instance.name, instance.image_id, instance.flavor_id) == ("web-1", image_id, FLAVOR)
        assert (instance.key_name, instance.zone) == ("deploy", "us-east-1b")
        assert group.id in instance.security_group_ids
        assert dict(instance.tags) == {"team": "platform", "env": "test"}
        assert instance.private_ips and instance.public_ips
        assert instance.created_at.tzinfo is not None
    assert running.created_at == launched.created_at

    # The boot script reached EC2 as given (the SDK base64-encodes it on the way).
    session = aioboto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    async with session.client("ec2", endpoint_url=ec2.config.endpoint_url) as raw:
        attribute = await raw.describe_instance_attribute(InstanceId=launched.id, Attribute="userData")
    assert base64.b64decode(attribute["UserData"]["Value"]).decode() == script


async def test_compressed_user_data_reaches_ec2_byte_for_byte(ec2: Ec2Adapter, image_id: str) -> None:
    packed = gzip.compress(b"#!/bin/sh\n" + b"echo compressed boot script\n" * 800, mtime=0)
    launched = await ec2.launch_instance(launch_spec(ec2, user_data=packed))
    session = aioboto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    async with session.client("ec2", endpoint_url=ec2.config.endpoint_url) as raw:
        attribute = await raw.describe_instance_attribute(InstanceId=launched.id, Attribute="userData")
    assert base64.b64decode(attribute["UserData"]["Value"]) == packed
    assert Ec2Adapter.user_data_limit == 16 * 1024


async def test_the_same_client_token_yields_the_same_instance(ec2: Ec2Adapter, image_id: str) -> None:
    first_spec = launch_spec(ec2)
    first = await ec2.launch_instance(first_spec)
    again = await ec2.launch_instance(first_spec)
    assert again.id == first.id
    # Tokens EC2 would refuse (over 64 characters) are hashed, and still deduplicate.
    long_spec = launch_spec(ec2, client_token="k" * 200)
    long_first = await ec2.launch_instance(long_spec)
    assert (await ec2.launch_instance(long_spec)).id == long_first.id
    other = await ec2.launch_instance(launch_spec(ec2, name=first_spec.name))
    assert other.id not in {first.id, long_first.id}
    page = await ec2.list_instances(limit=100)
    named = sorted(i.id for i in page.items if i.name == first_spec.name)
    assert named == sorted([first.id, other.id])


async def test_stop_start_reboot_answer_what_ec2_reports(ec2: Ec2Adapter, image_id: str) -> None:
    launched = await ec2.launch_instance(launch_spec(ec2))
    await reads(ec2, launched.id, S.RUNNING)

    stopping = await ec2.stop_instance(launched.id)
    assert stopping.state is S.STOPPING  # EC2's answer; moto finishes at once, real EC2 takes a while
    stopped = await reads(ec2, launched.id, S.STOPPED)
    assert stopped.id == launched.id

    with pytest.raises(InvalidCloudState):
        await ec2.reboot_instance(launched.id)  # a stopped machine cannot reboot

    starting = await ec2.start_instance(launched.id)
    assert starting.state is S.PENDING
    await reads(ec2, launched.id, S.RUNNING)

    rebooting = await ec2.reboot_instance(launched.id)
    assert rebooting.state is S.RUNNING  # EC2 has no rebooting state
    await reads(ec2, launched.id, S.RUNNING)


async def test_a_terminated_instance_stays_terminated(ec2: Ec2Adapter, image_id: str) -> None:
    launched = await ec2.launch_instance(launch_spec(ec2))
    terminating = await ec2.terminate_instance(launched.id)
    assert terminating.state is S.TERMINATING  # EC2 says shutting-down
    await reads(ec2, launched.id, S.TERMINATED)
    for action in (ec2.start_instance, ec2.stop_instance, ec2.reboot_instance):
        with pytest.raises(InvalidCloudState):
            await action(launched.id)
    assert (await read(ec2, launched.id)).state is S.TERMINATED
    assert (await ec2.terminate_instance(launched.id)).state is S.TERMINATED  # terminating twice is harmless


async def test_get_instances_is_one_call_and_leaves_out_missing_ids(
    counted: tuple[Ec2Adapter, CallCounter], image_id: str
) -> None:
    ec2, counter = counted
    launched = await asyncio.gather(*(ec2.launch_instance(launch_spec(ec2)) for _ in range(12)))
    ids = [i.id for i in launched]

    counter.calls.clear()
    found = await ec2.get_instances([*reversed(ids), ids[0]])
    assert [i.id for i in found] == list(reversed(ids)), "answered in the order asked, each once"
    assert counter.count("DescribeInstances") == 1

    missing = "i-" + "0" * 17
    counter.calls.clear()
    found = await ec2.get_instances([ids[0], missing, "not-an-id", ids[1]])
    assert [i.id for i in found] == [ids[0], ids[1]]
    # EC2 refuses the whole call for one unknown id; the adapter asks once more, by filter.
    assert counter.count("DescribeInstances") == 2
    assert list(await ec2.get_instances([missing, "bogus"])) == []
    assert list(await ec2.get_instances([])) == []


async def test_terminating_what_the_adapter_has_seen_is_one_call(
    ec2: Ec2Adapter, counted: tuple[Ec2Adapter, CallCounter]
) -> None:
    adapter, counter = counted
    seen = await adapter.launch_instance(launch_spec(adapter))
    unseen = await ec2.launch_instance(launch_spec(ec2))  # launched through another adapter
    counter.calls.clear()
    assert (await adapter.terminate_instance(seen.id)).state is S.TERMINATING
    assert counter.calls == ["TerminateInstances"]
    counter.calls.clear()
    terminating = await adapter.terminate_instance(unseen.id)
    assert (terminating.state, terminating.name) == (S.TERMINATING, unseen.name)
    assert counter.calls == ["DescribeInstances", "TerminateInstances"]


async def test_list_instances_pages_by_any_limit(counted: tuple[Ec2Adapter, CallCounter], image_id: str) -> None:
    ec2, counter = counted
    launched = {i.id for i in await asyncio.gather(*(ec2.launch_instance(launch_spec(ec2)) for _ in range(7)))}
    for limit in (1, 2, 3, 5, 6, 100):
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await ec2.list_instances(cursor=cursor, limit=limit)
            assert len(page.items) <= limit
            seen.extend(i.id for i in page.items)
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert sorted(seen) == sorted(launched), f"limit {limit}"
        assert pages <= len(launched) // limit + 2, f"limit {limit} took {pages} pages"
    counter.calls.clear()
    await ec2.list_instances(limit=100)
    assert counter.calls == ["DescribeInstances"]
    with pytest.raises(InvalidCloudRequest):
        await ec2.list_instances(cursor="garbage")


async def test_unknown_things_are_not_found_and_bad_requests_are_refused(ec2: Ec2Adapter, image_id: str) -> None:
    real = await ec2.launch_instance(launch_spec(ec2))
    unknown = missing_like(real.id)
    for call in (
        ec2.start_instance,
        ec2.stop_instance,
        ec2.reboot_instance,
        ec2.terminate_instance,
        ec2.console_output,
    ):
        with pytest.raises(CloudNotFound):
            await call(unknown)
    with pytest.raises(CloudNotFound):
        await ec2.launch_instance(launch_spec(ec2, image_id="ami-0123456789abcdef0"))
    with pytest.raises(CloudNotFound):
        await ec2.launch_instance(launch_spec(ec2, key_name="no-such-key"))
    with pytest.raises(CloudNotFound):
        await ec2.launch_instance(launch_spec(ec2, security_group_ids=("sg-0123456789abcdef0",)))
    with pytest.raises(CloudNotFound):
        await ec2.launch_instance(launch_spec(ec2, flavor_id="t3.gigantic"))
    with pytest.raises(InvalidCloudRequest):
        await ec2.launch_instance(launch_spec(ec2, zone=f"{REGION}z"))
    page = await ec2.list_instances()
    assert [i.id for i in page.items] == [real.id], "a refused launch left an instance behind"


async def test_console_output(ec2: Ec2Adapter, image_id: str) -> None:
    launched = await ec2.launch_instance(launch_spec(ec2, zone=ZONE))
    await reads(ec2, launched.id, S.RUNNING)
    output = await until(lambda: ec2.console_output(launched.id), lambda text: bool(text.strip()))
    assert "Linux" in output
