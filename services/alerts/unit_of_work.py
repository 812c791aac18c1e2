"""The alerts service's unit of work: its use cases, its consumer and its loops open transactions on it over these
repositories, bound to one connection each."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.db import Connection
from kernel.unit_of_work import UnitOfWork
from services.alerts.channels.repository import ChannelRepository, DeliveryRepository, GroupRepository
from services.alerts.firing.repository import AlertRepository
from services.alerts.rules.repository import KnowledgeRepository, RuleRepository
from services.alerts.silences.repository import SilenceRepository


@dataclass
class Repositories:
    rules: RuleRepository
    knowledge: KnowledgeRepository
    alerts: AlertRepository
    channels: ChannelRepository
    groups: GroupRepository
    deliveries: DeliveryRepository
    silences: SilenceRepository


def repositories(conn: Connection) -> Repositories:
    return Repositories(
        rules=RuleRepository(conn),
        knowledge=KnowledgeRepository(conn),
        alerts=AlertRepository(conn),
        channels=ChannelRepository(conn),
        groups=GroupRepository(conn),
        deliveries=DeliveryRepository(conn),
        silences=SilenceRepository(conn),
    )


AlertsUnitOfWork = UnitOfWork[Repositories]
# The channel a transaction that changed an alert notifies: the notifier wakes at once.
NOTIFY_CHANNEL = "alerts_notify"

__all__ = ["NOTIFY_CHANNEL", "AlertsUnitOfWork", "Repositories", "repositories"]
