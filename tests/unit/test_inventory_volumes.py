"""Inventory sync's comparison of the volumes a cloud lists with Clanavi's volume records: what is adopted, corrected,
marked gone, and what is left alone because Clanavi is acting on it; and that a gone volume takes no action."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.base import Volume as CloudVolume
from adapters.base import VolumeState as VS
from kernel.errors import InvalidState
from kernel.events import VolumeDiscovered, VolumeDrifted, VolumeVanished
from services.provisioner.inventory import domain as inventory
from services.provisioner.inventory.domain import Plan, Sync
from services.provisioner.inventory.rules import VolumeRules
from services.provisioner.resources import domain as resources
from services.provisioner.resources.domain import ResourceRecord

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def record(
    record_id: str,
    state: str = "available",
    *,
    provider_id: str | None = "",
    pending_action: str | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> ResourceRecord:
    return ResourceRecord(
        id=record_id,
        kind="volume",
        project_id="proj",
        cloud_id="sim",
        name=f"data-{record_id}",
        provider_id=f"vol-{record_id}" if provider_id == "" else provider_id,
        state=state,
        pending_action=pending_action,
        pending={},
        attempts=0,
        throttled=0,
        reason=None,
        attrs={"cloud_name": f"data-{record_id}", "size_gb": 10, "zone": "sim-1a", **(attrs or {})},
        correlation_id="cid",
        last_event_id="ev-0",
        pending_since=None,
        created_at=NOW,
        updated_at=NOW,
    )


def cloud(
    provider_id: str,
    state: VS = VS.AVAILABLE,
    *,
    name: str | None = None,
    instance_id: str | None = None,
    device: str | None = None,
) -> CloudVolume:
    return CloudVolume(
        id=provider_id,
        name=name if name is not None else f"disk-{provider_id}",
        size_gb=20,
        state=state,
        created_at=NOW,
        zone="sim-1b",
        instance_id=instance_id,
        device=device,
    )


def plan(
    listed: Sequence[CloudVolume],
    records: Sequence[ResourceRecord],
    *,
    stable: Collection[str] | None = None,
    instance_ids: Mapping[str, str] | None = None,
) -> Plan[ResourceRecord]:
    rules = VolumeRules(Sync("sim", "proj", "run-1", "sync-cid", NOW), instance_ids=instance_ids or {})
    return inventory.plan(rules, listed, records, stable={r.id for r in records} if stable is None else stable)


def counts(found: Plan[ResourceRecord]) -> list[int]:
    return [len(found.adopt), len(found.drift), len(found.vanish), found.unchanged, found.skipped]


def test_a_volume_unknown_to_clanavi_is_adopted_as_discovered_with_its_attachment() -> None:
    found = plan(
        [cloud("vol-new", VS.IN_USE, instance_id="sim-i-1", device="/dev/vdb")],
        [],
        instance_ids={"sim-i-1": "inst-1"},
    )

    assert counts(found) == [1, 0, 0, 0, 0]
    change = found.adopt[0]
    adopted = change.after
    assert change.before is None
    assert adopted.discovered and adopted.kind == "volume" and adopted.pending_action is None
    assert (adopted.project_id, adopted.cloud_id, adopted.provider_id) == ("proj", "sim", "vol-new")
    assert (adopted.name, adopted.state) == ("disk-vol-new", "in-use")
    assert adopted.attrs == {
        "cloud_name": "disk-vol-new",
        "size_gb": 20,
        "zone": "sim-1b",
        "instance_id": "inst-1",
        "device": "/dev/vdb",
    }
    assert adopted.correlation_id == "sync-cid" and adopted.created_at == NOW
    assert change.event == VolumeDiscovered(
        volume_id=adopted.id,
        cloud_id="sim",
        provider_id="vol-new",
        sync_id="run-1",
        name="disk-vol-new",
        size_gb=20,
        state="in-use",
        zone="sim-1b",
        instance_id="inst-1",
    )


def test_an_adopted_volume_attached_to_an_instance_clanavi_does_not_know_names_no_instance() -> None:
    found = plan([cloud("vol-new", VS.IN_USE, instance_id="sim-i-unknown", device="/dev/vdb")], [])

    assert found.adopt[0].after.attrs["instance_id"] is None
    assert isinstance(found.adopt[0].event, VolumeDiscovered) and found.adopt[0].event.instance_id is None


def test_an_unnamed_volume_is_adopted_under_its_cloud_id() -> None:
    assert plan([cloud("vol-x", name="")], []).adopt[0].after.name == "vol-x"


@pytest.mark.parametrize("state", [VS.DELETING, VS.DELETED])
def test_nothing_is_adopted_that_is_ending(state: VS) -> None:
    assert plan([cloud("vol-x", state)], []).adopt == []


def test_clanavi_s_own_creation_in_flight_is_not_adopted() -> None:
    creating = record("c", "creating", provider_id=None, pending_action="create")

    found = plan([cloud("vol-c", VS.CREATING, name="data-c")], [creating])

    assert counts(found) == [0, 0, 0, 0, 1]


def test_a_state_changed_outside_clanavi_is_corrected() -> None:
    known = record("a", "available")

    found = plan(
        [cloud("vol-a", VS.IN_USE, instance_id="sim-i-1", device="/dev/vdc")],
        [known],
        instance_ids={"sim-i-1": "inst-1"},
    )

    assert counts(found) == [0, 1, 0, 0, 0]
    change = found.drift[0]
    assert change.before == known
    assert change.after.state == "in-use"
    assert (change.after.attrs["instance_id"], change.after.attrs["device"]) == ("inst-1", "/dev/vdc")
    assert change.event == VolumeDrifted(
        volume_id="a", cloud_id="sim", provider_id="vol-a", sync_id="run-1", from_state="available", to_state="in-use"
    )


def test_a_volume_detached_outside_clanavi_loses_its_instance() -> None:
    known = record("a", "in-use", attrs={"instance_id": "inst-1", "device": "/dev/vdb"})

    after = plan([cloud("vol-a", VS.AVAILABLE)], [known]).drift[0].after

    assert (after.state, after.attrs["instance_id"], after.attrs["device"]) == ("available", None, None)


def test_a_volume_in_error_in_the_cloud_gets_a_reason() -> None:
    after = plan([cloud("vol-a", VS.ERROR)], [record("a")]).drift[0].after

    assert after.state == "error" and after.reason


def test_a_known_volume_in_the_same_state_is_unchanged() -> None:
    assert counts(plan([cloud("vol-a")], [record("a")])) == [0, 0, 0, 1, 0]


def test_a_volume_no_longer_in_the_cloud_is_gone() -> None:
    known = record("a", "in-use", attrs={"instance_id": "inst-1"})

    found = plan([], [known])

    assert counts(found) == [0, 0, 1, 0, 0]
    change = found.vanish[0]
    assert change.after.state == resources.GONE == "gone"
    assert change.event == VolumeVanished(
        volume_id="a", cloud_id="sim", provider_id="vol-a", sync_id="run-1", previous_state="in-use"
    )


@pytest.mark.parametrize("state", [VS.DELETING, VS.DELETED])
def test_a_volume_deleted_outside_clanavi_is_gone(state: VS) -> None:
    found = plan([cloud("vol-a", state)], [record("a")])

    assert [c.after.state for c in found.vanish] == ["gone"]


@pytest.mark.parametrize(
    "busy",
    [
        record("a", "creating", provider_id=None, pending_action="create"),
        record("a", "creating", provider_id=None),
        record("a", "available", pending_action="attach"),
        record("a", "deleting", pending_action="delete"),
        # Transitions the worker follows with the cloud.
        record("a", "creating"),
        record("a", "detaching"),
    ],
    ids=["create-pending", "no-provider-id", "attach-pending", "delete-pending", "creating", "detaching"],
)
def test_a_volume_clanavi_is_acting_on_is_never_corrected_nor_gone(busy: ResourceRecord) -> None:
    assert plan([], [busy]).changes == 0
    assert plan([cloud("vol-a", VS.ERROR, name="data-a")], [busy]).changes == 0


def test_a_volume_changed_since_the_listing_began_is_left_for_the_next_sync() -> None:
    known = record("a")

    assert counts(plan([], [known], stable=set())) == [0, 0, 0, 0, 1]
    assert counts(plan([cloud("vol-a", VS.IN_USE)], [known], stable=set())) == [0, 0, 0, 0, 1]


@pytest.mark.parametrize("state", ["deleted", "gone"])
def test_ended_records_are_final(state: str) -> None:
    ended = record("a", state)

    assert plan([], [ended]).changes == 0
    # Still listed by the cloud (a deletion it shows a while longer): neither revived nor adopted again.
    assert counts(plan([cloud("vol-a")], [ended])) == [0, 0, 0, 1, 0]


def test_a_live_record_wins_over_an_ended_one_of_the_same_volume() -> None:
    old, live = record("old", "deleted", provider_id="vol-a"), record("a", "available")

    found = plan([cloud("vol-a", VS.IN_USE)], [old, live])

    assert [c.after.id for c in found.drift] == ["a"]


def test_a_volume_listed_twice_across_pages_is_adopted_once() -> None:
    assert len(plan([cloud("vol-x"), cloud("vol-x")], []).adopt) == 1


@pytest.mark.parametrize("action", ["attach", "detach", "delete"])
def test_every_action_on_a_gone_volume_is_refused(action: str) -> None:
    gone = record("a", "gone")

    with pytest.raises(InvalidState):
        resources.request(gone, action, {"instance_id": "inst-1"}, correlation_id="cid")
