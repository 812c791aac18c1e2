"""Instance records and the rules of their lifecycle; no I/O.

A user's request changes the record at once (state and `pending_action`); the worker then makes the cloud call and
the record follows what the cloud reports. Each change of state that matters yields exactly one event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from adapters.base import Instance as CloudInstance
from adapters.base import InstanceState as S
from kernel.errors import InvalidState
from kernel.events import (
    EventPayload,
    InstanceActionFailed,
    InstanceFailed,
    InstanceLaunched,
    InstanceRebooted,
    InstanceRunning,
    InstanceStopped,
    InstanceTerminated,
)

Action = Literal["launch", "start", "stop", "reboot", "terminate"]
UserAction = Literal["start", "stop", "reboot", "terminate"]

REQUESTED = "requested"  # accepted by Clanavi, not yet created in the cloud

# action -> (states a user may ask it from, state shown while it happens)
_USER_ACTIONS: dict[UserAction, tuple[frozenset[str], S]] = {
    "start": (frozenset({S.STOPPED}), S.STARTING),
    "stop": (frozenset({S.RUNNING}), S.STOPPING),
    "reboot": (frozenset({S.RUNNING}), S.REBOOTING),
    "terminate": (
        frozenset({REQUESTED, S.PENDING, S.RUNNING, S.STOPPING, S.STOPPED, S.STARTING, S.REBOOTING, S.ERROR}),
        S.TERMINATING,
    ),
}

TRANSITIONAL = frozenset({S.PENDING.value, S.STARTING.value, S.STOPPING.value, S.REBOOTING.value, S.TERMINATING.value})


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    id: str
    project_id: str
    cloud_id: str
    name: str
    image_id: str
    flavor_id: str
    provider_id: str | None
    state: str
    pending_action: Action | None
    attempts: int
    reason: str | None
    private_ips: tuple[str, ...]
    correlation_id: str
    last_event_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def exists_in_cloud(self) -> bool:
        return self.provider_id is not None


def request_action(record: InstanceRecord, action: UserAction) -> InstanceRecord:
    """The record once the user's action is accepted; raises InvalidState when the state forbids it."""
    allowed, showing = _USER_ACTIONS[action]
    if action == "terminate" and record.state in (S.TERMINATING, S.TERMINATED):
        return record
    if record.state not in allowed or (record.pending_action is not None and action != "terminate"):
        raise InvalidState(
            f"Cannot {action} instance {record.id} while it is {record.state}"
            + (f" (a {record.pending_action} is in progress)" if record.pending_action else "")
            + ".",
            state=record.state,
        )
    if action == "terminate" and not record.exists_in_cloud:
        # Never created in the cloud: there is nothing to call, the request is simply withdrawn.
        return replace(record, state=S.TERMINATED.value, pending_action=None, attempts=0)
    return replace(record, state=showing.value, pending_action=action, attempts=0, reason=None)


def _common(record: InstanceRecord) -> dict[str, str]:
    return {"instance_id": record.id, "cloud_id": record.cloud_id}


def launched(record: InstanceRecord, cloud: CloudInstance) -> tuple[InstanceRecord, list[EventPayload]]:
    """The cloud accepted the launch; it may already report the instance running (moto, fast clouds)."""
    record = replace(
        record,
        provider_id=cloud.id,
        state=S.PENDING.value,
        pending_action=None,
        attempts=0,
        private_ips=cloud.private_ips + cloud.public_ips,
    )
    events: list[EventPayload] = [
        InstanceLaunched(**_common(record), provider_id=cloud.id, flavor_id=record.flavor_id, image_id=record.image_id)
    ]
    record, more = observe(record, cloud)
    return record, events + more


def observe(record: InstanceRecord, cloud: CloudInstance | None) -> tuple[InstanceRecord, list[EventPayload]]:
    """Bring the record in line with what the cloud reports (None: the cloud no longer has it)."""
    provider_id = record.provider_id or ""
    if cloud is None:
        if record.state == S.TERMINATING:
            cloud_state = S.TERMINATED
        else:
            return _failed(record, "The instance no longer exists in its cloud.")
    else:
        cloud_state = cloud.state
    before = record.state
    if cloud_state == S.ERROR:
        return _failed(record, (cloud.reason if cloud else None) or "The cloud reports the instance in error.")
    if cloud_state == S.RUNNING and before == S.REBOOTING:
        return replace(record, state=S.RUNNING.value), [InstanceRebooted(**_common(record), provider_id=provider_id)]
    if cloud_state.value == before or cloud_state.is_transitional or cloud_state == S.UNKNOWN:
        return record, []
    after = replace(record, state=cloud_state.value)
    event: EventPayload
    if cloud_state == S.RUNNING:
        event = InstanceRunning(
            **_common(record), provider_id=provider_id, flavor_id=record.flavor_id, previous_state=before
        )
    elif cloud_state == S.STOPPED:
        event = InstanceStopped(**_common(record), provider_id=provider_id)
    elif cloud_state == S.TERMINATED:
        event = InstanceTerminated(**_common(record), provider_id=record.provider_id)
    else:
        return after, []
    return after, [event]


def _failed(record: InstanceRecord, reason: str) -> tuple[InstanceRecord, list[EventPayload]]:
    after = replace(record, state=S.ERROR.value, pending_action=None, reason=reason)
    return after, [InstanceFailed(**_common(record), provider_id=record.provider_id, reason=reason)]


def failed(record: InstanceRecord, reason: str) -> tuple[InstanceRecord, list[EventPayload]]:
    return _failed(record, reason)


def withdrawn(record: InstanceRecord) -> list[EventPayload]:
    """Events for a launch withdrawn before the cloud was called."""
    return [InstanceTerminated(**_common(record), provider_id=None)]


def retry_delay(attempts: int) -> float:
    """Seconds before the next try of a cloud call that failed `attempts` times (exponential, capped)."""
    return float(min(0.5 * 2 ** max(attempts - 1, 0), 30.0))


def action_failed(
    record: InstanceRecord, action: UserAction, reason: str, cloud: CloudInstance | None
) -> tuple[InstanceRecord, list[EventPayload]]:
    """A user action the cloud would not carry out: the record shows the cloud's state again, with the reason."""
    if cloud is None:
        return _failed(record, reason)
    after = replace(record, state=cloud.state.value, pending_action=None, attempts=0, reason=reason)
    return after, [InstanceActionFailed(**_common(record), action=action, state=cloud.state.value, reason=reason)]
