"""The XCP adapter against the XAPI stand-in, through the real XenAPI client.

Each step is checked twice: through the adapter, and in the stand-in's own state (what xapi would hold), so a
state the adapter only claims cannot pass; the stand-in's request log shows which XAPI calls went over the wire.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters import registry
from adapters.base import (
    CloudAuthError,
    CloudNotFound,
    CloudUnavailable,
    InstanceState,
    InvalidCloudState,
    LaunchSpec,
    UnsupportedOperation,
    VolumeSpec,
    VolumeState,
)
from adapters.registry import AdapterContext
from adapters.xcp import XcpAdapter
from devstack.ports import free_port
from tests.contract.clouds.xcp import FLAVOR, account_config, connect, standin_for, template_uuid
from tests.standins.xapi import XapiStandIn
from tests.standins.xapi.rrd import Load
from tests.tokens import new_token

pytestmark = pytest.mark.integration

S = InstanceState


@pytest.fixture
def standin(request: pytest.FixtureRequest) -> XapiStandIn:
    return standin_for(request.config)


@pytest.fixture
async def adapter(standin: XapiStandIn) -> AsyncIterator[XcpAdapter]:
    adapter = await connect(standin)
    yield adapter
    for instance in (await adapter.list_instances()).items:
        await adapter.terminate_instance(instance.id)
    for volume in await adapter.list_volumes():
        if volume.instance_id is not None:
            await adapter.detach_volume(volume.id)
        await adapter.delete_volume(volume.id)
    await adapter.close()


def spec(standin: XapiStandIn, **fields: Any) -> LaunchSpec:
    values: dict[str, Any] = {
        "name": f"vm-{uuid.uuid4().hex[:8]}",
        "image_id": template_uuid(standin),
        "flavor_id": FLAVOR,
        "client_token": uuid.uuid4().hex,
    }
    values.update(fields)
    return LaunchSpec(**values)


def vm_record(standin: XapiStandIn, vm_uuid: str) -> dict[str, Any] | None:
    with standin.state.lock:
        found = [dict(r) for r in standin.state.objects["VM"].values() if r["uuid"] == vm_uuid]
    return found[0] if found else None


def vdi_record(standin: XapiStandIn, vdi_uuid: str) -> dict[str, Any] | None:
    with standin.state.lock:
        found = [dict(r) for r in standin.state.objects["VDI"].values() if r["uuid"] == vdi_uuid]
    return found[0] if found else None


async def test_the_registry_knows_the_xcp_driver(standin: XapiStandIn) -> None:
    adapter = await registry.connect("xcp", "acct-registry", account_config(standin), AdapterContext(pool=None))
    try:
        assert isinstance(adapter, XcpAdapter)
        assert template_uuid(standin) in {i.id for i in await adapter.list_images()}
    finally:
        await adapter.close()


async def test_launch_goes_over_the_wire_and_reads_back_from_xapi(standin: XapiStandIn, adapter: XcpAdapter) -> None:
    before = len(standin.requests)
    launched = await adapter.launch_instance(spec(standin, tags={"team": "infra"}))
    sent = standin.requests[before:]
    # The real XenAPI client made these XML-RPC calls, in this order.
    order = [m for m in sent if m in ("VM.clone", "VM.provision", "VM.set_is_a_template", "VM.start")]
    assert order == ["VM.clone", "VM.provision", "VM.set_is_a_template", "VM.start"], sent
    assert "VM.set_memory_limits" in sent and "VM.set_VCPUs_at_startup" in sent and "VIF.create" in sent

    assert launched.state is S.RUNNING
    assert launched.tags == {"team": "infra"}
    rec = vm_record(standin, launched.id)
    assert rec is not None
    assert rec["power_state"] == "Running"
    assert rec["is_a_template"] is False
    assert rec["name_label"] == launched.name
    assert rec["VCPUs_at_startup"] == "1"
    assert rec["memory_static_max"] == str(512 * 1024**2)
    assert rec["other_config"]["clanavi_flavor"] == FLAVOR
    assert len(rec["VBDs"]) == 1, "provision made the template's root disk"
    assert launched.private_ips, "the guest metrics' address is read back"


async def test_the_flavor_sizes_the_vm_and_its_root_disk(standin: XapiStandIn, adapter: XcpAdapter) -> None:
    launched = await adapter.launch_instance(spec(standin, flavor_id="xcp.small"))
    assert launched.flavor_id == "xcp.small"
    rec = vm_record(standin, launched.id)
    assert rec is not None
    assert (rec["VCPUs_max"], rec["VCPUs_at_startup"]) == ("2", "2")
    assert rec["memory_dynamic_max"] == str(2048 * 1024**2)
    with standin.state.lock:
        root = standin.state.objects["VDI"][standin.state.objects["VBD"][rec["VBDs"][0]]["VDI"]]
        assert root["virtual_size"] == str(20 * 1024**3), "the 8 GiB template disk was not grown to the flavor's"
    assert standin.calls("VDI.resize") >= 1


async def test_the_same_client_token_clones_once_even_from_a_new_adapter(
    standin: XapiStandIn, adapter: XcpAdapter
) -> None:
    request = spec(standin)
    first = await adapter.launch_instance(request)
    clones = standin.calls("VM.clone")
    again = await adapter.launch_instance(request)
    assert again.id == first.id
    other = await connect(standin, account_id=adapter.account_id)  # the platform restarted
    try:
        assert (await other.launch_instance(request)).id == first.id
    finally:
        await other.close()
    assert standin.calls("VM.clone") == clones, "a retried launch cloned the template again"
    named = [r for r in standin.state.objects["VM"].values() if r["name_label"] == request.name]
    assert len(named) == 1


async def test_an_invalidated_session_logs_in_again(standin: XapiStandIn, adapter: XcpAdapter) -> None:
    launched = await adapter.launch_instance(spec(standin))
    logins = standin.calls("session.login_with_password")
    standin.invalidate_sessions()  # as a restarted xapi: the adapter's session reference is unknown now
    stopped = await adapter.stop_instance(launched.id)
    assert stopped.state is S.STOPPED
    assert standin.calls("session.login_with_password") == logins + 1
    rec = vm_record(standin, launched.id)
    assert rec is not None and rec["power_state"] == "Halted"


async def test_a_wrong_password_is_an_auth_error(standin: XapiStandIn) -> None:
    with pytest.raises(CloudAuthError):
        await connect(standin, password="wrong")


async def test_nothing_listening_is_unavailable(standin: XapiStandIn) -> None:
    with pytest.raises(CloudUnavailable):
        await connect(standin, url=f"http://127.0.0.1:{free_port()}/")


async def test_power_states_read_back_from_xapi(standin: XapiStandIn, adapter: XcpAdapter) -> None:
    launched = await adapter.launch_instance(spec(standin))

    def power() -> str:
        rec = vm_record(standin, launched.id)
        assert rec is not None
        return str(rec["power_state"])

    assert (await adapter.suspend_instance(launched.id)).state is S.SUSPENDED
    assert power() == "Suspended"
    assert (await adapter.resume_instance(launched.id)).state is S.RUNNING
    assert power() == "Running"
    rebooted_before = standin.calls("VM.clean_reboot")
    assert (await adapter.reboot_instance(launched.id)).state is S.RUNNING
    assert standin.calls("VM.clean_reboot") == rebooted_before + 1
    assert (await adapter.stop_instance(launched.id)).state is S.STOPPED
    assert power() == "Halted"
    with pytest.raises(InvalidCloudState):  # XAPI's VM_BAD_POWER_STATE: a halted VM does not suspend
        await adapter.suspend_instance(launched.id)
    assert power() == "Halted"
    assert (await adapter.start_instance(launched.id)).state is S.RUNNING
    assert power() == "Running"


def remove_pv_drivers(standin: XapiStandIn, vm_uuid: str) -> None:
    with standin.state.lock:
        ref = standin.state._by_uuid("VM", vm_uuid)
        standin.state.remove_pv_drivers(ref)


async def test_a_guest_without_pv_drivers_is_stopped_and_rebooted_the_hard_way(
    standin: XapiStandIn, adapter: XcpAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    launched = await adapter.launch_instance(spec(standin))
    remove_pv_drivers(standin, launched.id)
    caplog.set_level(logging.INFO, logger="clanavi.adapters.xcp")

    before = (standin.calls("VM.clean_reboot"), standin.calls("VM.hard_reboot"))
    assert (await adapter.reboot_instance(launched.id)).state is S.RUNNING
    assert (standin.calls("VM.clean_reboot"), standin.calls("VM.hard_reboot")) == (before[0] + 1, before[1] + 1)
    assert "VM.clean_reboot refused (VM_LACKS_FEATURE)" in caplog.text and "VM.hard_reboot" in caplog.text

    remove_pv_drivers(standin, launched.id)  # the rebooted guest still has no drivers
    with pytest.raises(InvalidCloudState, match="VM_LACKS_FEATURE"):  # suspending has no hard way
        await adapter.suspend_instance(launched.id)

    before = (standin.calls("VM.clean_shutdown"), standin.calls("VM.hard_shutdown"))
    assert (await adapter.stop_instance(launched.id)).state is S.STOPPED
    assert (standin.calls("VM.clean_shutdown"), standin.calls("VM.hard_shutdown")) == (before[0] + 1, before[1] + 1)
    assert "VM.clean_shutdown refused (VM_LACKS_FEATURE)" in caplog.text
    rec = vm_record(standin, launched.id)
    assert rec is not None and rec["power_state"] == "Halted"


async def test_a_template_is_not_an_instance(standin: XapiStandIn, adapter: XcpAdapter) -> None:
    with pytest.raises(CloudNotFound):
        await adapter.start_instance(template_uuid(standin))
    with pytest.raises(CloudNotFound):
        await adapter.terminate_instance(str(uuid.uuid4()))


async def test_unsupported_launch_options_are_refused_before_anything_is_made(
    standin: XapiStandIn, adapter: XcpAdapter
) -> None:
    clones = standin.calls("VM.clone")
    with pytest.raises(UnsupportedOperation):
        await adapter.launch_instance(spec(standin, user_data="#!/bin/sh\n"))
    with pytest.raises(UnsupportedOperation):
        await adapter.launch_instance(spec(standin, key_name="k"))
    assert standin.calls("VM.clone") == clones


async def test_volume_attach_plugs_into_a_running_vm_and_terminate_keeps_it(
    standin: XapiStandIn, adapter: XcpAdapter
) -> None:
    launched = await adapter.launch_instance(spec(standin))
    volume = await adapter.create_volume(VolumeSpec(name="data", size_gb=2, client_token=new_token()))
    rec = vdi_record(standin, volume.id)
    assert rec is not None and rec["virtual_size"] == str(2 * 1024**3)

    attached = await adapter.attach_volume(volume.id, launched.id)
    assert attached.state is VolumeState.IN_USE and attached.instance_id == launched.id
    assert attached.device == "xvdb"
    with standin.state.lock:
        vbds = [
            v
            for v in standin.state.objects["VBD"].values()
            if v["VDI"] in standin.state.objects["VDI"] and standin.state.objects["VDI"][v["VDI"]]["uuid"] == volume.id
        ]
    assert len(vbds) == 1 and vbds[0]["currently_attached"] is True

    vm = vm_record(standin, launched.id)
    assert vm is not None
    with standin.state.lock:
        disks = [standin.state.objects["VBD"][v]["VDI"] for v in vm["VBDs"]]
        root_disks = [d for d in disks if standin.state.objects["VDI"][d]["uuid"] != volume.id]
    assert len(root_disks) == 1
    terminated = await adapter.terminate_instance(launched.id)
    assert terminated.state is S.TERMINATED
    assert vm_record(standin, launched.id) is None
    assert vdi_record(standin, volume.id) is not None, "terminating an instance destroyed its attached volume"
    assert not [d for d in root_disks if d in standin.state.objects["VDI"]], "the root disk outlived its instance"
    after = [v for v in await adapter.list_volumes() if v.id == volume.id]
    assert after and after[0].state is VolumeState.AVAILABLE and after[0].instance_id is None


async def test_snapshot_and_volume_from_it(standin: XapiStandIn, adapter: XcpAdapter) -> None:
    volume = await adapter.create_volume(VolumeSpec(name="src", size_gb=1, client_token=new_token()))
    snapshot = await adapter.create_snapshot(volume.id, "snap", client_token=new_token())
    rec = vdi_record(standin, snapshot.id)
    assert rec is not None and rec["is_a_snapshot"] is True
    restored = await adapter.create_volume(
        VolumeSpec(name="restored", size_gb=1, snapshot_id=snapshot.id, client_token=new_token())
    )
    assert restored.snapshot_id == snapshot.id
    await adapter.delete_snapshot(snapshot.id)
    assert vdi_record(standin, snapshot.id) is None


async def test_an_image_of_an_instance_is_a_snapshot_template_that_launches(
    standin: XapiStandIn, adapter: XcpAdapter
) -> None:
    asked = spec(standin)
    instance = await adapter.launch_instance(asked)
    token = new_token()
    image = await adapter.create_image(instance.id, "golden", client_token=token)
    rec = vm_record(standin, image.id)
    assert rec is not None and rec["is_a_snapshot"] is True and rec["is_a_template"] is True
    # The image keeps the client token of its own create, not the launch's of the instance it was made from.
    assert rec["other_config"]["clanavi_token"] == token != asked.client_token
    assert (await adapter.create_image(instance.id, "golden", client_token=token)).id == image.id
    child = await adapter.launch_instance(spec(standin, image_id=image.id))
    assert child.image_id == image.id and child.state is S.RUNNING
    other = await connect(standin)  # another account does not see this account's image
    try:
        assert image.id not in {i.id for i in await other.list_images()}
    finally:
        await other.close()
    await adapter.terminate_instance(child.id)
    await adapter.deregister_image(image.id)
    assert vm_record(standin, image.id) is None
    with pytest.raises(CloudNotFound):
        await adapter.get_image(image.id)


async def test_an_operation_another_client_runs_shows_in_the_state(standin: XapiStandIn, adapter: XcpAdapter) -> None:
    instance = await adapter.launch_instance(spec(standin))
    ref = vm_ref(standin, instance.id)
    with standin.state.lock:
        task = standin.state.begin_operation(ref, "clean_shutdown")
    [seen] = await adapter.get_instances([instance.id])
    assert seen.state is S.STOPPING and seen.extra["current_operations"] == ["clean_shutdown"]
    # xapi refuses another operation meanwhile, and the contract hears why.
    with pytest.raises(InvalidCloudState, match="OTHER_OPERATION_IN_PROGRESS: another operation is in progress"):
        await adapter.reboot_instance(instance.id)
    with standin.state.lock:
        standin.state.end_operation(ref, task)
    assert (await adapter.reboot_instance(instance.id)).state is S.RUNNING


def vm_ref(standin: XapiStandIn, vm_uuid: str) -> str:
    with standin.state.lock:
        return standin.state._by_uuid("VM", vm_uuid)


async def test_metrics_come_from_xcp_rrdd_not_vm_metrics(standin: XapiStandIn, adapter: XcpAdapter) -> None:
    instance = await adapter.launch_instance(spec(standin))
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    # Just started: xcp-rrdd has not read the domain yet (it has no RRD, which rrdd answers with a 500 when it is all
    # that was asked for); the adapter asks for dom0's too, so this is no error but no samples.
    before = standin.calls("GET /rrd_updates")
    assert list(await adapter.get_metrics(instance.id, hour_ago)) == []
    assert standin.calls("GET /rrd_updates") == before + 1
    ref = vm_ref(standin, instance.id)
    with standin.state.lock:
        metrics = standin.state.get("VM_metrics", standin.state._vm(ref)["metrics"])
        assert metrics["VCPUs_utilisation"] == {"0": 0.0}, "xapi no longer writes it"

        standin.state.set_load(ref, Load(cpu=0.3, rx=1_000, tx=200, read=4_096, write=512))
        standin.state.backdate(ref, 15 * 60)
    # 15 minutes of history: per minute over the last hour (the 5 s archive keeps 10 minutes only).
    samples = await adapter.get_metrics(instance.id, hour_ago)
    names = {s.name for s in samples}
    assert names == {"cpu_utilization", "network_in_bytes", "network_out_bytes", "disk_read_bytes", "disk_write_bytes"}
    cpu = [s for s in samples if s.name == "cpu_utilization"]
    assert 13 <= len(cpu) <= 16
    assert all(s.value == pytest.approx(30.0) for s in cpu)
    assert all(s.timestamp.second == 0 and s.timestamp >= hour_ago for s in samples)
    per_minute = {s.name: s.value for s in samples if s.timestamp == cpu[-1].timestamp}
    assert per_minute["network_in_bytes"] == pytest.approx(60_000.0)
    assert per_minute["network_out_bytes"] == pytest.approx(12_000.0)
    assert per_minute["disk_read_bytes"] == pytest.approx(4_096 * 60)
    assert per_minute["disk_write_bytes"] == pytest.approx(512 * 60)

    # Over the last five minutes: xcp-rrdd's 5 s archive.
    recent = list(await adapter.get_metrics(instance.id, datetime.now(UTC) - timedelta(minutes=5)))
    steps = sorted({s.timestamp for s in recent})
    assert len(steps) >= 55 and all((b - a).total_seconds() == 5 for a, b in zip(steps, steps[1:], strict=False))
    assert {s.value for s in recent if s.name == "network_in_bytes"} == {5_000.0}

    # Stopped, its RRD leaves the host (archived on the master, which /rrd_updates does not read): nothing to read.
    await adapter.stop_instance(instance.id)
    assert list(await adapter.get_metrics(instance.id, hour_ago)) == []


async def test_metrics_of_one_vm_are_its_own(standin: XapiStandIn, adapter: XcpAdapter) -> None:
    busy = await adapter.launch_instance(spec(standin))
    idle = await adapter.launch_instance(spec(standin))
    with standin.state.lock:
        for instance, cpu in ((busy, 0.9), (idle, 0.05)):
            standin.state.set_load(vm_ref(standin, instance.id), Load(cpu=cpu))
            standin.state.backdate(vm_ref(standin, instance.id), 120)
    since = datetime.now(UTC) - timedelta(minutes=5)
    assert {round(s.value) for s in await adapter.get_metrics(busy.id, since) if s.name == "cpu_utilization"} == {90}
    assert {round(s.value) for s in await adapter.get_metrics(idle.id, since) if s.name == "cpu_utilization"} == {5}


async def test_metrics_with_an_expired_session_are_refused_as_xapi_refuses_them(
    standin: XapiStandIn, adapter: XcpAdapter
) -> None:
    instance = await adapter.launch_instance(spec(standin))
    session = adapter.xapi.handle
    standin.invalidate_sessions()
    # The XML-RPC calls before the HTTP one log in again, so the metrics are read with the new session.
    assert list(await adapter.get_metrics(instance.id, datetime.now(UTC) - timedelta(hours=1))) == []
    assert adapter.xapi.handle != session
    standin.invalidate_sessions()
    with pytest.raises(CloudAuthError, match="HTTP status 401"):
        await asyncio.to_thread(adapter.xapi.get, "/rrd_updates", [("session_id", session), ("start", "0")], None)
