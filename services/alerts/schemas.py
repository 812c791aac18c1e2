"""The alerts API's models (the gateway imports them for its OpenAPI document), one module per concept."""

from kernel.pagination import Page
from services.alerts.channels.schemas import ChannelCreatedOut, ChannelIn, ChannelOut, DeliveryOut
from services.alerts.firing.schemas import AlertOut
from services.alerts.rules.schemas import AlertRuleIn, AlertRuleOut
from services.alerts.silences.schemas import SilenceIn, SilenceOut

__all__ = [
    "AlertOut",
    "AlertRuleIn",
    "AlertRuleOut",
    "ChannelCreatedOut",
    "ChannelIn",
    "ChannelOut",
    "DeliveryOut",
    "Page",
    "SilenceIn",
    "SilenceOut",
]
