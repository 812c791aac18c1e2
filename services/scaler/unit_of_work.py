"""The scaler's repositories on one connection, as its unit of work hands them to the use cases."""

from __future__ import annotations

from kernel.db import Connection
from kernel.unit_of_work import Transaction, UnitOfWork
from services.scaler.clusters.repository import ClusterRoleRepository
from services.scaler.decisions.repository import ActivityRepository, HistoryRepository
from services.scaler.groups.repository import GroupRepository, MemberRepository
from services.scaler.policies.repository import PolicyRepository
from services.scaler.templates.repository import MetricNameRepository, TemplateRepository

__all__ = ["Repositories", "ScalerTransaction", "ScalerUnitOfWork"]


class Repositories:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.groups = GroupRepository(conn)
        self.members = MemberRepository(conn)
        self.policies = PolicyRepository(conn)
        self.templates = TemplateRepository(conn)
        self.cluster_roles = ClusterRoleRepository(conn)
        self.metric_names = MetricNameRepository(conn)
        self.activities = ActivityRepository(conn)
        self.history = HistoryRepository(conn)


ScalerUnitOfWork = UnitOfWork[Repositories]
ScalerTransaction = Transaction[Repositories]
