"""Instance records and the rules of their lifecycle; no I/O.

A user's request changes the record at once (state and `pending_action`); the worker then makes the cloud call and
the record follows what the cloud reports. Each change of state that matters yields exactly one event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

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
    InstanceSuspended,
    InstanceTerminated,
)

Action = Literal["launch", "start", "stop", "reboot", "suspend", "resume", "terminate"]
UserAction = Literal["start", "stop", "reboot", "suspend", "resume", "terminate"]

REQUESTED = "requested"  # accepted by Clanavi, not yet created in the cloud
# Recorded, but nothing is asked of the cloud until an owner approves it (the project's approval threshold).
AWAITING_APPROVAL = "awaiting_approval"
# A launch an owner rejected (or nobody approved in time): final, never in a cloud.
REJECTED = "rejected"
# No longer in its cloud, though Clanavi did not terminate it (found by an inventory sync); as final as `terminated`.
GONE = "gone"
ENDED = frozenset({S.TERMINATED.value, GONE, REJECTED})
# Shown while a suspend or resume is under way: the normalised cloud states have no word for these.
SUSPENDING = "suspending"
RESUMING = "resuming"

# action -> (states a user may ask it from, state shown while it happens)
_USER_ACTIONS: dict[UserAction, tuple[frozenset[str], str]] = {
    "start": (frozenset({S.STOPPED}), S.STARTING.value),
    "stop": (frozenset({S.RUNNING}), S.STOPPING.value),
    "reboot": (frozenset({S.RUNNING}), S.REBOOTING.value),
    "suspend": (frozenset({S.RUNNING}), SUSPENDING),
    "resume": (frozenset({S.SUSPENDED}), RESUMING),
    "terminate": (
        frozenset(
            {
                REQUESTED,
                AWAITING_APPROVAL,
                S.PENDING,
                S.RUNNING,
                S.STOPPING,
                S.STOPPED,
                S.STARTING,
                S.REBOOTING,
                S.SUSPENDED,
                SUSPENDING,
                RESUMING,
                S.ERROR,
            }
        ),
        S.TERMINATING.value,
    ),
}

TRANSITIONAL = frozenset(
    {S.PENDING.value, S.STARTING.value, S.STOPPING.value, S.REBOOTING.value, S.TERMINATING.value, SUSPENDING, RESUMING}
)

# The launch options that hold user data, in the clear or sealed: dropped once the cloud has it.
USER_DATA_OPTIONS = frozenset({"user_data", "user_data_sealed"})
# Most tags a launch may carry, and the prefix Clanavi keeps for its own.
MAX_TAGS = 40
RESERVED_TAG_PREFIX = "clanavi:"
# The tag Clanavi puts on every instance it launches: the record's id.
INSTANCE_TAG = f"{RESERVED_TAG_PREFIX}instance"


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    id: str
    project_id: str
    cloud_id: str
    name: str
    image_id: str
    flavor_id: str
    state: str
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    # The instance's id in its cloud, once it is there.
    provider_id: str | None = None
    pending_action: Action | None = None
    # Failed tries of the pending action, and why the last action failed or the instance is in error.
    attempts: int = 0
    reason: str | None = None
    private_ips: tuple[str, ...] = ()
    last_event_id: str | None = None
    # Launch options (Clanavi ids for security groups; `key_name` is the key pair's name, the same in the cloud).
    key_name: str | None = None
    security_group_ids: tuple[str, ...] = ()
    zone: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # What only the launch call needs: the groups' ids in the cloud, the user data (dropped once launched).
    launch_options: Mapping[str, Any] = field(default_factory=dict)
    # Consecutive throttled tries of the pending action, and when the user asked for it.
    throttled: int = 0
    pending_since: datetime | None = None
    # Created outside Clanavi and adopted by an inventory sync.
    discovered: bool = False
    # Whether the worker is calling the cloud for the pending action right now (it holds the record's claim).
    in_flight: bool = False
    # The server template (and version) it was launched from, and its inputs as resolved then, with the level each
    # value came from (a secret's value masked).
    template_id: str | None = None
    template_version: int | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    # The progress of its template's boot scripts, as `services.provisioner.boot.domain.BootSection.stored` keeps it
    # (None: it runs none). Only the boot follower changes it once the instance is recorded.
    boot: Mapping[str, Any] | None = None
    # The cluster it was launched for, and its role there.
    cluster_id: str | None = None
    cluster_role: str | None = None
    # The flavor's vCPUs as its catalogue had them at launch (None: not known), which the project's quotas count.
    vcpus: int | None = None
    # When its lifetime ends (None: never), what then happens to it, the warnings before (hours before the end,
    # longest first) and how many were sent, and when it expired. Only the guard-rails' statements change these.
    expires_at: datetime | None = None
    expiry_action: Literal["stop", "terminate"] | None = None
    expiry_warnings: tuple[float, ...] = ()
    warnings_sent: int = 0
    expired_at: datetime | None = None
    # Who asked for it when it was not a user of the project: the service and what for (`scaler:<group id>`).
    requested_by: str | None = None

    @property
    def exists_in_cloud(self) -> bool:
        return self.provider_id is not None

    @property
    def placement(self) -> Mapping[str, Any] | None:
        """Why the allocator put it where it is (strategy, score, group); None when the launch named its cloud."""
        found = self.launch_options.get("placement")
        return found if isinstance(found, Mapping) else None


@dataclass(frozen=True, slots=True)
class LaunchNames:
    """What a launch may name: whether its key pair can be used, and the cloud's id of each of its security groups
    (by Clanavi id) that can."""

    key_usable: bool
    group_provider_ids: Mapping[str, str]


def request_action(record: InstanceRecord, action: UserAction) -> InstanceRecord:
    """The record once the user's action is accepted; raises InvalidState when the state forbids it."""
    allowed, showing = _USER_ACTIONS[action]
    if action == "terminate" and record.state in (S.TERMINATING, *ENDED):
        return record
    if record.state not in allowed or (record.pending_action is not None and action != "terminate"):
        raise InvalidState(
            f"Cannot {action} instance {record.id} while it is {record.state}"
            + (f" (a {record.pending_action} is in progress)" if record.pending_action else "")
            + ".",
            state=record.state,
        )
    if action == "terminate" and not record.exists_in_cloud and not record.in_flight:
        # Never created in the cloud: there is nothing to call, the request is simply withdrawn. (A launch in
        # flight may be creating it this moment: that one is terminated in the cloud, found by its client token.)
        return replace(record, state=S.TERMINATED.value, pending_action=None, attempts=0, throttled=0)
    return replace(record, state=showing, pending_action=action, attempts=0, throttled=0, reason=None)


