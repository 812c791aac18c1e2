"""The failover service's unit of work: its use cases and its consumer open transactions on it over these
repositories, bound to one connection each."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.db import Connection
from kernel.unit_of_work import UnitOfWork
from services.failover.health.repository import MemberRepository, WatchRepository
from services.failover.policies.repository import PolicyRepository
from services.failover.refreshes.repository import RefreshRepository


@dataclass
class Repositories:
    policies: PolicyRepository
    members: MemberRepository
    watches: WatchRepository
    refreshes: RefreshRepository


def repositories(conn: Connection) -> Repositories:
    return Repositories(
        policies=PolicyRepository(conn),
        members=MemberRepository(conn),
        watches=WatchRepository(conn),
        refreshes=RefreshRepository(conn),
    )


FailoverUnitOfWork = UnitOfWork[Repositories]

__all__ = ["FailoverUnitOfWork", "Repositories", "repositories"]
