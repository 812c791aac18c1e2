"""The gateway's routes to the services: made from the services' own route declarations, forwarding each request as
it was received."""

from services.gateway.proxy.routes import ProxiedService, proxy_routes
from services.gateway.proxy.upstream import Upstream

__all__ = ["ProxiedService", "Upstream", "proxy_routes"]
