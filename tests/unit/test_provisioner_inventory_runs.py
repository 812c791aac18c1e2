"""Inventory runs on fakes: one run adopts, corrects and marks gone the instances and volumes of a cloud with their
events, and counts them; a run holds its cloud by a lease (a second request answers the running one, a run whose
lease ran out is closed by the next); a cloud that throttles its listing is listed again, one that keeps failing
fails the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from adapters.base import CloudAuthError, CloudUnavailable, InstanceState, LaunchSpec, VolumeSpec, VolumeState
from kernel.errors import NotFound
from services.provisioner.inventory.handlers import Inventory
from services.provisioner.inventory.repository import INTERRUPTED
from tests.fakes.cloud import FakeCloud
from tests.fakes.provisioner import PROJECT, FakeProvisioner, provisioner
from tests.tokens import new_token


def runner(p: FakeProvisioner, naps: list[float] | None = None) -> Inventory:
    async def sleep(seconds: float) -> None:
        if naps is not None:
            naps.append(seconds)

    return Inventory(p.uow, p.clouds, page_size=2, sleep=sleep)


async def outside(cloud: FakeCloud, name: str) -> str:
    made = await cloud.launch_instance(LaunchSpec(name, "img-debian-12", "sim.small", client_token=name))
    cloud.finish()
    return made.id


def events_of(p: FakeProvisioner, matching: Callable[[str], bool]) -> list[tuple[str, str | None]]:
    return [(e.type, e.subject) for e in p.uow.events if matching(e.type)]


async def test_a_run_adopts_corrects_and_marks_gone_instances_and_volumes() -> None:
    p = provisioner()
    kept, lost = await outside(p.cloud, "kept"), await outside(p.cloud, "lost")
    await outside(p.cloud, "third")
    disk = await p.cloud.create_volume(VolumeSpec("disk", 5, client_token=new_token()))
    await p.cloud.attach_volume(disk.id, kept, "/dev/vdb")

    first = await runner(p).sync("sim", trigger="manual", correlation_id="sync-1")

    c = first.counts
    assert (c.adopted, c.listed, c.list_calls, c.volumes_adopted, c.volumes_listed) == (3, 3, 2, 1, 1)
    by_provider = {r.record.provider_id: r.record for r in p.db.instances.values()}
    assert all(r.discovered for r in by_provider.values())
    (volume,) = [r.record for r in p.db.resources.values()]
    assert volume.attrs["instance_id"] == by_provider[kept].id and volume.state == "in-use"
    assert p.event_types().count("instance.discovered") == 3 and "volume.discovered" in p.event_types()
    assert p.event_types()[-1] == "cloud.synced"

    p.cloud.instances[kept] = replace(p.cloud.instances[kept], state=InstanceState.STOPPED)
    del p.cloud.instances[lost]
    p.cloud.volumes[disk.id] = replace(p.cloud.volumes[disk.id], state=VolumeState.AVAILABLE, instance_id=None)
    second = await runner(p).sync("sim", trigger="scheduled", correlation_id="sync-2")

    c = second.counts
    assert (c.adopted, c.drifted, c.vanished, c.unchanged) == (0, 1, 1, 1)
    assert (c.volumes_drifted, c.volumes_vanished) == (1, 0)
    assert by_provider[kept].id in {s for _, s in events_of(p, lambda t: t == "instance.drifted")}
    assert events_of(p, lambda t: t == "instance.vanished") == [("instance.vanished", by_provider[lost].id)]
    drifted = p.uow.events[[e.type for e in p.uow.events].index("instance.drifted")]
    assert drifted.causation_id == by_provider[kept].last_event_id and drifted.correlation_id == "sync-2"
    records = {r.record.provider_id: r.record for r in p.db.instances.values()}
    assert (records[kept].state, records[lost].state) == ("stopped", "gone")
    assert records[kept].last_event_id == str(drifted.id)


async def test_a_second_request_answers_the_running_run_and_a_run_whose_lease_ran_out_is_closed() -> None:
    p = provisioner()
    async with p.uow.transaction() as tx:
        stale = await tx.repos.inventory.start_run(
            cloud_id="sim", project_id=PROJECT, trigger="scheduled", correlation_id="c", lease=30
        )
    assert stale is not None

    answered = await runner(p).request("sim", project_id=PROJECT, correlation_id="c2")
    assert answered.id == stale.id

    p.db.clock.advance(31)
    run = await runner(p).sync("sim", trigger="manual", correlation_id="c3")

    assert run.status == "succeeded"
    assert (p.db.runs[stale.id].run.status, p.db.runs[stale.id].run.error) == ("failed", INTERRUPTED)
    with pytest.raises(NotFound):
        await runner(p).run("sim", stale.id, project_id="other")


async def test_a_listing_the_cloud_does_not_answer_is_tried_again_and_a_refusal_fails_the_run() -> None:
    p = provisioner()
    await outside(p.cloud, "vm")
    p.cloud.fail["list_instances"] += [CloudUnavailable("busy"), CloudUnavailable("busy")]
    naps: list[float] = []

    run = await runner(p, naps).sync("sim", trigger="manual", correlation_id="c")

    assert run.status == "succeeded" and run.counts.list_calls == 3 and run.counts.adopted == 1
    assert len(naps) == 2 and 0.25 <= naps[0] <= 0.5 and 0.5 <= naps[1] <= 1.0

    p.cloud.fail["list_instances"].append(CloudAuthError("the key was revoked"))
    failed = await runner(p).sync("sim", trigger="manual", correlation_id="c")

    assert failed.status == "failed" and failed.error == "the key was revoked"
    assert p.event_types()[-1] == "cloud.sync_failed"
