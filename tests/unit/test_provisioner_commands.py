"""The provisioner's commands and pushed metrics on fakes: a replacement launches its copy with the sender's id and
disposes of the old instance only once the copy runs; a quarantine takes an instance out of its group and stops it; a
refusal is `command.refused` with the API's problem; pushed samples are checked against the project and rate-limited
per project; the sampler's batches never exceed the events' bound."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import InstanceState, MetricSample
from kernel.commands import SCALING_GROUP_TAG, CommandPayload, QuarantineInstance, ReplaceInstance, StopInstance
from kernel.errors import ValidationFailed
from kernel.events.metrics import MAX_BATCH, MetricPoint
from services.provisioner.commands.consumers import _fresh_id
from services.provisioner.commands.handlers import Carrier
from services.provisioner.commands.repository import CommandRecord
from services.provisioner.instances import handlers as instances
from services.provisioner.instances.cloud import INSTANCES
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.instances.quarantine import QUARANTINED_TAG, quarantined_tags
from services.provisioner.metrics import handlers as metrics
from services.provisioner.metrics.sampler import MetricsSampler, batches
from tests.fakes.provisioner import PROJECT, FakeProvisioner, provisioner

GROUP = "grp-1"


def recorded(p: FakeProvisioner, payload: CommandPayload) -> CommandRecord:
    """A command as the consumer records it."""
    now = datetime.now(UTC)
    made = getattr(payload, "new_instance_id", None)
    record = CommandRecord(
        id=str(uuid.uuid4()),
        project_id=PROJECT,
        type=payload.TYPE,
        payload=payload.model_dump(mode="json"),
        requested_by=payload.requested_by,
        correlation_id="cid-c",
        state="pending",
        makes_instance=made,
        attempts=1,
        reason=None,
        created_at=now,
        updated_at=now,
    )
    p.uow.repos.commands.rows[record.id] = record  # type: ignore[attr-defined]
    return record


async def running(p: FakeProvisioner, **tags: str) -> InstanceRecord:
    req = instances.LaunchRequest(
        project_id=PROJECT,
        cloud_id="sim",
        name="web",
        image_id="img-debian-12",
        flavor_id="sim.small",
        correlation_id="cid-1",
        tags=tags,
    )
    record = await instances.launch(p.uow, p.clouds, req)
    return await settled(p, record.id)


async def settled(p: FakeProvisioner, instance_id: str) -> InstanceRecord:
    await p.engine.step(INSTANCES, instance_id)
    p.cloud.finish()
    await p.engine.follow(INSTANCES)
    return await instances.get(p.uow, PROJECT, instance_id)


def state_of(p: FakeProvisioner, command: CommandRecord) -> str:
    return str(p.uow.repos.commands.rows[command.id].state)  # type: ignore[attr-defined]


async def test_a_replacement_disposes_of_the_old_instance_only_once_its_copy_runs() -> None:
    p = provisioner()
    old = await running(p, **{SCALING_GROUP_TAG: GROUP, "team": "web"})
    new_id = str(uuid.uuid4())
    carrier = Carrier(p.uow, p.clouds, p.ports)
    command = recorded(p, ReplaceInstance(instance_id=old.id, new_instance_id=new_id, requested_by="failover:pol"))

    await carrier.carry_out(command)
    copy = await instances.get(p.uow, PROJECT, new_id)
    assert (copy.state, copy.requested_by, copy.zone, dict(copy.tags)) == (
        "requested",
        "failover:pol",
        old.zone,
        {SCALING_GROUP_TAG: GROUP, "team": "web"},
    )
    assert state_of(p, command) == "replacing"
    # Not yet running: the old one stays.
    await carrier.finish_replacement(p.uow.repos.commands.rows[command.id])  # type: ignore[attr-defined]
    assert (await instances.get(p.uow, PROJECT, old.id)).state == "running"

    assert (await settled(p, new_id)).state == "running"
    await carrier.finish_replacement(p.uow.repos.commands.rows[command.id])  # type: ignore[attr-defined]
    assert (await instances.get(p.uow, PROJECT, old.id)).state == "terminating"
    assert state_of(p, command) == "done"
    # Carried out again (a worker that died before it knew): nothing more is made.
    await carrier.carry_out(command)
    assert len(p.db.instances) == 2


async def test_a_quarantine_takes_the_instance_out_of_its_group_and_stops_it() -> None:
    p = provisioner()
    sick = await running(p, **{SCALING_GROUP_TAG: GROUP})
    carrier = Carrier(p.uow, p.clouds, p.ports)
    command = recorded(p, QuarantineInstance(instance_id=sick.id, requested_by="failover:pol", reason="3 checks"))

    await carrier.carry_out(command)

    kept = await instances.get(p.uow, PROJECT, sick.id)
    assert (kept.state, kept.pending_action, dict(kept.tags)) == ("stopping", "stop", {QUARANTINED_TAG: "3 checks"})
    quarantined = [e for e in p.uow.events if e.type == "instance.quarantined"]
    assert [e.payload["scaling_group_id"] for e in quarantined] == [GROUP]
    assert state_of(p, command) == "done"


async def test_what_the_api_would_refuse_is_refused_with_its_problem() -> None:
    p = provisioner()
    carrier = Carrier(p.uow, p.clouds, p.ports)
    unknown = str(uuid.uuid4())
    command = recorded(p, StopInstance(instance_id=unknown, requested_by="scaler:g"))

    await carrier.carry_out(command)

    [refused] = [e for e in p.uow.events if e.type == "command.refused"]
    assert (refused.payload["status"], refused.payload["code"], refused.payload["subject_id"]) == (
        404,
        "not_found",
        unknown,
    )
    assert refused.payload["command"] == "provisioner.stop_instance" and state_of(p, command) == "refused"


def test_an_instance_id_a_sender_chooses_is_a_uuid_in_its_usual_spelling() -> None:
    made = str(uuid.uuid4())
    assert _fresh_id(made)
    assert not _fresh_id(made.upper()) and not _fresh_id(made.replace("-", "")) and not _fresh_id("web-1")


def test_quarantined_tags_leave_the_group_and_say_why() -> None:
    tags = {SCALING_GROUP_TAG: GROUP, "team": "web"}
    assert quarantined_tags(tags, "x" * 300) == {"team": "web", QUARANTINED_TAG: "x" * 256}


def test_a_round_of_samples_is_split_at_the_events_bound() -> None:
    at = datetime(2026, 12, 4, tzinfo=UTC)
    points = [MetricPoint(name="cpu_utilization", value=1.0, at=at) for _ in range(2 * MAX_BATCH + 1)]
    assert [len(b) for b in batches(points)] == [MAX_BATCH, MAX_BATCH, 1]


async def test_pushed_samples_name_only_the_projects_instances_and_recent_times() -> None:
    p = provisioner()
    mine = await running(p)
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    theirs = str(uuid.uuid4())
    bad = [
        metrics.Pushed("x", 1.0, "", None, theirs, {}),
        metrics.Pushed("x", 1.0, "", now - timedelta(hours=2), None, {}),
        metrics.Pushed("x", 1.0, "", now + timedelta(minutes=4), mine.id, {}),
    ]
    with pytest.raises(ValidationFailed) as refused:
        await metrics.push(p.uow, project_id=PROJECT, samples=bad, now=now)
    assert [e["location"] for e in refused.value.extensions["errors"]] == [
        "body.samples.0.instance_id",
        "body.samples.1.at",
    ]
    before = len(p.uow.events)
    assert await metrics.push(p.uow, project_id=PROJECT, samples=bad[2:], now=now) == 1
    [event] = p.uow.events[before:]
    assert event.type == "metrics.sampled" and event.payload["source"] == "agent"


def test_each_project_pushes_at_its_own_rate() -> None:
    now = [0.0]
    limit = metrics.PushLimit(rate=1.0, burst=2, clock=lambda: now[0])
    limit.take("a")
    limit.take("a")
    with pytest.raises(metrics.RateLimited) as refused:
        limit.take("a")
    assert refused.value.retry_after == 1
    limit.take("b")
    now[0] = 1.0
    limit.take("a")


async def test_the_sampler_publishes_each_sample_once_per_project_and_notices_a_failure_in_the_cloud() -> None:
    p = provisioner()
    first, second = await running(p), await running(p)
    now = datetime.now(UTC)
    p.cloud.samples[first.provider_id or ""] = [
        MetricSample("cpu_utilization", now - timedelta(seconds=20), 40.0, "percent"),
        MetricSample("cpu_utilization", now - timedelta(seconds=10), 60.0, "percent"),
    ]
    p.cloud.samples[second.provider_id or ""] = []
    sampler = MetricsSampler(p.uow, p.clouds, p.engine, interval=1.0, concurrency=2)

    assert await sampler.round() == 2
    [event] = [e for e in p.uow.events if e.type == "metrics.sampled"]
    assert event.project_id == PROJECT and event.payload["source"] == "cloud"
    assert [(s["value"], s["instance_id"]) for s in event.payload["samples"]] == [(40.0, first.id), (60.0, first.id)]
    # Asked again: nothing new, nothing published; a newer sample alone.
    assert await sampler.round() == 0
    p.cloud.samples[first.provider_id or ""].append(MetricSample("cpu_utilization", now, 80.0, "percent"))
    assert await sampler.round() == 1

    # The cloud shows the second in error behind Clanavi's back: recorded at the next round.
    cloud_side = p.cloud.instances[second.provider_id or ""]
    p.cloud.instances[second.provider_id or ""] = replace(cloud_side, state=InstanceState.ERROR, reason="host lost")
    await sampler.round()
    failed = await instances.get(p.uow, PROJECT, second.id)
    assert failed.state == "error" and [e.subject for e in p.uow.events if e.type == "instance.failed"] == [second.id]
