"""Health policies: what a policy watches (its target), which signals decide health, what it does about an unhealthy
instance, and the circuit breaker that stops it when too much is unhealthy at once. Pure values; no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from kernel.commands import SCALING_GROUP_TAG

TargetKind = Literal["scaling_group", "cluster_role", "tag"]
Action = Literal["replace", "reboot", "promote_standby", "quarantine"]
ProbeKind = Literal["http", "tcp"]


@dataclass(frozen=True, slots=True)
class Target:
    """The instances a policy watches: a scaling group's members, a cluster role's, or those carrying a tag."""

    kind: TargetKind
    scaling_group_id: str | None = None
    cluster_id: str | None = None
    role: str | None = None
    key: str | None = None
    value: str | None = None

    def matches(self, tags: Mapping[str, str], cluster_id: str | None, cluster_role: str | None) -> bool:
        if self.kind == "scaling_group":
            return tags.get(SCALING_GROUP_TAG) == self.scaling_group_id
        if self.kind == "cluster_role":
            return cluster_id == self.cluster_id and cluster_role == self.role
        return self.key is not None and tags.get(self.key) == self.value

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in _fields(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Target:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Probe:
    """A check the service runs itself against the instance's address, every `interval_seconds`: healthy after
    `healthy_threshold` successes in a row, unhealthy after `unhealthy_threshold` failures in a row."""

    kind: ProbeKind
    port: int
    path: str = "/"
    interval_seconds: float = 10.0
    timeout_seconds: float = 2.0
    healthy_threshold: int = 2
    unhealthy_threshold: int = 3

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Probe:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Signals:
    """What decides health: the cloud's state always; metrics gone quiet for `metrics_quiet_seconds`; no agent
    heartbeat for `heartbeat_seconds`; a probe."""

    cloud_state: bool = True
    metrics_quiet_seconds: int | None = None
    heartbeat_seconds: int | None = None
    probe: Probe | None = None

    def as_json(self) -> dict[str, Any]:
        data = _fields(self)
        data["probe"] = None if self.probe is None else _fields(self.probe)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signals:
        probe = data.get("probe")
        return cls(**{**data, "probe": None if probe is None else Probe.from_json(probe)})

    @property
    def timed(self) -> bool:
        """Whether health can change with time alone (a signal that goes quiet), not only when an event arrives."""
        return self.metrics_quiet_seconds is not None or self.heartbeat_seconds is not None


@dataclass(frozen=True, slots=True)
class Breaker:
    """Stop remediating when more than `max_unhealthy_percent` of the target's members (or more than
    `zone_max_unhealthy_percent` of one zone's) became unhealthy within `window_seconds`."""

    max_unhealthy_percent: int = 50
    zone_max_unhealthy_percent: int | None = None
    window_seconds: int = 300

    def as_json(self) -> dict[str, Any]:
        return _fields(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Breaker:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """What a user sets on a policy."""

    name: str
    target: Target
    signals: Signals
    grace_seconds: int
    action: Action
    breaker: Breaker
    address_id: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    project_id: str
    name: str
    target: Target
    signals: Signals
    grace_seconds: int
    action: Action
    breaker: Breaker
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    # promote_standby: the public address the healthy standby takes over.
    address_id: str | None = None
    breaker_open: bool = False
    breaker_reason: str = ""
    last_event_id: str | None = None


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}
