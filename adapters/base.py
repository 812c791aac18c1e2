"""The one contract every cloud adapter implements, its value objects, and its errors.

Values are frozen dataclasses; provider-specific data rides in `extra`. Each adapter maps its native states onto
`InstanceState` in one table and declares the operations it supports in `features`; anything else raises
`UnsupportedOperation`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable


class InstanceState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    STARTING = "starting"
    REBOOTING = "rebooting"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    ERROR = "error"
    UNKNOWN = "unknown"

    @property
    def is_transitional(self) -> bool:
        return self in _TRANSITIONAL


_TRANSITIONAL = frozenset(
    {
        InstanceState.PENDING,
        InstanceState.STOPPING,
        InstanceState.STARTING,
        InstanceState.REBOOTING,
        InstanceState.TERMINATING,
    }
)


class Feature(enum.StrEnum):
    INSTANCES = "instances"
    INSTANCE_START_STOP = "instance_start_stop"
    INSTANCE_REBOOT = "instance_reboot"
    IMAGES = "images"
    FLAVORS = "flavors"
    IDEMPOTENT_LAUNCH = "idempotent_launch"


@dataclass(frozen=True, slots=True)
class Image:
    id: str
    name: str
    os: str
    min_disk_gb: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Instance:
    id: str
    name: str
    state: InstanceState
    image_id: str
    flavor_id: str
    created_at: datetime
    private_ips: tuple[str, ...] = ()
    public_ips: tuple[str, ...] = ()
    # Why the instance is in `error`, in words a user can act on.
    reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    name: str
    image_id: str
    flavor_id: str
    # The same token always yields the same instance: a launch retried after a crash creates nothing twice.
    client_token: str
    user_data: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


class CloudError(Exception):
    """Base of the errors adapters raise; `retryable` says whether trying again later may succeed."""

    retryable: ClassVar[bool] = False


class CloudAuthError(CloudError):
    pass


class CloudNotFound(CloudError):
    pass


class CloudUnavailable(CloudError):
    retryable = True


class QuotaExceeded(CloudError):
    pass


class Throttled(CloudError):
    retryable = True


class InvalidCloudState(CloudError):
    """The cloud refused the operation in the resource's current state."""


class UnsupportedOperation(CloudError):
    def __init__(self, driver: str, operation: str) -> None:
        super().__init__(f"the {driver} adapter does not support {operation}")
        self.driver = driver
        self.operation = operation


@runtime_checkable
class CloudAdapter(Protocol):
    """One cloud account, reached through its provider's API."""

    driver: ClassVar[str]
    features: ClassVar[frozenset[Feature]]

    async def close(self) -> None: ...

    async def list_images(self) -> Sequence[Image]: ...

    async def get_image(self, image_id: str) -> Image: ...

    async def list_flavors(self) -> Sequence[Flavor]: ...

    async def get_flavor(self, flavor_id: str) -> Flavor: ...

    async def launch_instance(self, spec: LaunchSpec) -> Instance: ...

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        """The instances that still exist among `instance_ids`, in one call; missing ones are left out."""
        ...

    async def start_instance(self, instance_id: str) -> Instance: ...

    async def stop_instance(self, instance_id: str) -> Instance: ...

    async def reboot_instance(self, instance_id: str) -> Instance: ...

    async def terminate_instance(self, instance_id: str) -> Instance: ...
