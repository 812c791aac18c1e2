"""SimCloud's instances seen from outside on a real PostgreSQL: the console as it boots, metrics while running, and
the CPU load that tests and demos drive, on a clock the test moves."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from adapters.base import CloudNotFound, InstanceState, InvalidCloudRequest, InvalidCloudState
from tests.integration.simcloud_harness import Make, SimClock, spec

pytestmark = pytest.mark.integration

METRICS = {"cpu_utilization", "network_in_bytes", "network_out_bytes", "disk_read_bytes", "disk_write_bytes"}


def cpu(samples: Any) -> dict[datetime, float]:
    return {s.timestamp: s.value for s in samples if s.name == "cpu_utilization"}


# --- console -----------------------------------------------------------------------------------------------------


async def test_the_console_follows_the_boot_and_shows_what_the_boot_script_prints(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=20)
    script = (
        "#!/bin/sh\n"
        "DB_PASSWORD='s3cr3t-value'\n"
        "echo 'configuring api-1'\n"
        'echo "$DB_PASSWORD" | api-setup --password-stdin\n'
        "systemctl start api\n"
    )
    instance = await cloud.launch_instance(spec(name="api-1", user_data=script))

    at_start = await cloud.console_output(instance.id)
    clock.advance(19)
    nearly = await cloud.console_output(instance.id)
    clock.advance(1)
    booted = await cloud.console_output(instance.id)

    for source in ("s3cr3t-value", "DB_PASSWORD", "api-setup", "systemctl", "echo"):
        assert source not in booted
    assert "Linux version" in at_start and "cloud-init" not in at_start
    assert "running 'modules:final'" in nearly and "]: configuring api-1\n" in nearly and "login:" not in nearly
    assert "Datasource DataSourceNoCloud" in nearly
    assert booted.startswith(nearly.rstrip("\n")) and booted.rstrip().endswith("api-1 login:")


async def test_the_console_never_shows_cloud_config(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=1)
    cloud_config = "#cloud-config\nchpasswd:\n  users:\n    - {name: admin, password: hunter2-cc, type: text}\n"
    instance = await cloud.launch_instance(spec(user_data=cloud_config))
    clock.advance(1)

    log = await cloud.console_output(instance.id)

    assert "finished at" in log
    assert "hunter2-cc" not in log and "chpasswd" not in log and "cloud-config" not in log
    with pytest.raises(CloudNotFound):
        await cloud.console_output("sim-00000000000000000")


async def test_the_console_tells_the_instances_story(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=1, stop_seconds=1, start_seconds=1, reboot_seconds=1, terminate_seconds=1)
    instance_id = (await cloud.launch_instance(spec())).id
    for action in ("stop", "start", "reboot", "suspend", "resume", "terminate"):
        clock.advance(1)
        await getattr(cloud, f"{action}_instance")(instance_id)
    clock.advance(1)

    log = await cloud.console_output(instance_id)

    assert log.count("login:") == 3
    assert "reboot: Restarting system" in log and "PM: suspend entry" in log
    assert log.rstrip().endswith(f"instance {instance_id} terminated")


async def test_the_console_of_another_account_is_not_found(make: Make) -> None:
    instance = await make().launch_instance(spec())

    with pytest.raises(CloudNotFound):
        await make(f"other-{uuid.uuid4().hex[:8]}").console_output(instance.id)


# --- metrics -----------------------------------------------------------------------------------------------------


async def test_samples_come_every_simulated_minute_while_running(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=30, speedup=60, default_load="steady:35")
    instance = await cloud.launch_instance(spec())
    clock.advance(10)

    samples = await cloud.get_metrics(instance.id, instance.created_at)

    times = sorted({s.timestamp for s in samples})
    # 60 times faster: a sample a second; the boot took half a second, so the first is at one second.
    assert times == [instance.created_at + timedelta(seconds=k) for k in range(1, 11)]
    assert Counter(s.name for s in samples) == dict.fromkeys(METRICS, 10)
    assert set(cpu(samples).values()) == {35}
    assert {s.unit for s in samples} == {"percent", "bytes"}
    assert all(s.value > 0 for s in samples)


async def test_no_samples_while_not_running(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=0, stop_seconds=0, start_seconds=0, speedup=60)
    instance = await cloud.launch_instance(spec())
    clock.advance(3)
    await cloud.stop_instance(instance.id)
    clock.advance(5)
    await cloud.start_instance(instance.id)
    clock.advance(2)

    times = sorted(cpu(await cloud.get_metrics(instance.id, instance.created_at)))

    offsets = [round((t - instance.created_at).total_seconds()) for t in times]
    assert offsets == [0, 1, 2, 8, 9, 10]


async def test_since_bounds_the_samples(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=0, speedup=60)
    instance = await cloud.launch_instance(spec())
    clock.advance(10)

    recent = await cloud.get_metrics(instance.id, instance.created_at + timedelta(seconds=7.5))

    assert sorted(cpu(recent)) == [instance.created_at + timedelta(seconds=k) for k in (8, 9, 10)]
    assert await cloud.get_metrics(instance.id, clock.now + timedelta(seconds=1)) == []
    with pytest.raises(InvalidCloudRequest, match="time zone"):
        await cloud.get_metrics(instance.id, datetime(2025, 1, 1))  # noqa: DTZ001 - the naive time is the point
    with pytest.raises(CloudNotFound):
        await cloud.get_metrics("sim-00000000000000000", instance.created_at)


async def test_a_pending_instance_has_no_samples(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=600)
    instance = await cloud.launch_instance(spec())
    clock.advance(300)

    assert await cloud.get_metrics(instance.id, instance.created_at) == []


# --- load --------------------------------------------------------------------------------------------------------


async def test_the_load_tag_sets_the_profile_at_launch(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=0, speedup=60)
    instance = await cloud.launch_instance(spec(tags={"simcloud:load": "ramp:0:100:600"}))
    assert instance.extra["load"] == "ramp:0:100:600"
    clock.advance(10)

    values = cpu(await cloud.get_metrics(instance.id, instance.created_at))

    # 600 simulated seconds last 10 s here: a sample each simulated minute climbs by 10 points.
    assert [round(values[t]) for t in sorted(values)] == list(range(0, 101, 10))


async def test_ex_set_load_changes_the_cpu_from_then_on(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=0, speedup=60)
    instance = await cloud.launch_instance(spec())
    clock.advance(3.5)

    changed = await cloud.ex_set_load(instance.id, "spike:10:90:120:60")
    clock.advance(6.5)
    values = cpu(await cloud.get_metrics(instance.id, instance.created_at))

    assert changed.extra["load"] == "spike:10:90:120:60"
    # The default 20 % before the change; after it, every other simulated minute at the peak.
    assert [values[t] for t in sorted(values)] == [20, 20, 20, 20, 10, 90, 10, 90, 10, 90, 10]


async def test_bad_profiles_are_refused(make: Make, clock: SimClock) -> None:
    cloud = make(terminate_seconds=0)

    with pytest.raises(InvalidCloudRequest, match="kind"):
        await cloud.launch_instance(spec(tags={"simcloud:load": "wobbly:3"}))
    instance = await cloud.launch_instance(spec())
    with pytest.raises(InvalidCloudRequest, match="between 0 and 100"):
        await cloud.ex_set_load(instance.id, "steady:150")
    with pytest.raises(CloudNotFound):
        await cloud.ex_set_load("sim-00000000000000000", "steady:10")
    await cloud.terminate_instance(instance.id)
    with pytest.raises(InvalidCloudState, match="terminated"):
        await cloud.ex_set_load(instance.id, "steady:10")
    assert (await cloud.get_instances([instance.id]))[0].state == InstanceState.TERMINATED
