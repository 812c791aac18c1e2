"""The provisioner's public routes, in the order they match: what its app serves and what the gateway proxies."""

from services.provisioner import accounts_api, api, inventory_api, modules_api, resources_api

ROUTERS = (api.router, accounts_api.router, resources_api.router, modules_api.router, inventory_api.router)

__all__ = ["ROUTERS"]
