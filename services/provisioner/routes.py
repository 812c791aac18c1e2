"""The provisioner's public routes, in the order they match: what its app serves and what the gateway proxies."""

from services.provisioner.blocks.api import router as blocks
from services.provisioner.clouds.api import catalogue
from services.provisioner.clouds.api import router as clouds
from services.provisioner.clusters.api import router as clusters
from services.provisioner.guardrails.api import router as guardrails
from services.provisioner.instances.api import router as instances
from services.provisioner.inventory.api import router as inventory
from services.provisioner.metrics.api import router as metrics
from services.provisioner.modules.api import router as modules
from services.provisioner.placement.api import router as placements
from services.provisioner.prices.api import router as prices
from services.provisioner.resources.api import router as resources
from services.provisioner.runs.api import router as runs
from services.provisioner.simulation.api import router as simulation
from services.provisioner.templates.api import router as templates

ROUTERS = (
    catalogue,
    instances,
    runs,
    prices,
    placements,
    clouds,
    resources,
    templates,
    clusters,
    modules,
    inventory,
    guardrails,
    blocks,
    metrics,
    simulation,
)

__all__ = ["ROUTERS"]
