"""The one pending-action engine on fakes: a due action is claimed with a lease and carried out once; a claim whose
lease ran out is taken over, and the late outcome of the first call dropped; a failing cloud is retried (throttling
without using up attempts, as long as the budget lasts) or the action fails for good; outcomes commit with their
events chained; transitions are followed; a disabled module's actions wait."""

from __future__ import annotations

import pytest

from adapters.base import CloudUnavailable, QuotaExceeded, Throttled
from services.provisioner.instances import handlers
from services.provisioner.instances.cloud import INSTANCES, launch_spec
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.resources import handlers as resources
from services.provisioner.resources.cloud import RESOURCES
from services.provisioner.settings import ProvisionerSettings
from services.provisioner.work.engine import WORK_CHANNEL, ClaimLost, Settlement
from services.provisioner.work.pacing import RetryPolicy
from tests.fakes.provisioner import PROJECT, FakeProvisioner, provisioner
from tests.offline import kernel_settings
from tests.provisioner_requests import request_volume


async def requested(p: FakeProvisioner) -> InstanceRecord:
    return await handlers.launch(
        p.uow,
        p.clouds,
        handlers.LaunchRequest(
            project_id=PROJECT,
            cloud_id="sim",
            name="web",
            image_id="img-debian-12",
            flavor_id="sim.small",
            correlation_id="cid",
        ),
    )


async def record(p: FakeProvisioner, instance_id: str) -> InstanceRecord:
    return await handlers.get(p.uow, PROJECT, instance_id)


async def test_a_due_action_is_claimed_once_and_carried_out_outside_any_transaction() -> None:
    p = provisioner()
    launch = await requested(p)
    assert await p.engine.due(INSTANCES, 10) == [launch.id]
    before = p.uow.committed

    assert await p.engine.step(INSTANCES, launch.id)

    # The claim and the outcome: two transactions, none open while the cloud was called.
    assert p.uow.committed == before + 2
    after = await record(p, launch.id)
    assert (after.state, after.pending_action, after.provider_id) == ("pending", None, "i-1")
    assert not after.in_flight and await p.engine.due(INSTANCES, 10) == []
    assert not await p.engine.step(INSTANCES, launch.id)
    assert p.cloud.calls.count("launch_instance") == 1


async def test_a_claimed_action_is_not_due_until_its_lease_runs_out_then_another_worker_takes_it_over() -> None:
    p = provisioner(lease=30.0)
    launch = await requested(p)
    first = p.engine.new_claim()
    async with p.uow.transaction() as tx:
        claimed = await tx.repos.instances.claim(launch.id, first, p.engine.lease)
    assert claimed is not None
    # The first worker called the cloud, then went quiet (it died, or its call hangs).
    await p.cloud.launch_instance(launch_spec(claimed))

    other = p.step_engine()
    assert not await other.step(INSTANCES, launch.id)
    p.db.clock.advance(31)
    assert await other.step(INSTANCES, launch.id)

    taken_over = await record(p, launch.id)
    assert taken_over.provider_id == "i-1" and len(p.cloud.instances) == 1
    # The first worker's answer arrives late: its claim is gone, so nothing is written twice.
    with pytest.raises(ClaimLost):
        await p.engine.settle(INSTANCES, launch.id, first, Settlement(claimed))
    assert p.event_types() == ["instance.requested", "instance.launched"]


async def test_a_renewed_lease_keeps_the_claim() -> None:
    p = provisioner(lease=30.0)
    launch = await requested(p)
    token = p.engine.new_claim()
    async with p.uow.transaction() as tx:
        await tx.repos.instances.claim(launch.id, token, 30.0)
    p.db.clock.advance(20)
    async with p.uow.transaction() as tx:
        assert await tx.repos.instances.extend(launch.id, token, 30.0)
    p.db.clock.advance(20)

    assert not await p.step_engine().step(INSTANCES, launch.id)


async def test_a_cloud_that_does_not_answer_is_retried_with_backoff_then_the_launch_fails() -> None:
    p = provisioner(policy=RetryPolicy(max_attempts=3, throttle_budget=60.0))
    launch = await requested(p)

    for attempt in (1, 2):
        p.cloud.fail["launch_instance"].append(CloudUnavailable("no answer"))
        assert await p.engine.step(INSTANCES, launch.id)
        waiting = await record(p, launch.id)
        assert (waiting.state, waiting.pending_action, waiting.attempts) == ("requested", "launch", attempt)
        assert waiting.reason == "no answer" and await p.engine.due(INSTANCES, 10) == []
        p.db.clock.advance(60)
        assert (WORK_CHANNEL, "") in p.uow.notifications
    p.cloud.fail["launch_instance"].append(CloudUnavailable("no answer"))
    assert await p.engine.step(INSTANCES, launch.id)

    failed = await record(p, launch.id)
    assert (failed.state, failed.pending_action) == ("error", None)
    assert failed.reason == "The cloud kept failing: no answer"
    assert p.event_types() == ["instance.requested", "instance.failed"]


async def test_a_refusal_fails_the_launch_at_once() -> None:
    p = provisioner()
    launch = await requested(p)
    p.cloud.fail["launch_instance"].append(QuotaExceeded("4 of 4 instances"))

    await p.engine.step(INSTANCES, launch.id)

    failed = await record(p, launch.id)
    assert failed.state == "error" and failed.reason == "The cloud's quota is exhausted: 4 of 4 instances"


