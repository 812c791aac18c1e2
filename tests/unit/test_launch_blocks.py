"""Launch blocks over the fakes: which launches a budget's block covers, the order budget events are applied in
whatever order they arrive, and launches (by the API's use cases and by command) refused with nothing recorded."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kernel.commands import ReplaceInstance
from kernel.events import BudgetLaunchesBlocked, BudgetLaunchesUnblocked, BudgetScope, Envelope, new_event
from kernel.events.envelope import parse_payload
from services.provisioner.blocks import handlers as blocks
from services.provisioner.blocks.domain import LaunchBlock, blocking, refusal
from services.provisioner.commands.handlers import Carrier
from services.provisioner.commands.repository import CommandRecord
from services.provisioner.errors import BudgetExceeded
from services.provisioner.guardrails import handlers as guardrails
from services.provisioner.guardrails.domain import Guardrails
from services.provisioner.instances import handlers as instances
from tests.fakes.provisioner import PROJECT, FakeProvisioner, provisioner

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def block(
    kind: str = "project", *, budget: str = "b-1", blocked: bool = True, at: datetime = T0, **scope: str
) -> LaunchBlock:
    return LaunchBlock(
        project_id=PROJECT,
        budget_id=budget,
        budget_name="web spend",
        scope_kind=kind,  # type: ignore[arg-type]
        tag_key=scope.get("tag_key"),
        tag_value=scope.get("tag_value"),
        cluster_id=scope.get("cluster_id"),
        period="2026-12",
        reason="spent 120.00 of 100.00 USD",
        blocked=blocked,
        changed_at=at,
        event_id=str(uuid.uuid4()),
    )


def test_each_scope_covers_its_own_launches() -> None:
    team = block("tag", tag_key="team", tag_value="web")
    cluster = block("cluster", cluster_id="c-1")
    assert block().covers({}, None)
    assert team.covers({"team": "web", "x": "y"}, None)
    assert not team.covers({"team": "db"}, None) and not team.covers({}, "c-1")
    assert cluster.covers({}, "c-1") and not cluster.covers({"team": "web"}, "c-2") and not cluster.covers({}, None)
    any_team = block("tag", tag_key="team")
    assert any_team.covers({"team": "db"}, None) and not any_team.covers({"owner": "team"}, None)
    assert any_team.scope() == {"kind": "tag", "tag_key": "team"}
    lifted = block(blocked=False)
    assert blocking([lifted, team], tags={"team": "db"}) is None
    assert blocking([lifted, team], tags={"team": "web"}) is team


def test_the_refusal_names_the_budget_its_scope_and_how_to_lift_it() -> None:
    problem = refusal(block("tag", budget="b-9", tag_key="team", tag_value="web"))
    assert (problem.http_status, problem.code) == (409, "budget_exceeded")
    assert "'web spend' (b-9)" in problem.detail and "team=web" in problem.detail
    assert "raise the budget" in problem.detail
    assert problem.extensions["scope"] == {"kind": "tag", "tag_key": "team", "tag_value": "web"}
    assert problem.extensions["budget_id"] == "b-9" and problem.extensions["period"] == "2026-12"


def budget_event(blocked: bool, *, at: datetime, period: str = "2026-12", project: str = PROJECT) -> Envelope:
    cls = BudgetLaunchesBlocked if blocked else BudgetLaunchesUnblocked
    payload = cls(budget_id="b-1", name="web spend", scope=BudgetScope(kind="project"), period=period, reason="r")
    return new_event(payload, project_id=project, correlation_id="cid-b").model_copy(update={"occurred_at": at})


async def learn(p: FakeProvisioner, envelope: Envelope) -> bool:
    payload = parse_payload(envelope)
    assert isinstance(payload, BudgetLaunchesBlocked | BudgetLaunchesUnblocked)
    async with p.uow.transaction() as tx:
        applied = await blocks.learn(tx, envelope, payload)
    return applied


async def in_force(p: FakeProvisioner) -> list[LaunchBlock]:
    async with p.uow.reading() as repos:
        return await repos.launch_blocks.active(PROJECT)


async def test_an_older_event_never_undoes_a_newer_one() -> None:
    p = provisioner()
    blocked = budget_event(True, at=T0)
    assert await learn(p, blocked)
    # An unblock sent before the block, delivered after it: the block stays.
    assert not await learn(p, budget_event(False, at=T0 - timedelta(seconds=1)))
    # The block delivered again: nothing changes.
    assert not await learn(p, blocked)
    assert [b.budget_id for b in await in_force(p)] == ["b-1"]
    assert await learn(p, budget_event(False, at=T0 + timedelta(seconds=1)))
    assert await in_force(p) == []
    # Last month's block, late: the new month's unblock stands even were its clock behind.
    assert not await learn(p, budget_event(True, at=T0 + timedelta(hours=1), period="2026-11"))
    assert await in_force(p) == []


def a_launch(**tags: str) -> instances.LaunchRequest:
    return instances.LaunchRequest(
        project_id=PROJECT,
        cloud_id="sim",
        name="web",
        image_id="img-debian-12",
        flavor_id="sim.small",
        correlation_id="cid-1",
        tags=tags,
    )


async def test_a_blocked_launch_records_nothing_and_others_go_on() -> None:
    p = provisioner()
    p.db.launch_blocks[(PROJECT, "b-1")] = block("tag", tag_key="team", tag_value="web")
    p.db.launch_blocks[("other", "b-2")] = dataclasses.replace(block(budget="b-2"), project_id="other")
    with pytest.raises(BudgetExceeded):
        await instances.launch(p.uow, p.clouds, a_launch(team="web"))
    assert p.db.instances == {} and p.event_types() == []
    made = await instances.launch(p.uow, p.clouds, a_launch(team="db"))
    assert made.state == "requested"


async def test_a_blocked_launch_by_command_is_refused_with_the_budgets_code() -> None:
    p = provisioner()
    old = await instances.launch(p.uow, p.clouds, a_launch(team="web"))
    p.db.launch_blocks[(PROJECT, "b-1")] = block()
    replace = ReplaceInstance(instance_id=old.id, new_instance_id=str(uuid.uuid4()), requested_by="failover:pol")
    now = datetime.now(UTC)
    command = CommandRecord(
        id=str(uuid.uuid4()),
        project_id=PROJECT,
        type=replace.TYPE,
        payload=replace.model_dump(mode="json"),
        requested_by=replace.requested_by,
        correlation_id="cid-c",
        state="pending",
        makes_instance=replace.new_instance_id,
        attempts=1,
        reason=None,
        created_at=now,
        updated_at=now,
    )
    p.uow.repos.commands.rows[command.id] = command  # type: ignore[attr-defined]

    await Carrier(p.uow, p.clouds, p.ports).carry_out(command)

    [refused] = [e for e in p.uow.events if e.type == "command.refused"]
    assert (refused.payload["status"], refused.payload["code"]) == (409, "budget_exceeded")
    assert refused.payload["subject_id"] == replace.new_instance_id
    assert replace.new_instance_id not in p.db.instances


async def test_approving_a_waiting_launch_inside_a_block_is_refused_and_it_keeps_waiting() -> None:
    p = provisioner()
    rails = Guardrails(PROJECT, approval_threshold=Decimal(1), currency="USD")
    await guardrails.change(p.uow, rails, changed_by="user:owner", correlation_id="cid-r")
    waiting = await instances.launch(p.uow, p.clouds, a_launch(team="web"))
    approval = await guardrails.approval_of(p.uow, PROJECT, waiting.id)
    assert approval is not None and waiting.state == "awaiting_approval"
    p.db.launch_blocks[(PROJECT, "b-1")] = block("tag", tag_key="team", tag_value="web")

    with pytest.raises(BudgetExceeded):
        await guardrails.approve(p.uow, project_id=PROJECT, approval_id=approval.id, decided_by="u", correlation_id="c")

    still = await guardrails.approval_of(p.uow, PROJECT, waiting.id)
    assert still is not None and still.state == "pending"
    assert (await instances.get(p.uow, PROJECT, waiting.id)).state == "awaiting_approval"
