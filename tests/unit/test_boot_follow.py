"""The boot follower on fakes: it reads a booting instance's console once per interval (never more; the first time once
the instance runs, or an interval after the launch while it is pending), keeps what it shows with its events, stops
once the boot is over, and gives up (unknown) when the instance ends or the bound passes; a console it cannot read
leaves the section as it was."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

from adapters.base import CloudUnavailable
from services.provisioner.boot import domain
from services.provisioner.boot.follow import BootFollower
from services.provisioner.instances import handlers
from services.provisioner.instances.cloud import INSTANCES
from services.provisioner.instances.domain import InstanceRecord
from tests.fakes.cloud import FakeCloud
from tests.fakes.provisioner import PROJECT, FakeProvisioner, provisioner
from tests.unit.test_boot_progress import EARLY, FINAL, FINISHED, MODULE_FAILED, exited, started

A, B = "01-s1-v1", "02-s2-v3"


class ConsoleCloud(FakeCloud):
    """A cloud whose consoles show what the test writes."""

    def __init__(self) -> None:
        super().__init__()
        self.console = ""
        self.unreadable = False

    async def console_output(self, instance_id: str) -> str:
        self._called("console_output")
        if self.unreadable:
            raise CloudUnavailable("sim console_output: timed out")
        return self.console


async def booting(p: FakeProvisioner, *, running: bool = True) -> InstanceRecord:
    """An instance launched from a template with two shell boot scripts, running in its cloud (or still pending)."""
    record = await handlers.launch(
        p.uow,
        p.clouds,
        handlers.LaunchRequest(PROJECT, "sim", "web", "img-debian-12", "sim.small", correlation_id="cid-1"),
    )
    assert await p.engine.step(INSTANCES, record.id)
    if running:
        await runs(p)
    section = domain.initial([("s1", 1, A, "shell"), ("s2", 3, B, "shell")])
    row = p.db.instances[record.id]
    # Asked for at the test clock's time, from which the follower counts its first reading.
    launched = datetime.fromtimestamp(p.db.clock.now, UTC)
    row.record = replace(row.record, boot=section.stored(), template_id="t-1", template_version=2, created_at=launched)
    return row.record


async def runs(p: FakeProvisioner) -> None:
    p.cloud.finish()
    await p.engine.follow(INSTANCES)


def world() -> tuple[FakeProvisioner, ConsoleCloud, BootFollower]:
    cloud = ConsoleCloud()
    p = provisioner(cloud)
    p.db.clock.now = time.time()
    follower = BootFollower(
        p.uow, p.clouds, read_every=5, bound=60, clock=lambda: datetime.fromtimestamp(p.db.clock.now, UTC)
    )
    return p, cloud, follower


async def boot_of(p: FakeProvisioner, record: InstanceRecord) -> domain.BootSection:
    found = await handlers.get(p.uow, PROJECT, record.id)
    assert found.boot is not None
    return domain.section_of(found.boot)


async def test_the_console_is_read_once_per_interval_until_the_boot_is_over() -> None:
    p, cloud, follower = world()
    record = await booting(p, running=False)
    cloud.console = EARLY + FINAL + started(A, 10.1)

    # While the instance is pending, the first reading comes an interval after the launch was asked for.
    assert await follower.follow() == 0 and "console_output" not in cloud.calls
    p.db.clock.advance(5)
    assert await follower.follow() == 1
    assert [s.state for s in (await boot_of(p, record)).scripts] == ["running", "pending"]
    reads = cloud.calls.count("console_output")
    assert await follower.follow() == 0 and cloud.calls.count("console_output") == reads

    cloud.console += exited(A, 0, 11) + started(B, 11.1) + exited(B, 5, 12) + MODULE_FAILED + FINISHED
    p.db.clock.advance(5)
    assert await follower.follow() == 1
    boot = await boot_of(p, record)
    assert boot.state == "failed" and [(s.state, s.exit_code) for s in boot.scripts] == [
        ("succeeded", None),
        ("failed", 5),
    ]
    assert p.event_types()[-2:] == ["instance.boot_script_failed", "instance.boot_completed"]

    p.db.clock.advance(3600)
    assert await follower.follow() == 0


async def test_the_first_reading_comes_once_the_instance_runs_then_once_per_interval() -> None:
    p, cloud, follower = world()
    record = await booting(p, running=False)
    cloud.console = EARLY + FINAL + started(A, 10.1)
    assert await follower.follow() == 0

    await runs(p)
    assert await follower.follow() == 1
    assert [s.state for s in (await boot_of(p, record)).scripts] == ["running", "pending"]
    assert await follower.follow() == 0 and cloud.calls.count("console_output") == 1

    cloud.console += exited(A, 0, 11) + started(B, 11.1) + exited(B, 0, 12) + FINISHED
    p.db.clock.advance(4)
    assert await follower.follow() == 0
    p.db.clock.advance(1)
    assert await follower.follow() == 1
    assert (await boot_of(p, record)).state == "succeeded"


async def test_an_unreadable_console_changes_nothing_and_the_bound_gives_up() -> None:
    p, cloud, follower = world()
    record = await booting(p)
    cloud.unreadable = True

    p.db.clock.advance(5)
    await follower.follow()
    assert (await boot_of(p, record)).state == "pending"
    assert "instance.boot_completed" not in p.event_types()

    p.db.clock.advance(61)
    record = replace(record, created_at=datetime.fromtimestamp(p.db.clock.now - 61, UTC))
    row = p.db.instances[record.id]
    row.record = replace(row.record, created_at=record.created_at)
    await follower.follow()
    boot = await boot_of(p, record)
    assert boot.state == "unknown" and [s.state for s in boot.scripts] == ["pending", "pending"]
    assert p.event_types()[-1] == "instance.boot_completed"


async def test_an_instance_that_ends_mid_boot_leaves_its_boot_unknown() -> None:
    p, cloud, follower = world()
    record = await booting(p)
    cloud.console = EARLY + FINAL + started(A, 10.1)
    p.db.clock.advance(5)
    await follower.follow()
    await handlers.request_action(
        p.uow, p.clouds, project_id=PROJECT, instance_id=record.id, action="terminate", correlation_id="cid-2"
    )
    assert await p.engine.step(INSTANCES, record.id)

    p.db.clock.advance(5)
    await follower.follow()

    boot = await boot_of(p, record)
    # What the follower had found stays; nothing more is read.
    assert boot.state == "unknown" and [s.state for s in boot.scripts] == ["running", "pending"]
    assert cloud.calls.count("console_output") == 1


async def test_a_pass_keeps_every_due_boot_in_one_transaction_each_with_its_own_events() -> None:
    p, cloud, follower = world()
    records = [await booting(p) for _ in range(3)]
    cloud.console = EARLY + FINAL + started(A, 10.1) + exited(A, 0, 11) + started(B, 11.1) + exited(B, 0, 12)
    cloud.console += FINISHED
    p.db.clock.advance(5)
    committed = p.uow.committed

    assert await follower.follow() == 3
    assert p.uow.committed == committed + 1
    completed = [e for e in p.uow.events if e.type == "instance.boot_completed"]
    assert sorted(str(e.payload["instance_id"]) for e in completed) == sorted(r.id for r in records)
    for record in records:
        saved = p.db.instances[record.id].record
        assert (await boot_of(p, record)).state == "succeeded"
        # Each instance's event follows that instance's own last event, and becomes it.
        (event,) = [e for e in completed if str(e.payload["instance_id"]) == record.id]
        assert event.causation_id == record.last_event_id and saved.last_event_id == str(event.id)
    assert await follower.follow() == 0