async def test_throttling_is_retried_without_using_up_attempts_leaves_the_cloud_alone_and_honours_retry_after() -> None:
    p = provisioner(policy=RetryPolicy(max_attempts=2, throttle_budget=600.0))
    launch = await requested(p)
    slow_down = Throttled("slow down")
    slow_down.retry_after = 7  # type: ignore[attr-defined]
    p.cloud.fail["launch_instance"] += [slow_down, Throttled("slow down"), Throttled("slow down")]

    await p.engine.step(INSTANCES, launch.id)
    assert p.engine.pacer.wait("sim") == pytest.approx(7)
    # The worker does not call a cloud that asked to be left alone; the action waits at least that long.
    assert await p.engine.due(INSTANCES, 10) == []
    p.db.clock.advance(7.5)
    for _ in range(2):
        assert await p.engine.step(INSTANCES, launch.id)
        p.db.clock.advance(60)
    waiting = await record(p, launch.id)
    assert (waiting.attempts, waiting.throttled, waiting.pending_action) == (0, 3, "launch")

    assert await p.engine.step(INSTANCES, launch.id)
    assert (await record(p, launch.id)).provider_id is not None
    assert (await record(p, launch.id)).throttled == 0


async def test_a_cloud_throttling_past_the_budget_fails_the_action_saying_so() -> None:
    p = provisioner(policy=RetryPolicy(max_attempts=5, throttle_budget=0.0))
    launch = await requested(p)
    p.cloud.fail["launch_instance"].append(Throttled("slow down"))

    await p.engine.step(INSTANCES, launch.id)

    failed = await record(p, launch.id)
    assert failed.state == "error" and failed.reason == "The cloud kept throttling requests for 0 s: slow down"


async def test_outcomes_commit_with_their_events_chained_by_causation() -> None:
    p = provisioner()
    launch = await requested(p)
    await p.engine.step(INSTANCES, launch.id)
    p.cloud.finish()

    assert await p.engine.follow(INSTANCES) == 1

    events = p.uow.events
    assert [e.type for e in events] == ["instance.requested", "instance.launched", "instance.running"]
    assert [e.causation_id for e in events] == [None, str(events[0].id), str(events[1].id)]
    assert {e.correlation_id for e in events} == {"cid"} and {e.project_id for e in events} == {PROJECT}
    assert (await record(p, launch.id)).last_event_id == str(events[-1].id)
    assert await p.engine.follow(INSTANCES) == 0


async def test_a_failed_action_reads_the_instance_back_and_shows_the_cloud_s_state() -> None:
    p = provisioner(policy=RetryPolicy(max_attempts=1, throttle_budget=60.0))
    launch = await requested(p)
    await p.engine.step(INSTANCES, launch.id)
    p.cloud.finish()
    await p.engine.follow(INSTANCES)
    await handlers.request_action(
        p.uow, p.clouds, project_id=PROJECT, instance_id=launch.id, action="stop", correlation_id="c2"
    )
    p.cloud.fail["stop_instance"].append(CloudUnavailable("no answer"))

    await p.engine.step(INSTANCES, launch.id)

    after = await record(p, launch.id)
    assert (after.state, after.pending_action) == ("running", None)
    assert p.event_types()[-1] == "instance.action_failed"


async def test_a_terminated_instance_frees_the_volumes_and_addresses_it_held() -> None:
    p = provisioner()
    launch = await requested(p)
    await p.engine.step(INSTANCES, launch.id)
    p.cloud.finish()
    await p.engine.follow(INSTANCES)
    volume = await request_volume(p.ports)
    p.cloud.finish()
    await p.engine.follow(RESOURCES)
    await resources.attach_volume(
        p.ports, project_id=PROJECT, volume_id=volume.record.id, instance_id=launch.id, device=None, correlation_id="c"
    )
    await handlers.request_action(
        p.uow, p.clouds, project_id=PROJECT, instance_id=launch.id, action="terminate", correlation_id="c"
    )
    await p.engine.step(INSTANCES, launch.id)
    p.cloud.finish()

    await p.engine.follow(INSTANCES)

    held = await resources.get(p.ports, PROJECT, "volume", volume.record.id)
    assert held.state == "detaching"


async def test_a_disabled_module_s_actions_wait_untouched() -> None:
    p = provisioner()
    launch = await requested(p)
    p.db.modules["simcloud"] = False
    assert await p.engine.due(INSTANCES, 10) == []
    assert not await p.engine.step(INSTANCES, launch.id)

    # A worker that learns of it first: the claim is released, the record untouched.
    p.db.modules["simcloud"] = True
    p.clouds.set_module("simcloud", enabled=False)
    assert not await p.engine.step(INSTANCES, launch.id)
    assert await record(p, launch.id) == launch
    p.clouds.set_module("simcloud", enabled=True)
    assert await p.engine.step(INSTANCES, launch.id)


def test_a_worker_that_could_take_every_pooled_connection_is_refused_at_start() -> None:
    kernel = kernel_settings(db_pool_max=10)
    ProvisionerSettings(kernel=kernel, concurrency=8).check_concurrency()

    with pytest.raises(ValueError, match="CLANAVI_PROVISIONER_CONCURRENCY=9 .* CLANAVI_DB_POOL_MAX=10"):
        ProvisionerSettings(kernel=kernel, concurrency=9).check_concurrency()
