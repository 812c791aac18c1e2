"""Inventory sync's comparison of what a cloud lists with Clanavi's records: what is adopted, corrected, marked gone,
and what is left alone because Clanavi is acting on it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from adapters.base import Instance as CloudInstance
from adapters.base import InstanceState as S
from kernel.errors import InvalidState
from kernel.events import InstanceDiscovered, InstanceDrifted, InstanceVanished
from services.provisioner.instances import domain
from services.provisioner.instances.domain import INSTANCE_TAG, Action, InstanceRecord
from services.provisioner.inventory import domain as inventory
from services.provisioner.inventory.domain import Plan, Sync
from services.provisioner.inventory.rules import InstanceRules

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def record(
    record_id: str,
    state: str = "running",
    *,
    provider_id: str | None = None,
    pending_action: Action | None = None,
    last_event_id: str | None = "ev-0",
) -> InstanceRecord:
    return InstanceRecord(
        id=record_id,
        project_id="proj",
        cloud_id="sim",
        name=f"web-{record_id}",
        image_id="img-debian-12",
        flavor_id="sim.small",
        provider_id=provider_id if provider_id is not None else f"sim-{record_id}",
        state=state,
        pending_action=pending_action,
        attempts=0,
        reason=None,
        private_ips=("10.0.0.1",),
        correlation_id="cid",
        last_event_id=last_event_id,
        created_at=NOW,
        updated_at=NOW,
    )


def cloud(
    provider_id: str,
    state: S = S.RUNNING,
    *,
    tags: Mapping[str, str] | None = None,
    reason: str | None = None,
    groups: tuple[str, ...] = (),
) -> CloudInstance:
    return CloudInstance(
        id=provider_id,
        name=f"vm-{provider_id}",
        state=state,
        image_id="img-ubuntu-24.04",
        flavor_id="sim.medium",
        created_at=NOW,
        private_ips=("10.1.2.3",),
        public_ips=("203.0.113.9",),
        zone="sim-1b",
        key_name="ops",
        security_group_ids=groups,
        tags=tags or {},
        reason=reason,
    )


def plan(
    listed: Sequence[CloudInstance],
    records: Sequence[InstanceRecord],
    *,
    stable: Collection[str] | None = None,
    group_ids: Mapping[str, str] | None = None,
) -> Plan[InstanceRecord]:
    rules = InstanceRules(Sync("sim", "proj", "run-1", "sync-cid", NOW), group_ids=group_ids or {})
    return inventory.plan(rules, listed, records, stable={r.id for r in records} if stable is None else stable)


def test_an_instance_unknown_to_clanavi_is_adopted_as_discovered() -> None:
    found = plan([cloud("sim-new", tags={"team": "web"}, groups=("sg-1", "sg-unknown"))], [], group_ids={"sg-1": "g1"})

    assert [len(found.adopt), len(found.drift), len(found.vanish)] == [1, 0, 0]
    change = found.adopt[0]
    adopted = change.after
    assert change.before is None
    assert adopted.discovered and adopted.pending_action is None
    assert (adopted.project_id, adopted.cloud_id, adopted.provider_id) == ("proj", "sim", "sim-new")
    assert (adopted.name, adopted.image_id, adopted.flavor_id, adopted.state) == (
        "vm-sim-new",
        "img-ubuntu-24.04",
        "sim.medium",
        "running",
    )
    assert adopted.private_ips == ("10.1.2.3", "203.0.113.9")
    assert (adopted.zone, adopted.key_name, adopted.tags) == ("sim-1b", "ops", {"team": "web"})
    # Only groups Clanavi knows, by their Clanavi ids.
    assert adopted.security_group_ids == ("g1",)
    assert adopted.correlation_id == "sync-cid" and adopted.created_at == NOW
    assert change.event == InstanceDiscovered(
        instance_id=adopted.id,
        cloud_id="sim",
        provider_id="sim-new",
        sync_id="run-1",
        name="vm-sim-new",
        image_id="img-ubuntu-24.04",
        flavor_id="sim.medium",
        state="running",
        zone="sim-1b",
        tags={"team": "web"},
    )


def test_adopted_instances_get_distinct_ids_and_booting_ones_keep_their_state() -> None:
    found = plan([cloud("sim-a", S.PENDING), cloud("sim-b", S.STOPPED)], [])

    assert [c.after.state for c in found.adopt] == ["pending", "stopped"]
    assert len({c.after.id for c in found.adopt}) == 2


@pytest.mark.parametrize("state", [S.TERMINATED, S.TERMINATING, S.UNKNOWN])
def test_nothing_is_adopted_that_is_ending_or_unknown(state: S) -> None:
    assert plan([cloud("sim-x", state)], []).adopt == []


def test_clanavi_s_own_launch_not_yet_recorded_is_not_adopted() -> None:
    launching = record("r1", "requested", pending_action="launch")
    launching = replace(launching, provider_id=None)

    found = plan([cloud("sim-fresh", tags={INSTANCE_TAG: "r1"})], [launching])

    assert found.adopt == [] and found.vanish == [] and found.skipped == 1


def test_an_instance_tagged_by_another_clanavi_is_adopted_without_the_reserved_tag() -> None:
    found = plan([cloud("sim-x", tags={INSTANCE_TAG: "not-ours", "env": "prod"})], [])

    assert [c.after.tags for c in found.adopt] == [{"env": "prod"}]


def test_a_state_changed_outside_clanavi_is_corrected() -> None:
    known = record("r1", "running")

    found = plan([cloud("sim-r1", S.STOPPED)], [known])

    assert [len(found.adopt), len(found.drift), len(found.vanish), found.unchanged] == [0, 1, 0, 0]
    change = found.drift[0]
    assert change.before == known
    assert change.after == replace(known, state="stopped")
    assert change.event == InstanceDrifted(
        instance_id="r1",
        cloud_id="sim",
        provider_id="sim-r1",
        sync_id="run-1",
        from_state="running",
        to_state="stopped",
    )


def test_a_cloud_error_carries_its_reason() -> None:
    found = plan([cloud("sim-r1", S.ERROR, reason="host failed")], [record("r1", "running")])

    assert [(c.after.state, c.after.reason) for c in found.drift] == [("error", "host failed")]


def test_the_same_state_is_unchanged() -> None:
    found = plan([cloud("sim-r1", S.RUNNING), cloud("sim-r2", S.STOPPED)], [record("r1"), record("r2", "stopped")])

    assert found.changes == 0 and found.unchanged == 2


@pytest.mark.parametrize(
    ("state", "pending"),
    [
        ("stopping", "stop"),  # an action of Clanavi's waiting for or in its cloud call
        ("stopping", None),  # a transition the worker follows
        ("pending", None),
        ("suspending", None),
        ("terminating", "terminate"),
        ("terminating", None),
    ],
)
def test_a_record_clanavi_is_acting_on_is_left_alone(state: str, pending: Action | None) -> None:
    busy = record("r1", state, pending_action=pending)

    listed_otherwise = plan([cloud("sim-r1", S.RUNNING)], [busy])
    missing = plan([], [busy])

    assert listed_otherwise.changes == 0 and listed_otherwise.skipped == 1
    assert missing.changes == 0 and missing.skipped == 1


def test_a_record_changed_since_the_listing_began_is_left_alone() -> None:
    moved = record("r1", "stopped")

    assert plan([cloud("sim-r1", S.RUNNING)], [moved], stable=set()).changes == 0
    # A record created (and launched) while the cloud was being listed: the listing may predate it.
    assert plan([], [moved], stable=set()).vanish == []


def test_an_instance_gone_from_the_cloud_is_marked_gone() -> None:
    known = record("r1", "stopped", last_event_id="ev-9")

    found = plan([], [known])

    assert [len(found.adopt), len(found.drift), len(found.vanish)] == [0, 0, 1]
    change = found.vanish[0]
    assert change.after == replace(known, state="gone")
    assert change.event == InstanceVanished(
        instance_id="r1", cloud_id="sim", provider_id="sim-r1", sync_id="run-1", previous_state="stopped"
    )


@pytest.mark.parametrize("state", [S.TERMINATED, S.TERMINATING])
def test_an_instance_terminated_outside_clanavi_is_gone(state: S) -> None:
    found = plan([cloud("sim-r1", state)], [record("r1", "running")])

    assert [c.after.state for c in found.vanish] == ["gone"] and found.drift == []


def test_a_record_never_launched_is_never_marked_gone() -> None:
    failed_launch = replace(record("r1", "error"), provider_id=None)

    assert plan([], [failed_launch]).changes == 0


@pytest.mark.parametrize("state", ["terminated", "gone"])
def test_ended_records_stay_as_they_are(state: str) -> None:
    ended = record("r1", state)

    assert plan([cloud("sim-r1", S.TERMINATED)], [ended]).changes == 0
    assert plan([cloud("sim-r1", S.RUNNING)], [ended]).changes == 0
    assert plan([], [ended]).changes == 0


def test_a_listing_that_repeats_an_item_counts_it_once() -> None:
    found = plan([cloud("sim-new"), cloud("sim-new"), cloud("sim-r1")], [record("r1")])

    assert len(found.adopt) == 1 and found.unchanged == 1


def test_a_mixed_account() -> None:
    records = [
        record("same"),
        record("drift", "stopped"),
        record("lost"),
        record("done", "terminated"),
        record("busy", "stopping", pending_action="stop"),
    ]
    listed = [cloud("sim-same"), cloud("sim-drift"), cloud("sim-done", S.TERMINATED), cloud("sim-busy"), cloud("x")]

    found = plan(listed, records)

    assert [c.after.provider_id for c in found.adopt] == ["x"]
    assert [(c.after.id, c.after.state) for c in found.drift] == [("drift", "running")]
    assert [(c.after.id, c.after.state) for c in found.vanish] == [("lost", "gone")]
    assert (found.unchanged, found.skipped) == (2, 1)


# --- the gone state -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["start", "stop", "reboot", "suspend", "resume"])
def test_actions_on_a_gone_instance_are_refused(action: domain.UserAction) -> None:
    with pytest.raises(InvalidState):
        domain.request_action(record("r1", "gone"), action)


def test_terminating_a_gone_instance_is_harmless() -> None:
    gone = record("r1", "gone")

    assert domain.request_action(gone, "terminate") is gone
