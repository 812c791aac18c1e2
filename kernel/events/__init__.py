"""Events: the versioned envelope, and the schemas of the facts services publish (one module per resource kind)."""

from kernel.events.addresses import (
    AddressAllocated,
    AddressAssociated,
    AddressDisassociated,
    AddressFailed,
    AddressReleased,
)
from kernel.events.envelope import Envelope, EventPayload, new_event, parse_payload, payload_type
from kernel.events.images import ImageAvailable, ImageCreated, ImageDeregistered, ImageFailed
from kernel.events.instances import (
    InstanceActionFailed,
    InstanceActionRequested,
    InstanceFailed,
    InstanceLaunched,
    InstanceRebooted,
    InstanceRequested,
    InstanceRunning,
    InstanceStopped,
    InstanceSuspended,
    InstanceTerminated,
)
from kernel.events.key_pairs import KeyPairCreated, KeyPairDeleted, KeyPairFailed
from kernel.events.modules import ModuleDisabled, ModuleEnabled
from kernel.events.security_groups import (
    SecurityGroupCreated,
    SecurityGroupDeleted,
    SecurityGroupFailed,
    SecurityGroupRuleAuthorized,
    SecurityGroupRuleRevoked,
    SecurityRuleFact,
)
from kernel.events.snapshots import SnapshotAvailable, SnapshotCreated, SnapshotDeleted, SnapshotFailed
from kernel.events.volumes import (
    VolumeAttached,
    VolumeAvailable,
    VolumeCreated,
    VolumeDeleted,
    VolumeDetached,
    VolumeFailed,
)

__all__ = [
    "AddressAllocated",
    "AddressAssociated",
    "AddressDisassociated",
    "AddressFailed",
    "AddressReleased",
    "Envelope",
    "EventPayload",
    "ImageAvailable",
    "ImageCreated",
    "ImageDeregistered",
    "ImageFailed",
    "InstanceActionFailed",
    "InstanceActionRequested",
    "InstanceFailed",
    "InstanceLaunched",
    "InstanceRebooted",
    "InstanceRequested",
    "InstanceRunning",
    "InstanceStopped",
    "InstanceSuspended",
    "InstanceTerminated",
    "KeyPairCreated",
    "KeyPairDeleted",
    "KeyPairFailed",
    "ModuleDisabled",
    "ModuleEnabled",
    "SecurityGroupCreated",
    "SecurityGroupDeleted",
    "SecurityGroupFailed",
    "SecurityGroupRuleAuthorized",
    "SecurityGroupRuleRevoked",
    "SecurityRuleFact",
    "SnapshotAvailable",
    "SnapshotCreated",
    "SnapshotDeleted",
    "SnapshotFailed",
    "VolumeAttached",
    "VolumeAvailable",
    "VolumeCreated",
    "VolumeDeleted",
    "VolumeDetached",
    "VolumeFailed",
    "new_event",
    "parse_payload",
    "payload_type",
]
