"""The scaler's public routes: what its app serves and what the gateway proxies."""

from services.scaler.decisions import api as decisions
from services.scaler.groups import api as groups
from services.scaler.policies import api as policies

ROUTERS = (groups.router, policies.router, decisions.router)

__all__ = ["ROUTERS"]
