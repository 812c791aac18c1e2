"""The lifecycle rules of key pairs, security groups, volumes, snapshots, addresses and images: which requests are
accepted, what a cloud's answer does to a record, and which events each change yields."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.base import (
    Address,
    Image,
    ImageState,
    KeyPair,
    SecurityGroup,
    SecurityRule,
    Snapshot,
    SnapshotState,
    Volume,
    VolumeState,
)
from kernel.errors import InvalidState, ValidationFailed
from kernel.events import (
    AddressAllocated,
    AddressAssociated,
    AddressDisassociated,
    AddressReleased,
    ImageAvailable,
    ImageCreated,
    ImageDeregistered,
    ImageFailed,
    KeyPairCreated,
    KeyPairDeleted,
    SecurityGroupCreated,
    SecurityGroupRuleAuthorized,
    SecurityGroupRuleRevoked,
    SecurityRuleFact,
    SnapshotAvailable,
    SnapshotCreated,
    VolumeAttached,
    VolumeAvailable,
    VolumeCreated,
    VolumeDeleted,
    VolumeDetached,
    VolumeFailed,
)
from services.provisioner.resources import domain as resources
from services.provisioner.resources import security_rules, transitions
from services.provisioner.resources.domain import Kind, ResourceRecord

NOW = datetime(2025, 1, 1, tzinfo=UTC)
RID = "0b5c1c7e-5a8f-4c39-9d0e-2f4b8e1a7c11"
SSH = SecurityRule(direction="ingress", protocol="tcp", from_port=22, to_port=22, cidr="0.0.0.0/0")


def new(
    kind: Kind, *, attrs: dict[str, Any] | None = None, pending: dict[str, Any] | None = None, **kw: Any
) -> ResourceRecord:
    return resources.new_record(
        kind,
        id=RID,
        project_id="proj",
        cloud_id="sim",
        name="thing",
        attrs=attrs or {},
        pending=pending or {},
        correlation_id="cid-1",
        now=NOW,
        **kw,
    )


def existing(kind: Kind, state: str, *, provider_id: str = "p-1", **attrs: Any) -> ResourceRecord:
    record = new(kind, attrs=attrs)
    return replace(record, provider_id=provider_id, state=state, pending_action=None, pending={}, pending_since=None)


def volume(state: VolumeState, *, instance_id: str | None = None, device: str | None = None) -> Volume:
    return Volume(
        id="p-1",
        name="thing",
        size_gb=2,
        state=state,
        created_at=NOW,
        zone="z-a",
        instance_id=instance_id,
        device=device,
    )


# --- names and requests ----------------------------------------------------------------------------------------


def test_a_new_record_shows_its_creation_pending_with_the_name_it_gets_in_the_cloud() -> None:
    record = new("volume")

    assert (record.state, record.pending_action, record.provider_id) == ("creating", "create", None)
    assert record.attrs["cloud_name"] == "thing-0b5c1c7e"
    assert new("key_pair").attrs["cloud_name"] == "thing"
    assert new("security_group").attrs["cloud_name"] == "thing"
    assert (new("address").state, new("address").pending_action) == ("allocating", "allocate")
    assert new("key_pair", action="import").pending_action == "import"


@pytest.mark.parametrize(
    ("kind", "state", "action", "showing"),
    [
        ("volume", "available", "attach", "attaching"),
        ("volume", "in-use", "detach", "detaching"),
        ("volume", "available", "delete", "deleting"),
        ("volume", "error", "delete", "deleting"),
        ("security_group", "available", "authorize", "updating"),
        ("security_group", "available", "revoke", "updating"),
        ("address", "available", "associate", "associating"),
        ("address", "associated", "disassociate", "disassociating"),
        ("address", "available", "release", "releasing"),
        ("image", "available", "deregister", "deregistering"),
        ("snapshot", "available", "delete", "deleting"),
        ("key_pair", "available", "delete", "deleting"),
    ],
)
def test_an_allowed_request_becomes_pending_and_remembers_the_state_before(
    kind: Kind, state: str, action: str, showing: str
) -> None:
    before = replace(existing(kind, state), attempts=3, reason="earlier")

    after = resources.request(before, action, {"x": 1}, correlation_id="cid-2")

    assert (after.state, after.pending_action, after.attempts, after.reason) == (showing, action, 0, None)
    assert after.pending == {"x": 1, "previous_state": state}
    assert after.correlation_id == "cid-2"


@pytest.mark.parametrize(
    ("kind", "state", "action"),
    [
        ("volume", "in-use", "delete"),
        ("volume", "in-use", "attach"),
        ("volume", "available", "detach"),
        ("volume", "creating", "attach"),
        ("address", "associated", "release"),
        ("address", "associated", "associate"),
        ("address", "available", "disassociate"),
        ("image", "pending", "deregister"),
        ("security_group", "deleted", "authorize"),
    ],
)
def test_a_request_the_state_forbids_is_refused(kind: Kind, state: str, action: str) -> None:
    with pytest.raises(InvalidState) as caught:
        resources.request(existing(kind, state), action, {}, correlation_id="c")

    assert caught.value.http_status == 409
    assert caught.value.extensions == {"state": state}


def test_a_pending_action_blocks_another() -> None:
    busy = replace(existing("volume", "attaching"), pending_action="attach")

    with pytest.raises(InvalidState, match="an attach is in progress"):
        resources.request(busy, "detach", {}, correlation_id="c")


@pytest.mark.parametrize(("kind", "gone"), [("volume", "deleted"), ("address", "released"), ("image", "deregistered")])
def test_removing_what_is_gone_or_going_changes_nothing(kind: Kind, gone: str) -> None:
    remove = resources.RULES[kind].remove
    done = existing(kind, gone)
    going = replace(existing(kind, "x"), pending_action=remove)

    assert resources.request(done, remove, {}, correlation_id="c") is done
    assert resources.request(going, remove, {}, correlation_id="c") is going


def test_removing_a_resource_whose_creation_failed_needs_no_cloud() -> None:
    broken = replace(new("volume"), state="error", pending_action=None, reason="quota")

    assert not resources.needs_cloud(broken)
    after, events = resources.withdrawn(broken)

    assert after.state == "deleted"
    assert events == [VolumeDeleted(volume_id=RID, cloud_id="sim", provider_id=None)]


# --- applying the cloud's answers ------------------------------------------------------------------------------


def test_a_key_pair_made_by_the_cloud_is_announced_without_its_private_key() -> None:
    after, events = transitions.applied(
        new("key_pair"), KeyPair(name="thing", fingerprint="ab:cd", private_key="SECRET"), now=NOW
    )

    assert (after.state, after.provider_id, after.attrs["fingerprint"]) == ("available", "thing", "ab:cd")
    assert events == [
        KeyPairCreated(key_pair_id=RID, cloud_id="sim", name="thing", fingerprint="ab:cd", imported=False)
    ]
    assert "SECRET" not in repr(after) + repr(events)


def test_key_pair_deletion_and_import() -> None:
    imported, events = transitions.applied(
        new("key_pair", action="import"), KeyPair(name="thing", fingerprint="f"), now=NOW
    )
    assert events[0] == KeyPairCreated(key_pair_id=RID, cloud_id="sim", name="thing", fingerprint="f", imported=True)

    deleting = resources.request(imported, "delete", {}, correlation_id="c")
    after, events = transitions.applied(deleting, None, now=NOW)
    assert after.state == "deleted" and after.pending_action is None
    assert events == [KeyPairDeleted(key_pair_id=RID, cloud_id="sim", name="thing")]


def test_security_group_creation_and_rules() -> None:
    created, events = transitions.applied(
        new("security_group", attrs={"description": "web"}),
        SecurityGroup(id="sg-1", name="thing", description="web"),
        now=NOW,
    )
    assert (created.state, created.provider_id, created.attrs["rules"]) == ("available", "sg-1", [])
    assert events == [
        SecurityGroupCreated(security_group_id=RID, cloud_id="sim", provider_id="sg-1", name="thing", description="web")
    ]

    rule = security_rules.rule_to_dict(SSH)
    authorizing = resources.request(created, "authorize", {"rule": rule}, correlation_id="c")
    granted, events = transitions.applied(
        authorizing, SecurityGroup(id="sg-1", name="t", description="", rules=(SSH,)), now=NOW
    )
    fact = SecurityRuleFact(direction="ingress", protocol="tcp", from_port=22, to_port=22, cidr="0.0.0.0/0")
    assert granted.attrs["rules"] == [rule] and granted.state == "available"
    assert events == [
        SecurityGroupRuleAuthorized(
            security_group_id=RID, cloud_id="sim", provider_id="sg-1", rule_id=rule["id"], rule=fact
        )
    ]
    assert security_rules.find_rule(granted, rule["id"]) == SSH

    revoking = resources.request(granted, "revoke", {"rule": rule}, correlation_id="c")
    after, events = transitions.applied(revoking, SecurityGroup(id="sg-1", name="t", description=""), now=NOW)
    assert after.attrs["rules"] == [] and security_rules.find_rule(after, rule["id"]) is None
    assert events == [
        SecurityGroupRuleRevoked(
            security_group_id=RID, cloud_id="sim", provider_id="sg-1", rule_id=rule["id"], rule=fact
        )
    ]


def test_rule_ids_depend_on_the_rule_only() -> None:
    same = SecurityRule(direction="ingress", protocol="tcp", from_port=22, to_port=22, cidr="0.0.0.0/0")
    other = SecurityRule(direction="ingress", protocol="tcp", from_port=22, to_port=22, cidr="10.0.0.0/8")

    assert security_rules.rule_id(SSH) == security_rules.rule_id(same) != security_rules.rule_id(other)
    assert security_rules.rule_id(SSH).startswith("rule-")


@pytest.mark.parametrize(
    ("rule", "location"),
    [
        (SecurityRule("ingress", "tcp", 22, 22, "300.0.0.0/8"), "body.cidr"),
        (SecurityRule("ingress", "tcp", None, None, "0.0.0.0/0"), "body.from_port"),
        (SecurityRule("ingress", "udp", 90, 80, "0.0.0.0/0"), "body.to_port"),
        (SecurityRule("ingress", "icmp", 1, 1, "0.0.0.0/0"), "body.from_port"),
    ],
)
def test_bad_rules_name_the_field(rule: SecurityRule, location: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        security_rules.check_rule(rule)

    assert caught.value.extensions["errors"][0]["location"] == location


def test_a_rule_network_is_normalised() -> None:
    rule = SecurityRule("egress", "all", None, None, "10.1.2.3/8")

    assert security_rules.check_rule(rule).cidr == "10.0.0.0/8"


def test_a_volume_goes_created_available_attached_detached() -> None:
    created, events = transitions.applied(new("volume", attrs={"size_gb": 2}), volume(VolumeState.CREATING), now=NOW)
    assert (created.state, created.provider_id) == ("creating", "p-1")
    assert events == [
        VolumeCreated(
            volume_id=RID, cloud_id="sim", provider_id="p-1", name="thing", size_gb=2, zone="z-a", snapshot_id=None
        )
    ]
    ids = {"volume_id": RID, "cloud_id": "sim", "provider_id": "p-1"}

    available, events = transitions.observe(created, volume(VolumeState.AVAILABLE), now=NOW)
    assert available.state == "available" and events == [VolumeAvailable(**ids)]
    assert transitions.observe(available, volume(VolumeState.AVAILABLE), now=NOW) == (available, [])

    attaching = resources.request(
        available, "attach", {"instance_id": "inst-1", "provider_instance_id": "i-1"}, correlation_id="c"
    )
    slow, events = transitions.applied(attaching, volume(VolumeState.ATTACHING, instance_id="i-1"), now=NOW)
    assert (slow.state, slow.pending_action, events) == ("attaching", None, [])
    assert slow in transitions.follow_targets([slow])
    attached, events = transitions.observe(
        slow, volume(VolumeState.IN_USE, instance_id="i-1", device="/dev/vdb"), now=NOW
    )
    assert (attached.state, attached.attrs["instance_id"], attached.attrs["device"]) == ("in-use", "inst-1", "/dev/vdb")
    assert events == [VolumeAttached(**ids, instance_id="inst-1", device="/dev/vdb")]

    detaching = resources.request(attached, "detach", {}, correlation_id="c")
    detached, events = transitions.applied(detaching, volume(VolumeState.AVAILABLE), now=NOW)
    assert (detached.state, detached.attrs["instance_id"]) == ("available", None)
    assert events == [VolumeDetached(**ids, instance_id="inst-1")]


def test_a_volume_the_cloud_reports_in_error_fails() -> None:
    creating = existing("volume", "creating", last_action="create")

    after, events = transitions.observe(creating, volume(VolumeState.ERROR), now=NOW)

    assert after.state == "error" and after.reason
    assert events == [
        VolumeFailed(
            volume_id=RID, cloud_id="sim", provider_id="p-1", action="create", state="error", reason=after.reason
        )
    ]


def test_a_vanished_resource_is_given_a_grace_then_fails_unless_it_was_being_removed() -> None:
    creating = replace(existing("volume", "creating"), updated_at=NOW)

    assert transitions.observe(creating, None, now=NOW + timedelta(seconds=5)) == (creating, [])
    after, events = transitions.observe(creating, None, now=NOW + timedelta(seconds=31))
    assert after.state == "error" and isinstance(events[0], VolumeFailed)

    deleting = existing("volume", "deleting")
    after, events = transitions.observe(deleting, None, now=NOW)
    assert after.state == "deleted" and events == [VolumeDeleted(volume_id=RID, cloud_id="sim", provider_id="p-1")]


def test_a_volume_held_by_a_terminated_instance_is_released_by_the_cloud() -> None:
    held = existing("volume", "detaching", instance_id="inst-1")

    after, events = transitions.observe(held, volume(VolumeState.AVAILABLE), now=NOW)

    assert after.state == "available"
    assert events == [VolumeDetached(volume_id=RID, cloud_id="sim", provider_id="p-1", instance_id="inst-1")]
    still = replace(held, updated_at=NOW)
    assert transitions.observe(still, volume(VolumeState.IN_USE), now=NOW + timedelta(seconds=1)) == (still, [])
    kept, events = transitions.observe(still, volume(VolumeState.IN_USE), now=NOW + timedelta(seconds=60))
    assert kept.state == "in-use" and events == []


def test_a_snapshot_goes_pending_then_available() -> None:
    record = new("snapshot", attrs={"volume_id": "vol-1", "size_gb": 2})
    answer = Snapshot(id="p-1", volume_id="pv-1", size_gb=2, state=SnapshotState.PENDING, created_at=NOW)

    created, events = transitions.applied(record, answer, now=NOW)
    assert events == [
        SnapshotCreated(snapshot_id=RID, cloud_id="sim", provider_id="p-1", name="thing", volume_id="vol-1", size_gb=2)
    ]
    available, events = transitions.observe(created, replace(answer, state=SnapshotState.AVAILABLE), now=NOW)
    assert available.state == "available"
    assert events == [SnapshotAvailable(snapshot_id=RID, cloud_id="sim", provider_id="p-1")]


def test_an_instant_image_is_created_and_available_at_once() -> None:
    record = new("image", attrs={"instance_id": "inst-1"})

    after, events = transitions.applied(record, Image(id="img-9", name="thing-x", os="linux"), now=NOW)

    ids = {"image_id": RID, "cloud_id": "sim", "provider_id": "img-9"}
    assert after.state == "available"
    assert events == [ImageCreated(**ids, name="thing", instance_id="inst-1"), ImageAvailable(**ids)]


def test_an_image_the_cloud_could_not_make_fails() -> None:
    pending = existing("image", "pending", instance_id="inst-1")

    after, events = transitions.observe(
        pending, Image(id="p-1", name="x", os="linux", state=ImageState.FAILED), now=NOW
    )

    assert after.state == "error"
    assert events == [
        ImageFailed(
            image_id=RID, cloud_id="sim", provider_id="p-1", action="create", state="error", reason=after.reason
        )
    ]
    deregistering = resources.request(existing("image", "available"), "deregister", {}, correlation_id="c")
    gone, events = transitions.applied(deregistering, None, now=NOW)
    assert gone.state == "deregistered" and events == [
        ImageDeregistered(image_id=RID, cloud_id="sim", provider_id="p-1")
    ]


def test_an_address_goes_allocated_associated_disassociated_released() -> None:
    allocated, events = transitions.applied(new("address"), Address(id="eip-1", ip="203.0.113.7"), now=NOW)
    ids = {"address_id": RID, "cloud_id": "sim", "provider_id": "eip-1"}
    assert (allocated.state, allocated.attrs["ip"]) == ("available", "203.0.113.7")
    assert events == [AddressAllocated(**ids, ip="203.0.113.7")]

    associating = resources.request(
        allocated, "associate", {"instance_id": "inst-1", "provider_instance_id": "i-1"}, correlation_id="c"
    )
    associated, events = transitions.applied(
        associating, Address(id="eip-1", ip="203.0.113.7", instance_id="i-1"), now=NOW
    )
    assert (associated.state, associated.attrs["instance_id"]) == ("associated", "inst-1")
    assert events == [AddressAssociated(**ids, ip="203.0.113.7", instance_id="inst-1")]

    disassociating = resources.request(associated, "disassociate", {}, correlation_id="c")
    free, events = transitions.applied(disassociating, Address(id="eip-1", ip="203.0.113.7"), now=NOW)
    assert (free.state, free.attrs["instance_id"]) == ("available", None)
    assert events == [AddressDisassociated(**ids, ip="203.0.113.7", instance_id="inst-1")]

    releasing = resources.request(free, "release", {}, correlation_id="c")
    released, events = transitions.applied(releasing, None, now=NOW)
    assert released.state == "released" and events == [AddressReleased(**ids, ip="203.0.113.7")]


# --- failures --------------------------------------------------------------------------------------------------


def test_a_creation_refused_at_once_leaves_no_record_and_another_action_restores_the_state() -> None:
    assert resources.refused(new("volume")) is None

    attaching = resources.request(existing("volume", "available"), "attach", {"instance_id": "i"}, correlation_id="c")
    restored = resources.refused(attaching)
    assert restored is not None
    assert (restored.state, restored.pending_action, restored.pending) == ("available", None, {})


def test_a_failure_found_later_is_announced() -> None:
    after, events = resources.failed(new("volume"), "create", "quota exhausted")
    assert (after.state, after.reason, after.pending_action) == ("error", "quota exhausted", None)
    assert events == [
        VolumeFailed(
            volume_id=RID, cloud_id="sim", provider_id=None, action="create", state="error", reason="quota exhausted"
        )
    ]

    detaching = resources.request(existing("volume", "in-use"), "detach", {}, correlation_id="c")
    after, events = resources.failed(detaching, "detach", "the cloud refused")
    assert after.state == "in-use" and after.reason == "the cloud refused"
    assert events[0] == VolumeFailed(
        volume_id=RID, cloud_id="sim", provider_id="p-1", action="detach", state="in-use", reason="the cloud refused"
    )


def test_only_records_in_a_cloud_transition_are_followed() -> None:
    records = [
        existing("volume", "creating"),
        existing("volume", "available"),
        replace(existing("volume", "attaching"), pending_action="attach"),
        existing("snapshot", "pending"),
        existing("image", "pending"),
        existing("key_pair", "available"),
        replace(new("volume"), state="creating"),
    ]

    assert transitions.follow_targets(records) == [records[0], records[3], records[4]]


def test_the_index_of_followed_records_names_every_followed_state() -> None:
    migration = Path(resources.__file__).parents[1] / "migrations" / "versions" / "0002_resources.py"
    text = migration.read_text()
    index = text[text.index("CREATE INDEX resources_moving") :].split('""")', 1)[0]

    for state in {s for rules in resources.RULES.values() for s in rules.followed}:
        assert f"'{state}'" in index, state
