"""Keeping the scaler's copy of the projects' cluster roles from the provisioner's `cluster.*` events: every event
carries the cluster's roles; a cluster that ended has none a group can scale."""

from __future__ import annotations

from kernel.events import (
    ClusterCreated,
    ClusterDegraded,
    ClusterRoleScaled,
    ClusterRolledBack,
    ClusterRunning,
    ClusterTerminated,
    EventPayload,
)
from services.scaler.unit_of_work import ScalerTransaction

__all__ = ["on_cluster_event"]


async def on_cluster_event(tx: ScalerTransaction, project_id: str, event: EventPayload) -> None:
    roles = tx.repos.cluster_roles
    if isinstance(event, ClusterTerminated | ClusterRolledBack):
        await roles.remove(event.cluster_id)
    elif isinstance(event, ClusterCreated | ClusterRoleScaled | ClusterRunning | ClusterDegraded):
        known = [
            (r.role, r.template_id, r.template_version)
            for r in event.roles
            if r.template_id is not None and r.template_version is not None
        ]
        await roles.replace(project_id, event.cluster_id, known)
