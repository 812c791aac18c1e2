"""The instance use cases on fakes: a launch is checked against the cloud and recorded for the engine; every action
is accepted or refused by the instance's state and the cloud's features; what the cloud shows of an instance (console,
metrics); another project's ids answer like unknown ones."""

from __future__ import annotations

from typing import ClassVar

import pytest

from adapters.base import Feature
from kernel.errors import InvalidState, NotFound, NotImplementedByCloud, ValidationFailed
from services.provisioner.errors import ModuleIsDisabled
from services.provisioner.instances import handlers
from services.provisioner.instances.cloud import INSTANCES, launch_spec
from services.provisioner.instances.domain import InstanceRecord, UserAction
from services.provisioner.work.engine import WORK_CHANNEL, ClaimLost, Settlement
from tests.fakes.cloud import FakeCloud
from tests.fakes.provisioner import PROJECT, FakeProvisioner, a_cloud, provisioner


def request(**fields: object) -> handlers.LaunchRequest:
    base: dict[str, object] = {
        "project_id": PROJECT,
        "cloud_id": "sim",
        "name": "web",
        "image_id": "img-debian-12",
        "flavor_id": "sim.small",
        "correlation_id": "cid-1",
    }
    return handlers.LaunchRequest(**{**base, **fields})  # type: ignore[arg-type]


async def launched(p: FakeProvisioner, **fields: object) -> InstanceRecord:
    """An instance the engine launched and the cloud runs."""
    record = await handlers.launch(p.uow, p.clouds, request(**fields))
    assert await p.engine.step(INSTANCES, record.id)
    p.cloud.finish()
    await p.engine.follow(INSTANCES)
    return await handlers.get(p.uow, PROJECT, record.id)


async def act(p: FakeProvisioner, record: InstanceRecord, action: UserAction) -> InstanceRecord:
    return await handlers.request_action(
        p.uow, p.clouds, project_id=PROJECT, instance_id=record.id, action=action, correlation_id="cid-2"
    )


async def test_a_launch_is_recorded_with_its_event_and_wakes_the_worker() -> None:
    p = provisioner()

    record = await handlers.launch(p.uow, p.clouds, request(tags={"team": "web"}, user_data="#!/bin/sh"))

    assert (record.state, record.pending_action, record.provider_id) == ("requested", "launch", None)
    assert record.launch_options == {"security_group_provider_ids": [], "user_data": "#!/bin/sh"}
    assert p.event_types() == ["instance.requested"]
    assert p.uow.events[0].payload["user_data_bytes"] == 9 and "#!/bin/sh" not in p.uow.events[0].model_dump_json()
    assert record.last_event_id == str(p.uow.events[0].id)
    assert (WORK_CHANNEL, "") in p.uow.notifications
    assert p.cloud.calls.count("launch_instance") == 0


async def test_a_launch_naming_what_the_cloud_lacks_is_refused_field_by_field() -> None:
    p = provisioner()

    with pytest.raises(ValidationFailed) as refused:
        await handlers.launch(
            p.uow,
            p.clouds,
            request(
                image_id="img-none", flavor_id="sim.huge", zone="mars-1", key_name="nokey", security_group_ids=["g"]
            ),
        )

    locations = [e["location"] for e in refused.value.extensions["errors"]]
    assert locations == [
        "body.image_id",
        "body.flavor_id",
        "body.zone",
        "body.key_name",
        "body.security_group_ids.0",
    ]
    assert p.uow.committed == 0


async def test_another_project_s_cloud_is_as_unknown_as_none() -> None:
    p = provisioner()
    p.db.clouds["theirs"] = a_cloud("theirs", project_id="other", name="Theirs")

    for cloud_id in ("theirs", "nowhere"):
        with pytest.raises(ValidationFailed) as refused:
            await handlers.launch(p.uow, p.clouds, request(cloud_id=cloud_id))
        assert refused.value.extensions["errors"] == [{"location": "body.cloud_id", "message": "unknown cloud"}]


class NoUserData(FakeCloud):
    features: ClassVar[frozenset[Feature]] = frozenset(Feature) - {Feature.USER_DATA, Feature.INSTANCE_SUSPEND}


async def test_what_the_cloud_does_not_support_is_refused_with_501_before_anything_is_recorded() -> None:
    p = provisioner(NoUserData())

    with pytest.raises(NotImplementedByCloud):
        await handlers.launch(p.uow, p.clouds, request(user_data="#!/bin/sh"))
    record = await launched(p)
    with pytest.raises(NotImplementedByCloud):
        await act(p, record, "suspend")
    assert p.event_types() == ["instance.requested", "instance.launched", "instance.running"]


async def test_a_disabled_module_refuses_launches_and_actions() -> None:
    p = provisioner()
    record = await launched(p)
    p.clouds.set_module("simcloud", enabled=False)

    with pytest.raises(ModuleIsDisabled):
        await handlers.launch(p.uow, p.clouds, request())
    with pytest.raises(ModuleIsDisabled):
        await act(p, record, "stop")


