"""Alert rules: what each kind watches, which instances a rule's scope covers, and how its alerts are routed to
channels (Alertmanager's grouping and timing). Pure rules, no I/O."""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Kind = Literal["threshold", "no_data", "event_rate", "budget"]
Operator = Literal[">", ">=", "<", "<=", "==", "!="]

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Instance:
    """What the provisioner's events told of an instance."""

    instance_id: str
    project_id: str
    cloud_id: str
    tags: Mapping[str, str]
    template_id: str | None
    state: str
    template_version: int | None = None


@dataclass(frozen=True)
class Scope:
    """The instances a rule covers: those named, those carrying every tag given, those of one cloud or of one
    template (and version); every criterion given must hold, and none given is the whole project."""

    instance_ids: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    cloud_id: str | None = None
    template_id: str | None = None
    template_version: int | None = None

    @property
    def whole_project(self) -> bool:
        return not (self.instance_ids or self.tags or self.cloud_id or self.template_id)

    def covers(self, instance_id: str | None, instance: Instance | None) -> bool:
        if self.whole_project:
            return True
        if instance_id is None:
            return False
        if self.instance_ids and instance_id not in self.instance_ids:
            return False
        if not (self.tags or self.cloud_id or self.template_id):
            return True
        if instance is None:
            return False
        if any(instance.tags.get(k) != v for k, v in self.tags.items()):
            return False
        if self.cloud_id is not None and instance.cloud_id != self.cloud_id:
            return False
        if self.template_id is not None and instance.template_id != self.template_id:
            return False
        return self.template_version is None or instance.template_version == self.template_version

    def as_json(self) -> dict[str, Any]:
        return {
            "instance_ids": list(self.instance_ids),
            "tags": dict(self.tags),
            "cloud_id": self.cloud_id,
            "template_id": self.template_id,
            "template_version": self.template_version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scope:
        return cls(
            instance_ids=tuple(data.get("instance_ids") or ()),
            tags=dict(data.get("tags") or {}),
            cloud_id=data.get("cloud_id"),
            template_id=data.get("template_id"),
            template_version=data.get("template_version"),
        )


@dataclass(frozen=True)
class Condition:
    """What a rule watches; the fields its kind uses are set, the others left as they are."""

    metric: str | None = None
    operator: Operator | None = None
    value: float | None = None
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    quiet_seconds: float | None = None
    event_type: str | None = None
    count: int | None = None
    window_seconds: float | None = None
    budget_id: str | None = None
    basis: Literal["actual", "forecast"] | None = None
    min_percent: int | None = None
    scope: Scope = field(default_factory=Scope)

    def breached(self, value: float) -> bool:
        """Whether a threshold rule's condition holds for a sample's value."""
        assert self.operator is not None and self.value is not None
        return _OPERATORS[self.operator](value, self.value)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["scope"] = self.scope.as_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Condition:
        values = dict(data)
        values["scope"] = Scope.from_json(values.get("scope") or {})
        return cls(**values)


@dataclass(frozen=True)
class Routing:
    """Alertmanager's notification timing, per rule: alerts whose `group_by` labels agree go out together; a new group
    waits `group_wait` for more, a changed one `group_interval` since it last went out, and one unchanged but still
    firing is sent again every `repeat_interval`."""

    group_by: tuple[str, ...] = ()
    group_wait_seconds: float = 30.0
    group_interval_seconds: float = 300.0
    repeat_interval_seconds: float = 4 * 3600.0
    # Inhibition (Alertmanager's inhibit rules, with this rule's alerts as the source): while one of them fires, the
    # project's alerts whose labels match every one of `inhibits` (label -> value) and agree with it on every label
    # of `inhibit_equal` send nothing.
    inhibits: Mapping[str, str] = field(default_factory=dict)
    inhibit_equal: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "group_by": list(self.group_by),
            "inhibits": dict(self.inhibits),
            "inhibit_equal": list(self.inhibit_equal),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Routing:
        return cls(
            **{
                **data,
                "group_by": tuple(data.get("group_by") or ()),
                "inhibits": dict(data.get("inhibits") or {}),
                "inhibit_equal": tuple(data.get("inhibit_equal") or ()),
            }
        )

    def inhibits_alert(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        """Whether a firing alert of this rule labelled `source` mutes an alert labelled `target`."""
        if not self.inhibits or source == target:
            return False
        if any(target.get(k) != v for k, v in self.inhibits.items()):
            return False
        return all(source.get(k) == target.get(k) for k in self.inhibit_equal)


@dataclass(frozen=True)
class RuleSpec:
    name: str
    kind: Kind
    severity: str
    condition: Condition
    channel_ids: tuple[str, ...]
    routing: Routing


@dataclass(frozen=True)
class Rule:
    id: str
    project_id: str
    name: str
    kind: Kind
    severity: str
    condition: Condition
    channel_ids: tuple[str, ...]
    routing: Routing
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    last_event_id: str | None = None

    def labels_for(self, series: Mapping[str, str]) -> dict[str, str]:
        """An alert's labels: the series it is about, the rule's name and severity."""
        return {**series, "alertname": self.name, "severity": self.severity}

    def group_key(self, labels: Mapping[str, str]) -> str:
        return json.dumps({k: labels.get(k, "") for k in sorted(self.routing.group_by)}, sort_keys=True)


def fingerprint(labels: Mapping[str, str]) -> str:
    """The identity of a label set: one alert per rule and fingerprint."""
    return hashlib.sha256(json.dumps(dict(labels), sort_keys=True).encode()).hexdigest()[:32]


__all__ = ["Condition", "Instance", "Kind", "Operator", "Routing", "Rule", "RuleSpec", "Scope", "fingerprint"]
