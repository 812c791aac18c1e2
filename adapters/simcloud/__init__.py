"""SimCloud, the simulated cloud that is Clanavi's built-in default."""

from pathlib import Path

from adapters.simcloud.adapter import SimCloudAdapter
from adapters.simcloud.config import SimCloudConfig
from adapters.simcloud.store import SCHEMA, SimStore

MIGRATIONS = Path(__file__).parent / "migrations"

__all__ = ["MIGRATIONS", "SCHEMA", "SimCloudAdapter", "SimCloudConfig", "SimStore"]
