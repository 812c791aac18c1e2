"""Clusters: roles of servers from template versions, launched, scaled and terminated as a unit."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from clanavi.client._calls import Call, body, model_of, page_of, path, query
from clanavi.client._endpoints import M, Namespace, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from services.provisioner.clusters.schemas import (
    ClusterCreate,
    ClusterDetailOut,
    ClusterOut,
    ClusterPreviewOut,
    ClusterStateName,
    ScaleIn,
)

__all__ = ["Clusters"]


class Clusters(Namespace[M]):
    """`/v1/clusters`: each change answers at once (202); the provisioner moves the cluster on by itself."""

    @listing
    def list(
        self,
        *,
        state: ClusterStateName | Collection[ClusterStateName] | None = None,
        name: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[ClusterOut]:
        """The project's clusters, sorted by `created_at`, `updated_at`, `name` or `state`."""
        filters = query(state=state, name=name)
        return Listing("/v1/clusters", page_of(ClusterOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, cluster_id: str) -> Call[ClusterDetailOut]:
        """A cluster: each role's counts by state and health, and every member it ever had."""
        return Call("GET", path("/v1/clusters/{}", cluster_id), model_of(ClusterDetailOut))

    @operation
    def create(
        self, cluster: ClusterCreate | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Call[ClusterOut]:
        """Create a cluster; it answers `launching`."""
        content = body(ClusterCreate, cluster)
        return Call("POST", "/v1/clusters", model_of(ClusterOut), content=content, idempotency_key=idempotency_key)

    @operation
    def preview(self, cluster: ClusterCreate | Mapping[str, Any]) -> Call[ClusterPreviewOut]:
        """Check a cluster as `create` does and answer each role's placement and cost; nothing is launched."""
        asked = cluster if isinstance(cluster, ClusterCreate) else ClusterCreate.model_validate(cluster)
        content = body(ClusterCreate, asked.model_copy(update={"dry_run": True}))
        return Call("POST", "/v1/clusters", model_of(ClusterPreviewOut), content=content)

    @operation
    def scale(self, cluster_id: str, role: str, count: int) -> Call[ClusterDetailOut]:
        """Set a role's count: new members launched, or the newest taken out."""
        route = path("/v1/clusters/{}/roles/{}/scale", cluster_id, role)
        return Call("POST", route, model_of(ClusterDetailOut), content=body(ScaleIn, ScaleIn(count=count)))

    @operation
    def replace(self, cluster_id: str, instance_id: str) -> Call[ClusterDetailOut]:
        """Replace a member: a new one launched, then the old one terminated."""
        route = path("/v1/clusters/{}/members/{}/replace", cluster_id, instance_id)
        return Call("POST", route, model_of(ClusterDetailOut))

    @operation
    def retry(self, cluster_id: str) -> Call[ClusterDetailOut]:
        """Try again what failed in a degraded cluster."""
        return Call("POST", path("/v1/clusters/{}/retry", cluster_id), model_of(ClusterDetailOut))

    @operation
    def delete(self, cluster_id: str) -> Call[ClusterDetailOut]:
        """Terminate every member, dependents first; the cluster ends `terminated`."""
        return Call("DELETE", path("/v1/clusters/{}", cluster_id), model_of(ClusterDetailOut))
