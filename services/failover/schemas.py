"""The failover API's models (the gateway imports them for its OpenAPI document), one module per concept."""

from kernel.pagination import Page
from services.failover.health.schemas import InstanceHealthOut, SignalReadings
from services.failover.policies.schemas import HealthPolicyIn, HealthPolicyOut
from services.failover.refreshes.schemas import RefreshIn, RefreshOut

__all__ = [
    "HealthPolicyIn",
    "HealthPolicyOut",
    "InstanceHealthOut",
    "Page",
    "RefreshIn",
    "RefreshOut",
    "SignalReadings",
]
