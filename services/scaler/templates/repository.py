"""What the scaler knows of its projects without asking the provisioner: the template versions the `template.*`
events told it of, and the metric names the project's agents published."""

from __future__ import annotations

from collections.abc import Iterable

from kernel.db import Connection

__all__ = ["MetricNameRepository", "TemplateRepository"]


class TemplateRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, project_id: str, template_id: str, version: int) -> None:
        await self._conn.execute(
            "INSERT INTO template_versions (template_id, version, project_id) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            template_id,
            version,
            project_id,
        )

    async def deprecate(self, project_id: str, template_id: str, version: int, deprecated: bool) -> None:
        await self._conn.execute(
            "INSERT INTO template_versions (template_id, version, project_id, deprecated) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (template_id, version) DO UPDATE SET deprecated = $4",
            template_id,
            version,
            project_id,
            deprecated,
        )

    async def remove(self, template_id: str, version: int | None = None) -> None:
        await self._conn.execute(
            "DELETE FROM template_versions WHERE template_id = $1 AND ($2::integer IS NULL OR version = $2)",
            template_id,
            version,
        )

    async def state(self, project_id: str, template_id: str, version: int) -> bool | None:
        """Whether the version is deprecated; None when the project has no such version."""
        found: bool | None = await self._conn.fetchval(
            "SELECT deprecated FROM template_versions WHERE project_id = $1 AND template_id = $2 AND version = $3",
            project_id,
            template_id,
            version,
        )
        return found


class MetricNameRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, project_id: str, names: Iterable[str]) -> None:
        await self._conn.execute(
            "INSERT INTO published_metrics (project_id, name) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
            project_id,
            sorted(set(names)),
        )

    async def known(self, project_id: str, name: str) -> bool:
        found = await self._conn.fetchval(
            "SELECT 1 FROM published_metrics WHERE project_id = $1 AND name = $2", project_id, name
        )
        return found is not None
