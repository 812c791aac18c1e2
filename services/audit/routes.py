"""The audit service's public routes: what its app serves and what the gateway proxies."""

from services.audit import api

ROUTERS = (api.router,)

__all__ = ["ROUTERS"]