def _common(record: InstanceRecord) -> dict[str, str]:
    return {"instance_id": record.id, "cloud_id": record.cloud_id}


def launched(record: InstanceRecord, cloud: CloudInstance) -> tuple[InstanceRecord, list[EventPayload]]:
    """The cloud accepted the launch; it may already report the instance running (moto, fast clouds). A record
    asked to terminate while its launch was in flight keeps showing that."""
    options = {k: v for k, v in record.launch_options.items() if k not in USER_DATA_OPTIONS}
    record = replace(
        record,
        provider_id=cloud.id,
        state=S.PENDING.value if record.pending_action == "launch" else record.state,
        pending_action=None,
        attempts=0,
        throttled=0,
        private_ips=cloud.private_ips + cloud.public_ips,
        launch_options=options,
        zone=cloud.zone or record.zone,
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
            return failed(record, "The instance no longer exists in its cloud.")
    else:
        cloud_state = cloud.state
    before = record.state
    if (before == SUSPENDING and cloud_state == S.RUNNING) or (before == RESUMING and cloud_state == S.SUSPENDED):
        return record, []  # the cloud has not started on it yet
    if cloud_state == S.ERROR:
        return failed(record, (cloud.reason if cloud else None) or "The cloud reports the instance in error.")
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
    elif cloud_state == S.SUSPENDED:
        event = InstanceSuspended(**_common(record), provider_id=provider_id)
    elif cloud_state == S.TERMINATED:
        event = InstanceTerminated(**_common(record), provider_id=record.provider_id)
    else:
        return after, []
    return after, [event]


def failed(record: InstanceRecord, reason: str) -> tuple[InstanceRecord, list[EventPayload]]:
    """The instance is in error (its launch failed, or its cloud reports it so), and why."""
    after = replace(record, state=S.ERROR.value, pending_action=None, throttled=0, reason=reason)
    return after, [InstanceFailed(**_common(record), provider_id=record.provider_id, reason=reason)]


def withdrawn(record: InstanceRecord) -> list[EventPayload]:
    """Events for a launch withdrawn before the cloud was called."""
    return [InstanceTerminated(**_common(record), provider_id=None)]


def action_failed(
    record: InstanceRecord, action: UserAction, reason: str, cloud: CloudInstance | None
) -> tuple[InstanceRecord, list[EventPayload]]:
    """A user action the cloud would not carry out: the record shows the cloud's state again, with the reason."""
    if cloud is None:
        return failed(record, reason)
    after = replace(record, state=cloud.state.value, pending_action=None, attempts=0, throttled=0, reason=reason)
    return after, [InstanceActionFailed(**_common(record), action=action, state=cloud.state.value, reason=reason)]
