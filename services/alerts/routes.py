"""The alerts service's public routes: what its app serves and what the gateway proxies."""

from services.alerts.channels import api as channels_api
from services.alerts.firing import api as firing_api
from services.alerts.rules import api as rules_api
from services.alerts.silences import api as silences_api

ROUTERS = (rules_api.router, firing_api.router, channels_api.router, silences_api.router)

__all__ = ["ROUTERS"]
