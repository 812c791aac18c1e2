"""The guard-rails' use cases on fakes: quotas counted over every instance that has not ended, approvals that hold a
launch back until an owner decides, lifetimes that warn and then stop or terminate, extensions within the cap."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kernel.errors import InvalidState, NotFound, ValidationFailed
from kernel.keyset import PageRequest
from services.provisioner.errors import ProjectQuotaExceeded
from services.provisioner.guardrails import handlers as guardrails
from services.provisioner.guardrails.domain import Guardrails
from services.provisioner.guardrails.expiry import ExpiryFollower
from services.provisioner.guardrails.repository import ApprovalFilter
from services.provisioner.instances import handlers, preview
from services.provisioner.instances.cloud import INSTANCES
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.work.engine import WORK_CHANNEL
from tests.fakes.provisioner import PROJECT, FakeProvisioner, provisioner
from tests.unit.test_provisioner_instance_cases import request

# sim.small: 1 vCPU at SimCloud's built-in 0.02 USD an hour, 14.60 a month.
MONTHLY = Decimal("14.60")


async def rails(p: FakeProvisioner, **settings: object) -> Guardrails:
    wanted = Guardrails(PROJECT, **settings)  # type: ignore[arg-type]
    return await guardrails.change(p.uow, wanted, changed_by="user:owner", correlation_id="cid-r")


async def launch(p: FakeProvisioner, name: str = "web", **asked: object) -> InstanceRecord:
    return await handlers.launch(
        p.uow,
        p.clouds,
        request(name=name),
        asked=guardrails.Asked(requested_by="user:op", **asked),  # type: ignore[arg-type]
    )


async def running(p: FakeProvisioner, record: InstanceRecord) -> InstanceRecord:
    assert await p.engine.step(INSTANCES, record.id)
    p.cloud.finish()
    await p.engine.follow(INSTANCES)
    return await handlers.get(p.uow, PROJECT, record.id)


async def test_a_change_is_versioned_with_who_changed_what_and_the_same_again_changes_nothing() -> None:
    p = provisioner()

    first = await rails(p, max_instances=2)
    again = await rails(p, max_instances=2)

    assert (first.version, again.version) == (1, 1)
    assert p.event_types() == ["guardrails.changed"]
    assert p.uow.events[0].payload["changes"] == {"max_instances": {"from": None, "to": 2}}
    assert p.uow.events[0].payload["changed_by"] == "user:owner"


async def test_a_launch_over_a_quota_is_refused_naming_it_and_nothing_is_recorded() -> None:
    p = provisioner()
    await rails(p, max_instances=1, max_monthly_cost=Decimal(20), currency="USD")
    first = await launch(p)
    assert first.vcpus == 1

    with pytest.raises(ProjectQuotaExceeded) as refused:
        await launch(p, "web2")

    assert refused.value.http_status == 409 and refused.value.code == "quota_exceeded"
    assert refused.value.extensions["quotas"] == [
        {"quota": "max_instances", "limit": "1", "used": "1", "adds": "1"},
        {"quota": "max_monthly_cost", "limit": "20", "used": "14.6000", "adds": "14.6000"},
    ]
    assert len(p.db.instances) == 1


async def test_an_instance_counts_in_every_state_until_it_ends() -> None:
    p = provisioner()
    await rails(p, max_vcpus=1)
    first = await running(p, await launch(p))
    await handlers.request_action(
        p.uow, p.clouds, project_id=PROJECT, instance_id=first.id, action="stop", correlation_id="c"
    )
    with pytest.raises(ProjectQuotaExceeded):
        await launch(p, "web2")

    await handlers.request_action(
        p.uow, p.clouds, project_id=PROJECT, instance_id=first.id, action="terminate", correlation_id="c"
    )
    with pytest.raises(ProjectQuotaExceeded):  # terminating is not terminated yet
        await launch(p, "web2")
    p.db.instances[first.id].record = replace(p.db.instances[first.id].record, state="terminated")

    assert (await launch(p, "web2")).state == "requested"


async def test_a_required_tag_missing_is_a_422_naming_it() -> None:
    p = provisioner()
    await rails(p, required_tags={"owner": ()})

    with pytest.raises(ValidationFailed) as refused:
        await launch(p)

    assert refused.value.extensions["errors"] == [
        {"location": "body.tags.owner", "message": "tag owner is required in this project"}
    ]
    assert p.db.instances == {}


async def test_the_dry_run_answers_the_verdict_without_refusing() -> None:
    p = provisioner()
    await rails(p, max_instances=0, approval_threshold=Decimal(10), currency="USD")

    seen = await preview.preview(p.uow, p.clouds, request(), None)

    assert seen.monthly == MONTHLY
    assert [q.quota for q in seen.guardrails.exceeded] == ["max_instances"]
    assert seen.guardrails.needs_approval and not seen.guardrails.allowed
    assert p.db.instances == {}


async def test_a_costly_launch_waits_for_approval_and_approving_it_launches_it() -> None:
    p = provisioner()
    await rails(p, approval_threshold=Decimal(10), currency="USD", max_instances=1)

    waiting = await launch(p)

    assert (waiting.state, waiting.pending_action) == ("awaiting_approval", None)
    assert p.event_types()[-2:] == ["instance.requested", "approval.requested"]
    assert (WORK_CHANNEL, "") not in p.uow.notifications
    assert await p.engine.due(INSTANCES, 10) == []
    with pytest.raises(ProjectQuotaExceeded):  # it counts while it waits
        await launch(p, "web2")
    approval = await guardrails.approval_of(p.uow, PROJECT, waiting.id)
    assert approval is not None
    assert (approval.state, approval.monthly, approval.threshold, approval.requested_by) == (
        "pending",
        MONTHLY,
        Decimal(10),
        "user:op",
    )

    approved = await guardrails.approve(
        p.uow, project_id=PROJECT, approval_id=approval.id, decided_by="user:owner", correlation_id="cid-a"
    )
    again = await guardrails.approve(
        p.uow, project_id=PROJECT, approval_id=approval.id, decided_by="user:other", correlation_id="cid-b"
    )

    assert (approved.state, approved.decided_by) == ("approved", "user:owner")
    assert again == approved
    assert p.event_types().count("approval.approved") == 1
    launched = await handlers.get(p.uow, PROJECT, waiting.id)
    assert (launched.state, launched.pending_action) == ("requested", "launch")
    assert (await running(p, launched)).state == "running"
    with pytest.raises(InvalidState):
        await guardrails.reject(
            p.uow, project_id=PROJECT, approval_id=approval.id, decided_by="u", reason="no", correlation_id="c"
        )


async def test_a_rejected_launch_ends_with_the_reason_and_no_longer_counts() -> None:
    p = provisioner()
    await rails(p, approval_threshold=Decimal(10), currency="USD", max_instances=1)
    waiting = await launch(p)
    approval = await guardrails.approval_of(p.uow, PROJECT, waiting.id)
    assert approval is not None

    rejected = await guardrails.reject(
        p.uow,
        project_id=PROJECT,
        approval_id=approval.id,
        decided_by="user:owner",
        reason="too big",
        correlation_id="c",
    )

    assert (rejected.state, rejected.reason) == ("rejected", "too big")
    ended = await handlers.get(p.uow, PROJECT, waiting.id)
    assert (ended.state, ended.reason) == ("rejected", "Not approved: too big")
    assert p.cloud.calls.count("launch_instance") == 0
    with pytest.raises(InvalidState):
        await guardrails.approve(p.uow, project_id=PROJECT, approval_id=approval.id, decided_by="u", correlation_id="c")
    with pytest.raises(NotFound):
        await guardrails.approve(p.uow, project_id="other", approval_id=approval.id, decided_by="u", correlation_id="c")
    assert (await launch(p, "smaller")).state == "awaiting_approval"


async def test_an_approval_nobody_decides_lapses_as_rejected() -> None:
    p = provisioner()
    await rails(p, approval_threshold=Decimal(10), currency="USD")
    waiting = await launch(p)
    start = waiting.created_at
    follower = ExpiryFollower(p.uow, p.clouds, approval_wait=timedelta(hours=1), clock=lambda: start)

    await follower.follow()
    assert (await handlers.get(p.uow, PROJECT, waiting.id)).state == "awaiting_approval"

    later = ExpiryFollower(
        p.uow, p.clouds, approval_wait=timedelta(hours=1), clock=lambda: start + timedelta(hours=1, seconds=1)
    )
    await later.follow()

    assert (await handlers.get(p.uow, PROJECT, waiting.id)).state == "rejected"
    found, _ = await guardrails.approvals(p.uow, ApprovalFilter(PROJECT, states=("rejected",)), PageRequest(limit=10))
    assert [(a.decided_by, a.reason) for a in found] == [(None, guardrails.LAPSED)]
    lapsed = [e for e in p.uow.events if e.type == "approval.rejected"]
    assert lapsed[0].payload["expired"] is True


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_lifetime_warns_once_per_warning_then_stops_the_instance() -> None:
    p = provisioner()
    await rails(p, max_lifetime_hours=4, expiry_warnings=[2.0, 1.0])
    record = await running(p, await launch(p))
    assert record.expires_at is not None and record.expiry_action == "stop"
    clock = Clock(record.expires_at - timedelta(hours=3))
    follower = ExpiryFollower(p.uow, p.clouds, approval_wait=timedelta(hours=72), clock=clock)

    await follower.follow()
    clock.now = record.expires_at - timedelta(minutes=90)
    await follower.follow()
    await follower.follow()
    clock.now = record.expires_at - timedelta(minutes=30)
    await follower.follow()

    warned = [e.payload for e in p.uow.events if e.type == "instance.expiry_warned"]
    assert [(w["warning_hours"], w["seconds_left"]) for w in warned] == [(2.0, 5400.0), (1.0, 1800.0)]

    clock.now = record.expires_at
    await follower.follow()
    await follower.follow()

    stopped = await handlers.get(p.uow, PROJECT, record.id)
    assert (stopped.state, stopped.pending_action, stopped.expired_at) == ("stopping", "stop", record.expires_at)
    assert p.event_types().count("instance.expired") == 1
    assert p.event_types().count("instance.action_requested") == 1


async def test_an_expiring_terminate_goes_through_the_action_path() -> None:
    p = provisioner()
    await rails(p, max_lifetime_hours=1, expiry_action="terminate")
    record = await running(p, await launch(p, lifetime_hours=0.5))
    assert record.expires_at == record.created_at + timedelta(minutes=30)

    await ExpiryFollower(
        p.uow, p.clouds, approval_wait=timedelta(hours=1), clock=lambda: record.created_at + timedelta(hours=1)
    ).follow()

    ended = await handlers.get(p.uow, PROJECT, record.id)
    assert (ended.state, ended.pending_action) == ("terminating", "terminate")


async def test_owners_extend_a_lifetime_within_the_cap_and_its_warnings_come_again() -> None:
    p = provisioner()
    await rails(p, max_lifetime_hours=10, expiry_warnings=[1.0])
    record = await launch(p, lifetime_hours=2)
    assert record.expires_at is not None
    near_end = record.expires_at - timedelta(minutes=30)
    await ExpiryFollower(p.uow, p.clouds, approval_wait=timedelta(hours=1), clock=lambda: near_end).follow()
    assert p.db.instances[record.id].record.warnings_sent == 1

    extended = await guardrails.extend(
        p.uow,
        project_id=PROJECT,
        instance_id=record.id,
        until=record.created_at + timedelta(hours=10),
        extended_by="user:owner",
        correlation_id="c",
        now=near_end,
    )

    assert (extended.expires_at, extended.warnings_sent) == (record.created_at + timedelta(hours=10), 0)
    assert p.event_types()[-1] == "instance.lifetime_extended"
    with pytest.raises(ValidationFailed):
        await guardrails.extend(
            p.uow,
            project_id=PROJECT,
            instance_id=record.id,
            until=record.created_at + timedelta(hours=10, seconds=1),
            extended_by="user:owner",
            correlation_id="c",
            now=near_end,
        )
    await rails(p)
    no_lifetime = await handlers.launch(p.uow, p.clouds, request(name="free"))
    with pytest.raises(InvalidState):
        await guardrails.extend(
            p.uow,
            project_id=PROJECT,
            instance_id=no_lifetime.id,
            until=datetime.now(UTC) + timedelta(hours=1),
            extended_by="user:owner",
            correlation_id="c",
        )
