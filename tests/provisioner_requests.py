"""Requests tests make of the provisioner's use cases, with what the API would pass: in project `p`, on its cloud
`sim` (as both the fakes and the integration tests' parts have them)."""

from __future__ import annotations

from services.provisioner.resources import handlers
from services.provisioner.resources.handlers import Outcome, Ports


async def request_volume(
    ports: Ports, name: str = "data", size_gb: int | None = 1, *, snapshot_id: str | None = None
) -> Outcome:
    """A volume asked for as the API asks: answered done, or accepted with its creation left to the engine."""
    return await handlers.create_volume(
        ports,
        project_id="p",
        cloud_id="sim",
        name=name,
        size_gb=size_gb,
        zone=None,
        snapshot_id=snapshot_id,
        correlation_id="c",
    )
