"""Health policies (what the failover service watches and how it remediates), the health of the instances they
watch, and instance refreshes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from clanavi.client._calls import Call, body, model_of, nothing, page_of, path, query
from clanavi.client._endpoints import M, Namespace, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from services.failover.health.schemas import InstanceHealthOut
from services.failover.policies.schemas import HealthPolicyIn, HealthPolicyOut
from services.failover.refreshes.schemas import RefreshIn, RefreshOut

__all__ = ["HealthPolicies", "InstanceHealth", "Refreshes"]

Action = Literal["replace", "reboot", "promote_standby", "quarantine"]
Health = Literal["healthy", "unhealthy", "unknown"]
RefreshState = Literal["running", "paused", "completed", "rolled_back", "cancelled"]


class HealthPolicies(Namespace[M]):
    """`/v1/health-policies`: a target's instances watched by signals, remediated behind a circuit breaker."""

    @listing
    def list(
        self,
        *,
        action: Action | None = None,
        name: str | None = None,
        scaling_group_id: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[HealthPolicyOut]:
        filters = query(action=action, name=name, scaling_group_id=scaling_group_id)
        return Listing("/v1/health-policies", page_of(HealthPolicyOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, policy_id: str) -> Call[HealthPolicyOut]:
        return Call("GET", path("/v1/health-policies/{}", policy_id), model_of(HealthPolicyOut))

    @operation
    def create(self, policy: HealthPolicyIn | Mapping[str, Any]) -> Call[HealthPolicyOut]:
        content = body(HealthPolicyIn, policy)
        return Call("POST", "/v1/health-policies", model_of(HealthPolicyOut), content=content)

    @operation
    def replace(self, policy_id: str, policy: HealthPolicyIn | Mapping[str, Any]) -> Call[HealthPolicyOut]:
        """Set the whole policy anew, as when created."""
        content = body(HealthPolicyIn, policy)
        return Call("PUT", path("/v1/health-policies/{}", policy_id), model_of(HealthPolicyOut), content=content)

    @operation
    def delete(self, policy_id: str) -> Call[None]:
        return Call("DELETE", path("/v1/health-policies/{}", policy_id), nothing)

    @operation
    def reset_breaker(self, policy_id: str) -> Call[HealthPolicyOut]:
        """Close the breaker: remediation resumes, through the breaker again."""
        return Call("POST", path("/v1/health-policies/{}/breaker/reset", policy_id), model_of(HealthPolicyOut))


class InstanceHealth(Namespace[M]):
    """`/v1/instance-health`: each watched instance's health under each policy, with its signals and reasons."""

    @listing
    def list(
        self,
        *,
        policy_id: str | None = None,
        health: Health | list[Health] | None = None,
        quarantined: bool | None = None,
        instance_id: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[InstanceHealthOut]:
        filters = query(policy_id=policy_id, health=health, quarantined=quarantined, instance_id=instance_id)
        return Listing("/v1/instance-health", page_of(InstanceHealthOut), filters, query(sort=sort, order=order), limit)


class Refreshes(Namespace[M]):
    """`/v1/refreshes`: rolling replacement of a policy's target to a new template version."""

    @listing
    def list(
        self,
        *,
        policy_id: str | None = None,
        state: RefreshState | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[RefreshOut]:
        filters = query(policy_id=policy_id, state=state)
        return Listing("/v1/refreshes", page_of(RefreshOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, refresh_id: str) -> Call[RefreshOut]:
        return Call("GET", path("/v1/refreshes/{}", refresh_id), model_of(RefreshOut))

    @operation
    def start(self, refresh: RefreshIn | Mapping[str, Any]) -> Call[RefreshOut]:
        content = body(RefreshIn, refresh)
        return Call("POST", "/v1/refreshes", model_of(RefreshOut), content=content)

    @operation
    def resume(self, refresh_id: str) -> Call[RefreshOut]:
        """Let a refresh paused at its checkpoint go on."""
        return Call("POST", path("/v1/refreshes/{}/continue", refresh_id), model_of(RefreshOut))

    @operation
    def cancel(self, refresh_id: str) -> Call[RefreshOut]:
        return Call("POST", path("/v1/refreshes/{}/cancel", refresh_id), model_of(RefreshOut))
