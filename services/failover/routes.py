"""The failover service's public routes: what its app serves and what the gateway proxies."""

from services.failover.health import api as health_api
from services.failover.policies import api as policies_api
from services.failover.refreshes import api as refreshes_api

ROUTERS = (policies_api.router, health_api.router, refreshes_api.router)

__all__ = ["ROUTERS"]