@pytest.mark.parametrize(
    ("action", "showing", "cloud_call", "then", "event"),
    [
        ("stop", "stopping", "stop_instance", "stopped", "instance.stopped"),
        ("reboot", "rebooting", "reboot_instance", "running", "instance.rebooted"),
        ("suspend", "suspending", "suspend_instance", "suspended", "instance.suspended"),
        ("terminate", "terminating", "terminate_instance", "terminated", "instance.terminated"),
    ],
)
async def test_each_action_is_recorded_carried_out_by_the_engine_and_followed(
    action: UserAction, showing: str, cloud_call: str, then: str, event: str
) -> None:
    p = provisioner()
    record = await launched(p)

    asked = await act(p, record, action)
    assert (asked.state, asked.pending_action, asked.correlation_id) == (showing, action, "cid-2")
    assert await p.engine.step(INSTANCES, record.id)
    p.cloud.finish()
    await p.engine.follow(INSTANCES)

    after = await handlers.get(p.uow, PROJECT, record.id)
    assert (after.state, after.pending_action) == (then, None)
    assert p.cloud.calls.count(cloud_call) == 1
    assert p.event_types()[-2:] == ["instance.action_requested", event]


async def test_start_and_resume_bring_an_instance_back() -> None:
    p = provisioner()
    record = await launched(p)
    pairs: tuple[tuple[UserAction, UserAction, str], ...] = (
        ("stop", "start", "stopped"),
        ("suspend", "resume", "suspended"),
    )
    for away, back, state in pairs:
        await act(p, record, away)
        await p.engine.step(INSTANCES, record.id)
        p.cloud.finish()
        await p.engine.follow(INSTANCES)
        assert (await handlers.get(p.uow, PROJECT, record.id)).state == state
        await act(p, record, back)
        await p.engine.step(INSTANCES, record.id)
        p.cloud.finish()
        await p.engine.follow(INSTANCES)
        assert (await handlers.get(p.uow, PROJECT, record.id)).state == "running"


async def test_an_action_the_state_forbids_is_refused_and_terminate_is_harmless_to_repeat() -> None:
    p = provisioner()
    record = await launched(p)

    with pytest.raises(InvalidState):
        await act(p, record, "start")
    first = await act(p, record, "terminate")
    again = await act(p, first, "terminate")
    assert again == first
    assert p.event_types().count("instance.action_requested") == 1


async def test_terminating_a_launch_the_cloud_never_saw_withdraws_it() -> None:
    p = provisioner()
    record = await handlers.launch(p.uow, p.clouds, request())

    withdrawn = await act(p, record, "terminate")

    assert (withdrawn.state, withdrawn.pending_action) == ("terminated", None)
    assert p.event_types() == ["instance.requested", "instance.action_requested", "instance.terminated"]
    assert not await p.engine.step(INSTANCES, record.id)
    assert "launch_instance" not in p.cloud.calls


async def test_terminating_a_launch_in_flight_terminates_what_it_made_once() -> None:
    p = provisioner()
    record = await handlers.launch(p.uow, p.clouds, request())
    # A worker has claimed the launch and is calling the cloud.
    token = p.engine.new_claim()
    async with p.uow.transaction() as tx:
        claimed = await tx.repos.instances.claim(record.id, token, 30.0)
    assert claimed is not None and claimed.in_flight
    made = await p.cloud.launch_instance(launch_spec(claimed))

    asked = await act(p, record, "terminate")
    assert (asked.state, asked.pending_action) == ("terminating", "terminate")
    # The launch's answer comes back after the user's request: it is dropped.
    with pytest.raises(ClaimLost):
        await p.engine.settle(INSTANCES, record.id, token, Settlement(claimed))
    assert await p.engine.step(INSTANCES, record.id)

    after = await handlers.get(p.uow, PROJECT, record.id)
    assert after.provider_id == made.id and after.state == "terminating"
    assert len(p.cloud.instances) == 1
    p.cloud.finish()
    await p.engine.follow(INSTANCES)
    assert (await handlers.get(p.uow, PROJECT, record.id)).state == "terminated"
    assert p.event_types() == [
        "instance.requested",
        "instance.action_requested",
        "instance.launched",
        "instance.terminated",
    ]
    assert p.cloud.calls.count("terminate_instance") == 1


async def test_another_project_s_instance_answers_like_an_unknown_one() -> None:
    p = provisioner()
    record = await launched(p)

    for project in ("other",):
        with pytest.raises(NotFound):
            await handlers.get(p.uow, project, record.id)
        with pytest.raises(NotFound):
            await handlers.request_action(
                p.uow, p.clouds, project_id=project, instance_id=record.id, action="stop", correlation_id="c"
            )
    with pytest.raises(NotFound):
        await handlers.get(p.uow, PROJECT, "not-a-uuid")


async def test_console_and_metrics_come_from_the_cloud_and_need_the_instance_there() -> None:
    p = provisioner()
    record = await launched(p)

    text = await handlers.console_output(p.uow, p.clouds, project_id=PROJECT, instance_id=record.id)
    since, samples = await handlers.metrics(p.uow, p.clouds, project_id=PROJECT, instance_id=record.id, since=None)

    assert text == "web login:"
    assert [s.name for s in samples] == ["cpu_utilization", "network_in_bytes"]
    pending = await handlers.launch(p.uow, p.clouds, request(name="later"))
    with pytest.raises(InvalidState):
        await handlers.console_output(p.uow, p.clouds, project_id=PROJECT, instance_id=pending.id)
