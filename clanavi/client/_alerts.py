"""Alert rules, the alerts firing now and their history, notification channels (and their deliveries), and
silences: the alerts service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from clanavi.client._calls import Call, body, model_of, nothing, page_of, path, query
from clanavi.client._endpoints import M, Namespace, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from services.alerts.channels.schemas import (
    ChannelCreatedOut,
    ChannelIn,
    ChannelOut,
    ConsoleIn,
    DeliveryOut,
    EmailIn,
    WebhookIn,
)
from services.alerts.firing.schemas import AlertOut
from services.alerts.rules.schemas import (
    AlertRuleIn,
    AlertRuleOut,
    BudgetRuleIn,
    EventRateRuleIn,
    NoDataRuleIn,
    ThresholdRuleIn,
)
from services.alerts.silences.schemas import SilenceIn, SilenceOut

__all__ = ["AlertRules", "Alerts", "Channels", "Silences"]

RuleKind = Literal["threshold", "no_data", "event_rate", "budget"]
Severity = Literal["critical", "warning", "info"]

RuleBody = ThresholdRuleIn | NoDataRuleIn | EventRateRuleIn | BudgetRuleIn | Mapping[str, Any]
ChannelBody = WebhookIn | EmailIn | ConsoleIn | Mapping[str, Any]

_RULE: TypeAdapter[Any] = TypeAdapter(AlertRuleIn)
_CHANNEL: TypeAdapter[Any] = TypeAdapter(ChannelIn)


def _one_of(adapter: TypeAdapter[Any], value: BaseModel | Mapping[str, Any]) -> bytes:
    """The JSON of a body whose model is one of a union chosen by its `kind`: the model itself, or a mapping read as
    the one its `kind` names (refused here when it matches none)."""
    model: BaseModel = adapter.validate_python(value) if isinstance(value, Mapping) else value
    return model.model_dump_json(exclude_unset=True, by_alias=True).encode()


class AlertRules(Namespace[M]):
    """`/v1/alert-rules`: thresholds on metrics, metrics gone quiet, event rates and budgets, routed to channels."""

    @listing
    def list(
        self,
        *,
        kind: RuleKind | None = None,
        name: str | None = None,
        metric: str | None = None,
        channel_id: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[AlertRuleOut]:
        filters = query(kind=kind, name=name, metric=metric, channel_id=channel_id)
        return Listing("/v1/alert-rules", page_of(AlertRuleOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, rule_id: str) -> Call[AlertRuleOut]:
        return Call("GET", path("/v1/alert-rules/{}", rule_id), model_of(AlertRuleOut))

    @operation
    def create(self, rule: RuleBody) -> Call[AlertRuleOut]:
        return Call("POST", "/v1/alert-rules", model_of(AlertRuleOut), content=_one_of(_RULE, rule))

    @operation
    def replace(self, rule_id: str, rule: RuleBody) -> Call[AlertRuleOut]:
        """Set the whole rule anew, as when created."""
        content = _one_of(_RULE, rule)
        return Call("PUT", path("/v1/alert-rules/{}", rule_id), model_of(AlertRuleOut), content=content)

    @operation
    def delete(self, rule_id: str) -> Call[None]:
        return Call("DELETE", path("/v1/alert-rules/{}", rule_id), nothing)


class Alerts(Namespace[M]):
    """`/v1/alerts`: the alerts pending and firing now (silenced ones marked), and the history of those resolved."""

    @listing
    def list(
        self,
        *,
        state: Literal["firing", "pending"] | None = None,
        rule_id: str | None = None,
        severity: Severity | None = None,
        instance_id: str | None = None,
        kind: RuleKind | None = None,
        silenced: bool | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[AlertOut]:
        filters = query(
            state=state, rule_id=rule_id, severity=severity, instance_id=instance_id, kind=kind, silenced=silenced
        )
        return Listing("/v1/alerts", page_of(AlertOut), filters, query(sort=sort, order=order), limit)

    @listing
    def history(
        self,
        *,
        rule_id: str | None = None,
        severity: Severity | None = None,
        instance_id: str | None = None,
        kind: RuleKind | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[AlertOut]:
        filters = query(rule_id=rule_id, severity=severity, instance_id=instance_id, kind=kind)
        return Listing("/v1/alerts/history", page_of(AlertOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, alert_id: str) -> Call[AlertOut]:
        return Call("GET", path("/v1/alerts/{}", alert_id), model_of(AlertOut))


class Channels(Namespace[M]):
    """`/v1/channels`: signed webhooks, e-mail and the console, and each one's deliveries."""

    @listing
    def list(
        self,
        *,
        kind: Literal["webhook", "email", "console"] | None = None,
        name: str | None = None,
        enabled: bool | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[ChannelOut]:
        filters = query(kind=kind, name=name, enabled=enabled)
        return Listing("/v1/channels", page_of(ChannelOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, channel_id: str) -> Call[ChannelOut]:
        return Call("GET", path("/v1/channels/{}", channel_id), model_of(ChannelOut))

    @operation
    def create(self, channel: ChannelBody) -> Call[ChannelCreatedOut]:
        """A webhook's answer holds its signing secret, this once."""
        return Call("POST", "/v1/channels", model_of(ChannelCreatedOut), content=_one_of(_CHANNEL, channel))

    @operation
    def delete(self, channel_id: str) -> Call[None]:
        return Call("DELETE", path("/v1/channels/{}", channel_id), nothing)

    @operation
    def enable(self, channel_id: str) -> Call[ChannelOut]:
        """Send to a webhook again after its endpoint answered 410 Gone."""
        return Call("POST", path("/v1/channels/{}/enable", channel_id), model_of(ChannelOut))

    @listing
    def deliveries(
        self,
        channel_id: str,
        *,
        state: Literal["pending", "delivered", "failed"] | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[DeliveryOut]:
        return Listing(
            path("/v1/channels/{}/deliveries", channel_id),
            page_of(DeliveryOut),
            query(state=state),
            query(sort=sort, order=order),
            limit,
        )


class Silences(Namespace[M]):
    """`/v1/silences`: matchers that mute alerts for a while, or in a weekly window."""

    @listing
    def list(
        self,
        *,
        state: Literal["active", "expired"] | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[SilenceOut]:
        return Listing("/v1/silences", page_of(SilenceOut), query(state=state), query(sort=sort, order=order), limit)

    @operation
    def get(self, silence_id: str) -> Call[SilenceOut]:
        return Call("GET", path("/v1/silences/{}", silence_id), model_of(SilenceOut))

    @operation
    def create(self, silence: SilenceIn | Mapping[str, Any]) -> Call[SilenceOut]:
        return Call("POST", "/v1/silences", model_of(SilenceOut), content=body(SilenceIn, silence))

    @operation
    def expire(self, silence_id: str) -> Call[None]:
        return Call("DELETE", path("/v1/silences/{}", silence_id), nothing)
