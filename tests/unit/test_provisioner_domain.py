"""The provisioner's lifecycle rules: which user actions are accepted, and which events each cloud report yields."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from adapters.base import Instance as CloudInstance
from adapters.base import InstanceState as S
from kernel.errors import InvalidState
from kernel.events import (
    InstanceActionFailed,
    InstanceFailed,
    InstanceLaunched,
    InstanceRebooted,
    InstanceRunning,
    InstanceStopped,
    InstanceTerminated,
)
from services.provisioner.instances import domain
from services.provisioner.instances.domain import REQUESTED, Action, InstanceRecord, UserAction
from services.provisioner.work.pacing import retry_delay

NOW = datetime(2025, 1, 1, tzinfo=UTC)
IDS = {"instance_id": "inst-1", "cloud_id": "sim-1"}


def record(
    state: str = S.RUNNING.value,
    *,
    provider_id: str | None = "sim-abc",
    pending_action: Action | None = None,
    attempts: int = 0,
    reason: str | None = None,
) -> InstanceRecord:
    return InstanceRecord(
        id="inst-1",
        project_id="proj",
        cloud_id="sim-1",
        name="web",
        image_id="img-debian-12",
        flavor_id="sim.small",
        provider_id=provider_id,
        state=state,
        pending_action=pending_action,
        attempts=attempts,
        reason=reason,
        private_ips=(),
        correlation_id="cid-1",
        last_event_id=None,
        created_at=NOW,
        updated_at=NOW,
    )


def cloud(state: S, *, reason: str | None = None, id_: str = "sim-abc") -> CloudInstance:
    return CloudInstance(
        id=id_,
        name="web",
        state=state,
        image_id="img-debian-12",
        flavor_id="sim.small",
        created_at=NOW,
        private_ips=("10.0.0.5",),
        public_ips=("203.0.113.9",),
        reason=reason,
    )


# --- request_action ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "action", "showing"),
    [
        (S.STOPPED, "start", S.STARTING),
        (S.RUNNING, "stop", S.STOPPING),
        (S.RUNNING, "reboot", S.REBOOTING),
        *[
            (s, "terminate", S.TERMINATING)
            for s in (S.PENDING, S.RUNNING, S.STOPPING, S.STOPPED, S.STARTING, S.REBOOTING, S.ERROR)
        ],
    ],
)
def test_allowed_action_shows_its_transition_and_becomes_pending(state: S, action: UserAction, showing: S) -> None:
    before = record(state.value, attempts=3, reason="an earlier failure")

    after = domain.request_action(before, action)

    assert after.state == showing.value
    assert after.pending_action == action
    assert after.attempts == 0
    assert after.reason is None
    assert after.provider_id == before.provider_id


@pytest.mark.parametrize(
    ("state", "action"),
    [
        *[(s, "start") for s in (REQUESTED, "pending", "running", "stopping", "starting", "rebooting", "error")],
        *[(s, "stop") for s in (REQUESTED, "pending", "stopped", "stopping", "starting", "rebooting", "error")],
        *[(s, "reboot") for s in (REQUESTED, "pending", "stopped", "stopping", "starting", "rebooting", "error")],
        *[(s, a) for s in ("terminating", "terminated") for a in ("start", "stop", "reboot")],
    ],
)
def test_forbidden_action_raises_invalid_state(state: str, action: UserAction) -> None:
    with pytest.raises(InvalidState) as caught:
        domain.request_action(record(state), action)

    assert caught.value.http_status == 409
    assert caught.value.code == "invalid_state"
    assert caught.value.extensions == {"state": state}
    assert f"Cannot {action} instance inst-1 while it is {state}" in caught.value.detail


@pytest.mark.parametrize("action", ["start", "stop", "reboot"])
@pytest.mark.parametrize("pending", ["launch", "start", "stop", "reboot"])
def test_a_pending_action_blocks_every_other_action(pending: Action, action: UserAction) -> None:
    # The state alone would allow the action; only the action in progress forbids it.
    state = "stopped" if action == "start" else "running"

    with pytest.raises(InvalidState, match=f"a {pending} is in progress"):
        domain.request_action(record(state, pending_action=pending), action)


@pytest.mark.parametrize("pending", ["start", "stop", "reboot"])
def test_terminate_overrides_a_pending_action(pending: Action) -> None:
    showing = {"start": "starting", "stop": "stopping", "reboot": "rebooting"}[pending]

    after = domain.request_action(record(showing, pending_action=pending, attempts=2), "terminate")

    assert after.state == "terminating"
    assert after.pending_action == "terminate"
    assert after.attempts == 0


@pytest.mark.parametrize("state", ["terminating", "terminated"])
def test_terminate_again_changes_nothing(state: str) -> None:
    before = record(state, pending_action="terminate" if state == "terminating" else None)

    assert domain.request_action(before, "terminate") is before


def test_terminate_before_the_instance_exists_in_the_cloud_withdraws_it() -> None:
    before = record(REQUESTED, provider_id=None, pending_action="launch", attempts=2)

    after = domain.request_action(before, "terminate")

    assert after.state == "terminated"
    assert after.pending_action is None
    assert after.attempts == 0
    assert domain.withdrawn(after) == [InstanceTerminated(**IDS, provider_id=None)]


def test_terminate_of_a_failed_launch_withdraws_it() -> None:
    after = domain.request_action(record("error", provider_id=None, reason="quota"), "terminate")

    assert after.state == "terminated"
    assert after.pending_action is None


# --- launched / observe --------------------------------------------------------------------------------------


def test_launched_records_the_cloud_id_and_reports_the_launch() -> None:
    before = record(REQUESTED, provider_id=None, pending_action="launch", attempts=1)

    after, events = domain.launched(before, cloud(S.PENDING, id_="sim-new"))

    assert after.provider_id == "sim-new"
    assert after.state == "pending"
    assert after.pending_action is None
    assert after.attempts == 0
    assert after.private_ips == ("10.0.0.5", "203.0.113.9")
    assert events == [
        InstanceLaunched(**IDS, provider_id="sim-new", flavor_id="sim.small", image_id="img-debian-12"),
    ]


def test_launched_on_a_fast_cloud_also_reports_running() -> None:
    before = record(REQUESTED, provider_id=None, pending_action="launch")

    after, events = domain.launched(before, cloud(S.RUNNING, id_="sim-new"))

    assert after.state == "running"
    assert events == [
        InstanceLaunched(**IDS, provider_id="sim-new", flavor_id="sim.small", image_id="img-debian-12"),
        InstanceRunning(**IDS, provider_id="sim-new", flavor_id="sim.small", previous_state="pending"),
    ]


@pytest.mark.parametrize(
    ("before", "now", "event"),
    [
        (
            "pending",
            S.RUNNING,
            InstanceRunning(**IDS, provider_id="sim-abc", flavor_id="sim.small", previous_state="pending"),
        ),
        (
            "starting",
            S.RUNNING,
            InstanceRunning(**IDS, provider_id="sim-abc", flavor_id="sim.small", previous_state="starting"),
        ),
        ("rebooting", S.RUNNING, InstanceRebooted(**IDS, provider_id="sim-abc")),
        ("stopping", S.STOPPED, InstanceStopped(**IDS, provider_id="sim-abc")),
        ("terminating", S.TERMINATED, InstanceTerminated(**IDS, provider_id="sim-abc")),
    ],
)
def test_each_completed_transition_yields_its_one_event(before: str, now: S, event: object) -> None:
    after, events = domain.observe(record(before), cloud(now))

    assert after.state == now.value
    assert events == [event]
    # Seen again, the same report yields nothing more.
    again, more = domain.observe(after, cloud(now))
    assert again == after
    assert more == []


@pytest.mark.parametrize("state", ["pending", "stopping", "starting", "rebooting", "terminating"])
@pytest.mark.parametrize("report", [S.PENDING, S.STOPPING, S.UNKNOWN])
def test_a_cloud_still_in_transition_changes_nothing(state: str, report: S) -> None:
    before = record(state)

    assert domain.observe(before, cloud(report)) == (before, [])


def test_vanished_while_terminating_is_terminated() -> None:
    after, events = domain.observe(record("terminating"), None)

    assert after.state == "terminated"
    assert events == [InstanceTerminated(**IDS, provider_id="sim-abc")]


@pytest.mark.parametrize("state", ["pending", "running", "stopping", "stopped", "starting", "rebooting"])
def test_vanished_instance_fails(state: str) -> None:
    after, events = domain.observe(record(state, pending_action=None), None)

    assert after.state == "error"
    assert after.pending_action is None
    assert after.reason == "The instance no longer exists in its cloud."
    assert events == [
        InstanceFailed(**IDS, provider_id="sim-abc", reason="The instance no longer exists in its cloud.")
    ]


def test_cloud_error_fails_the_instance_with_the_clouds_reason() -> None:
    after, events = domain.observe(record("pending"), cloud(S.ERROR, reason="no capacity in zone a"))

    assert after.state == "error"
    assert after.reason == "no capacity in zone a"
    assert events == [InstanceFailed(**IDS, provider_id="sim-abc", reason="no capacity in zone a")]


def test_cloud_error_without_a_reason_still_says_why() -> None:
    after, events = domain.observe(record("starting"), cloud(S.ERROR))

    assert after.reason == "The cloud reports the instance in error."
    assert events == [InstanceFailed(**IDS, provider_id="sim-abc", reason="The cloud reports the instance in error.")]


def test_failed_clears_the_pending_action() -> None:
    after, events = domain.failed(record(REQUESTED, provider_id=None, pending_action="launch"), "quota exhausted")

    assert (after.state, after.pending_action, after.reason) == ("error", None, "quota exhausted")
    assert events == [InstanceFailed(**IDS, provider_id=None, reason="quota exhausted")]


# --- action_failed / retry_delay ------------------------------------------------------------------------------


def test_action_failed_shows_the_clouds_state_again_with_the_reason() -> None:
    before = record("starting", pending_action="start", attempts=4)

    after, events = domain.action_failed(before, "start", "the cloud refused", cloud(S.STOPPED))

    assert after.state == "stopped"
    assert after.pending_action is None
    assert after.attempts == 0
    assert after.reason == "the cloud refused"
    assert events == [InstanceActionFailed(**IDS, action="start", state="stopped", reason="the cloud refused")]


def test_action_failed_on_a_vanished_instance_fails_it() -> None:
    before = record("stopping", pending_action="stop")

    after, events = domain.action_failed(before, "stop", "not found", None)

    assert (after.state, after.pending_action, after.reason) == ("error", None, "not found")
    assert events == [InstanceFailed(**IDS, provider_id="sim-abc", reason="not found")]


def test_retry_delay_doubles_from_half_a_second() -> None:
    assert [retry_delay(n) for n in range(0, 7)] == [0.5, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]


def test_retry_delay_is_capped_at_thirty_seconds() -> None:
    assert retry_delay(7) == 30.0
    assert retry_delay(50) == 30.0
    delays = [retry_delay(n) for n in range(0, 60)]
    assert delays == sorted(delays)


def test_exists_in_cloud_follows_the_provider_id() -> None:
    assert record(provider_id="sim-x").exists_in_cloud
    assert not replace(record(), provider_id=None).exists_in_cloud
