"""v1 cluster events, published by the provisioner. Each carries the cluster's counts per role at the time: how many
members it should have, how many it has, how many of them run. Its members' own events are the instances'."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from kernel.events.envelope import EventPayload


class RoleCount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: str
    desired: int
    members: int
    running: int
    # The template version the role's members are launched from (None from a provisioner that did not say).
    template_id: str | None = None
    template_version: int | None = None


class _ClusterEvent(EventPayload):
    cluster_id: str
    name: str
    roles: list[RoleCount]

    SUBJECT = "cluster_id"


class ClusterCreated(_ClusterEvent):
    """A cluster was accepted; its members are launched role by role from here."""

    TYPE = "cluster.created"
    on_failure: str


class ClusterRoleScaled(_ClusterEvent):
    """A role's desired count changed (`roles` shows the new one)."""

    TYPE = "cluster.role_scaled"
    role: str
    previous_count: int
    count: int


class ClusterRunning(_ClusterEvent):
    """Every role has its desired count of members, all running."""

    TYPE = "cluster.running"


class ClusterDegraded(_ClusterEvent):
    """A member failed: the cluster launches nothing more until it is retried; `reason` names the member."""

    TYPE = "cluster.degraded"
    reason: str


class ClusterRolledBack(_ClusterEvent):
    """A member failed during the cluster's first launch, which asked for a roll back: every member made is
    terminated."""

    TYPE = "cluster.rolled_back"
    reason: str


class ClusterTerminated(_ClusterEvent):
    """Every member of a cluster asked to terminate has ended."""

    TYPE = "cluster.terminated"
