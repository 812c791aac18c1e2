"""A rule's body, as the API and a template's alert specs give it, made into the rule it asks for."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from services.alerts.rules.domain import Condition, Routing, RuleSpec, Scope
from services.alerts.rules.schemas import AlertRuleIn, BudgetRuleIn, EventRateRuleIn, NoDataRuleIn, ThresholdRuleIn

RULE_BODY: TypeAdapter[Any] = TypeAdapter(AlertRuleIn)


def spec_of(body: ThresholdRuleIn | NoDataRuleIn | EventRateRuleIn | BudgetRuleIn) -> RuleSpec:
    if isinstance(body, ThresholdRuleIn):
        condition = Condition(
            metric=body.metric,
            operator=body.operator,
            value=body.value,
            for_seconds=body.for_seconds,
            keep_firing_for_seconds=body.keep_firing_for_seconds,
            scope=Scope.from_json(body.scope.model_dump()),
        )
    elif isinstance(body, NoDataRuleIn):
        condition = Condition(
            metric=body.metric, quiet_seconds=body.quiet_seconds, scope=Scope.from_json(body.scope.model_dump())
        )
    elif isinstance(body, EventRateRuleIn):
        condition = Condition(
            event_type=body.event_type,
            count=body.count,
            window_seconds=body.window_seconds,
            scope=Scope.from_json(body.scope.model_dump()),
        )
    else:
        condition = Condition(budget_id=body.budget_id, basis=body.basis, min_percent=body.min_percent)
    return RuleSpec(
        name=body.name,
        kind=body.kind,
        severity=body.severity,
        condition=condition,
        channel_ids=tuple(dict.fromkeys(body.channel_ids)),
        routing=Routing.from_json(body.routing.model_dump()),
    )


__all__ = ["RULE_BODY", "spec_of"]
