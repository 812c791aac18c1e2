"""The scaler's copy of the projects' cluster roles (what template version each launches), kept from the
provisioner's `cluster.*` events."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.db import Connection

__all__ = ["ClusterRoleRepository"]


class ClusterRoleRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def replace(self, project_id: str, cluster_id: str, roles: Sequence[tuple[str, str, int]]) -> None:
        """The cluster's roles, as (role, template id, template version), in place of those known before."""
        await self._conn.execute("DELETE FROM cluster_roles WHERE cluster_id = $1", cluster_id)
        await self._conn.executemany(
            "INSERT INTO cluster_roles (cluster_id, role, project_id, template_id, template_version)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(cluster_id, role, project_id, template_id, version) for role, template_id, version in roles],
        )

    async def remove(self, cluster_id: str) -> None:
        await self._conn.execute("DELETE FROM cluster_roles WHERE cluster_id = $1", cluster_id)

    async def template_of(self, project_id: str, cluster_id: str, role: str) -> tuple[str, int] | None:
        """The template version the role launches; None when the project has no such cluster role."""
        row = await self._conn.fetchrow(
            "SELECT template_id, template_version FROM cluster_roles"
            " WHERE project_id = $1 AND cluster_id = $2 AND role = $3",
            project_id,
            cluster_id,
            role,
        )
        return None if row is None else (row["template_id"], row["template_version"])
