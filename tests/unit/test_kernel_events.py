"""The event envelope: routing keys, JSON round trips, and typed payloads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from kernel.events import (
    Envelope,
    EventPayload,
    InstanceActionRequested,
    InstanceLaunched,
    InstanceTerminated,
    new_event,
    parse_payload,
    payload_type,
)
from kernel.events.envelope import UnknownEventType


class SampleNoted(EventPayload):
    """A payload about no resource in particular."""

    TYPE = "test_kernel_events.sample_noted"
    VERSION = 3
    note: str


def launched_payload() -> InstanceLaunched:
    return InstanceLaunched(
        instance_id="inst-1", cloud_id="sim-1", provider_id="sim-abc", flavor_id="sim.small", image_id="img-1"
    )


def test_routing_key_is_type_and_version() -> None:
    env = new_event(launched_payload(), project_id="p", correlation_id="c")

    assert env.routing_key == "instance.launched.v1"
    assert new_event(SampleNoted(note="x"), project_id="p", correlation_id="c").routing_key == (
        "test_kernel_events.sample_noted.v3"
    )


def test_new_event_fills_the_envelope_from_the_payload() -> None:
    before = datetime.now(UTC)
    env = new_event(launched_payload(), project_id="proj", correlation_id="cid-1", causation_id="cause-1")
    after = datetime.now(UTC)

    assert env.type == "instance.launched"
    assert env.version == 1
    assert env.subject == "inst-1"
    assert env.project_id == "proj"
    assert env.correlation_id == "cid-1"
    assert env.causation_id == "cause-1"
    assert before <= env.occurred_at <= after
    assert env.occurred_at.tzinfo is not None
    assert env.payload == {
        "instance_id": "inst-1",
        "cloud_id": "sim-1",
        "provider_id": "sim-abc",
        "flavor_id": "sim.small",
        "image_id": "img-1",
    }


def test_new_event_subject_is_none_for_a_payload_about_nothing() -> None:
    assert new_event(SampleNoted(note="x"), project_id="p", correlation_id="c").subject is None


def test_every_event_gets_its_own_id() -> None:
    ids = {new_event(SampleNoted(note="x"), project_id="p", correlation_id="c").id for _ in range(50)}

    assert len(ids) == 50


def test_envelope_round_trips_through_json() -> None:
    occurred = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=2)))
    env = new_event(
        InstanceTerminated(instance_id="inst-9", cloud_id="sim-1", provider_id=None),
        project_id="proj",
        correlation_id="cid",
        causation_id=str(uuid.uuid4()),
        occurred_at=occurred,
    )

    back = Envelope.model_validate_json(env.model_dump_json())

    assert back == env
    assert back.id == env.id
    assert back.occurred_at == occurred
    assert back.routing_key == "instance.terminated.v1"
    assert parse_payload(back) == InstanceTerminated(instance_id="inst-9", cloud_id="sim-1", provider_id=None)


def test_parse_payload_gives_the_typed_payload() -> None:
    payload = InstanceActionRequested(instance_id="i", cloud_id="c", action="reboot")
    env = new_event(payload, project_id="p", correlation_id="c")

    parsed = parse_payload(env)

    assert type(parsed) is InstanceActionRequested
    assert parsed == payload
    assert payload_type("instance.action_requested", 1) is InstanceActionRequested


def _envelope(type_: str, version: int, payload: dict[str, object]) -> Envelope:
    return Envelope(
        type=type_,
        version=version,
        occurred_at=datetime.now(UTC),
        project_id="p",
        correlation_id="c",
        payload=payload,
    )


@pytest.mark.parametrize(("type_", "version"), [("instance.exploded", 1), ("instance.launched", 2)])
def test_parse_payload_rejects_an_unknown_type_or_version(type_: str, version: int) -> None:
    assert payload_type(type_, version) is None
    with pytest.raises(UnknownEventType):
        parse_payload(_envelope(type_, version, {"instance_id": "i", "cloud_id": "c"}))


@pytest.mark.parametrize(
    "payload",
    [
        {"instance_id": "i", "cloud_id": "c"},  # missing action
        {"instance_id": "i", "cloud_id": "c", "action": "explode"},  # not one of the actions
        {"instance_id": "i", "cloud_id": "c", "action": "stop", "extra": 1},  # unknown field
        {"instance_id": 5, "cloud_id": "c", "action": "stop"},  # wrong type
    ],
)
def test_parse_payload_rejects_a_bad_payload(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_payload(_envelope("instance.action_requested", 1, payload))


@pytest.mark.parametrize("type_", ["Instance.Launched", "instance", "instance launched", "instance..launched", ""])
def test_envelope_rejects_a_malformed_type(type_: str) -> None:
    with pytest.raises(ValidationError):
        _envelope(type_, 1, {})


def test_envelope_rejects_version_zero() -> None:
    with pytest.raises(ValidationError):
        _envelope("instance.launched", 0, {})


def test_payloads_are_immutable() -> None:
    payload = launched_payload()

    with pytest.raises(ValidationError):
        payload.instance_id = "other"  # type: ignore[misc]


def test_envelope_rejects_a_naive_time() -> None:
    with pytest.raises(ValidationError):
        Envelope(
            type="instance.launched",
            version=1,
            occurred_at=datetime(2025, 1, 1, 12, 0),  # naive: no tzinfo
            project_id="p",
            correlation_id="c",
            payload={},
        )
