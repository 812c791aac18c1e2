"""Scaling groups: servers of one template version kept between a minimum and a maximum by the scaler, their
policies, members, activities and history."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Literal

from clanavi.client._calls import Call, body, items_of, model_of, nothing, page_of, path, query
from clanavi.client._endpoints import M, Namespace, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from services.scaler.schemas import (
    ActivityOut,
    GroupIn,
    GroupOut,
    GroupPatch,
    HeartbeatIn,
    HistoryOut,
    HookAnswerIn,
    MemberOut,
    PolicyIn,
    PolicyOut,
    ProtectionIn,
)

__all__ = ["ScalingGroups"]

ROUTE = "/v1/scaling-groups"


class ScalingGroups(Namespace[M]):
    """`/v1/scaling-groups`: groups, their members, policies, activities and history."""

    @listing
    def list(
        self,
        *,
        name: str | None = None,
        template_id: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[GroupOut]:
        """The project's groups, sorted by `created_at` or `name`."""
        filters = query(name=name, template_id=template_id)
        return Listing(ROUTE, page_of(GroupOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, group_id: str) -> Call[GroupOut]:
        return Call("GET", path(f"{ROUTE}/{{}}", group_id), model_of(GroupOut))

    @operation
    def create(self, group: GroupIn | Mapping[str, Any], *, idempotency_key: str | None = None) -> Call[GroupOut]:
        content = body(GroupIn, group)
        return Call("POST", ROUTE, model_of(GroupOut), content=content, idempotency_key=idempotency_key)

    @operation
    def update(self, group_id: str, changes: GroupPatch | Mapping[str, Any]) -> Call[GroupOut]:
        """Change the fields given; a new `desired` is acted on at once."""
        content = body(GroupPatch, changes)
        return Call("PATCH", path(f"{ROUTE}/{{}}", group_id), model_of(GroupOut), content=content)

    @operation
    def delete(self, group_id: str) -> Call[None]:
        """Delete a group that has no members left."""
        return Call("DELETE", path(f"{ROUTE}/{{}}", group_id), nothing)

    @operation
    def instances(self, group_id: str) -> Call[builtins.list[MemberOut]]:
        return Call("GET", path(f"{ROUTE}/{{}}/instances", group_id), items_of(MemberOut))

    @operation
    def protect(self, group_id: str, instance_id: str, protected: bool = True) -> Call[MemberOut]:
        """Protect a member from scale-in (or stop protecting it)."""
        content = body(ProtectionIn, {"protected": protected})
        route = path(f"{ROUTE}/{{}}/instances/{{}}/protection", group_id, instance_id)
        return Call("PUT", route, model_of(MemberOut), content=content)

    @operation
    def policies(self, group_id: str) -> Call[builtins.list[PolicyOut]]:
        return Call("GET", path(f"{ROUTE}/{{}}/policies", group_id), items_of(PolicyOut))

    @operation
    def policy(self, group_id: str, policy_id: str) -> Call[PolicyOut]:
        return Call("GET", path(f"{ROUTE}/{{}}/policies/{{}}", group_id, policy_id), model_of(PolicyOut))

    @operation
    def add_policy(self, group_id: str, policy: PolicyIn | Mapping[str, Any]) -> Call[PolicyOut]:
        content = body(PolicyIn, policy)
        return Call("POST", path(f"{ROUTE}/{{}}/policies", group_id), model_of(PolicyOut), content=content)

    @operation
    def delete_policy(self, group_id: str, policy_id: str) -> Call[None]:
        return Call("DELETE", path(f"{ROUTE}/{{}}/policies/{{}}", group_id, policy_id), nothing)

    @listing
    def activities(
        self, group_id: str, *, order: Order | None = None, limit: int | None = None
    ) -> Listing[ActivityOut]:
        """What the group did, newest first: decisions with their reasons, launches, terminations, hooks."""
        route = path(f"{ROUTE}/{{}}/activities", group_id)
        return Listing(route, page_of(ActivityOut), (), query(order=order), limit)

    @operation
    def history(self, group_id: str, *, minutes: int = 60) -> Call[HistoryOut]:
        """Desired and actual capacity and the first policy's metric, over the last `minutes`."""
        route = path(f"{ROUTE}/{{}}/history", group_id)
        return Call("GET", route, model_of(HistoryOut), params=query(minutes=minutes))

    @operation
    def complete_hook(
        self, group_id: str, hook: str, instance_id: str, result: Literal["CONTINUE", "ABANDON"] = "CONTINUE"
    ) -> Call[None]:
        content = body(HookAnswerIn, {"instance_id": instance_id, "result": result})
        route = path(f"{ROUTE}/{{}}/hooks/{{}}/complete", group_id, hook)
        return Call("POST", route, nothing, content=content)

    @operation
    def heartbeat(self, group_id: str, hook: str, instance_id: str) -> Call[None]:
        content = body(HeartbeatIn, {"instance_id": instance_id})
        route = path(f"{ROUTE}/{{}}/hooks/{{}}/heartbeat", group_id, hook)
        return Call("POST", route, nothing, content=content)
