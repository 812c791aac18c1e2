"""Events: the versioned envelope, and the schemas of the facts services publish."""

from kernel.events.envelope import Envelope, EventPayload, new_event, parse_payload, payload_type
from kernel.events.instances import (
    InstanceActionFailed,
    InstanceActionRequested,
    InstanceFailed,
    InstanceLaunched,
    InstanceRebooted,
    InstanceRequested,
    InstanceRunning,
    InstanceStopped,
    InstanceTerminated,
)

__all__ = [
    "Envelope",
    "EventPayload",
    "InstanceActionFailed",
    "InstanceActionRequested",
    "InstanceFailed",
    "InstanceLaunched",
    "InstanceRebooted",
    "InstanceRequested",
    "InstanceRunning",
    "InstanceStopped",
    "InstanceTerminated",
    "new_event",
    "parse_payload",
    "payload_type",
]
