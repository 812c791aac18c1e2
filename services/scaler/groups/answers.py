"""Groups and members as the API answers them."""

from __future__ import annotations

from services.scaler.groups.domain import Group, Member
from services.scaler.schemas import GroupOut, HookIn, MemberOut

__all__ = ["group_out", "member_out"]


def group_out(g: Group) -> GroupOut:
    return GroupOut(
        id=g.id,
        name=g.name,
        template_id=g.template_id,
        template_version=g.template_version,
        min_size=g.min_size,
        max_size=g.max_size,
        desired=g.desired,
        allowed_clouds=list(g.allowed_clouds),
        allowed_zones=list(g.allowed_zones),
        strategy=g.strategy,
        tags=g.tags,
        inputs=g.inputs,
        cooldown_seconds=g.cooldown_seconds,
        stabilisation_seconds=g.stabilisation_seconds,
        termination_policies=list(g.termination_policies),
        lifecycle_hooks=[
            HookIn(
                name=h.name, transition=h.transition, timeout_seconds=h.timeout_seconds, default_result=h.default_result
            )
            for h in g.hooks
        ],
        created_at=g.created_at,
        updated_at=g.updated_at,
        last_scaled_at=g.last_scaled_at,
        failures=g.failures,
        backoff_until=g.backoff_until,
        cluster_id=g.cluster_id,
        cluster_role=g.cluster_role,
    )


def member_out(m: Member) -> MemberOut:
    return MemberOut(
        instance_id=m.instance_id,
        state=m.state,
        zone=m.zone,
        template_version=m.template_version,
        protected=m.protected,
        hook=m.hook,
        hook_deadline=m.hook_deadline,
        created_at=m.created_at,
        running_since=m.running_since,
    )
