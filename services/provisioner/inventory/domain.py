"""Inventory: how a cloud's records are reconciled with what the cloud lists; pure functions, no I/O.

A sync lists everything the cloud has, reads every record of the cloud, and compares them with one planner (`plan`)
for every kind it reconciles, instances and volumes, each kind bringing its rules (`rules.InstanceRules`,
`rules.VolumeRules`):
- in the cloud and unknown to Clanavi: adopted, as a record marked `discovered` (`instance.discovered`,
  `volume.discovered`);
- known, no action of Clanavi's under way, and the cloud reports another state: corrected (`*.drifted`);
- known (it has a provider id) and no longer in the cloud, or on its way out there without Clanavi: `gone`
  (`*.vanished`).

What Clanavi is doing itself is never touched: a record with a pending action, one in a transition the engine
follows, one still being created (no provider id yet), and one created or changed since the listing began (the
listing may predate the change) are left alone until a later sync. Ended records (terminated, deleted, gone) are
final.

"Changed since the listing began" is told by row versions, not clocks: a change's timestamp is taken when its
transaction starts, which may be before the cloud call it records, so only a version read before the listing and
the same one read after it prove the record did not move meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Generic, Literal, Protocol, TypeVar

from adapters.base import Instance as CloudInstance
from adapters.base import Volume as CloudVolume
from kernel.events import EventPayload
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.resources.domain import ResourceRecord

SyncTrigger = Literal["scheduled", "manual"]
SyncStatus = Literal["running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class Counts:
    adopted: int = 0
    drifted: int = 0
    vanished: int = 0
    unchanged: int = 0
    # What the cloud listed, and in how many calls.
    listed: int = 0
    list_calls: int = 0
    volumes_adopted: int = 0
    volumes_drifted: int = 0
    volumes_vanished: int = 0
    volumes_unchanged: int = 0
    volumes_listed: int = 0


@dataclass(frozen=True, slots=True)
class SyncRun:
    id: str
    cloud_id: str
    project_id: str
    trigger: SyncTrigger
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None
    counts: Counts
    error: str | None
    correlation_id: str


# A record of one kind (an instance, or a volume of the resources table) and what its cloud lists of it.
R = TypeVar("R", InstanceRecord, ResourceRecord)
C = TypeVar("C", CloudInstance, CloudVolume)
C_contra = TypeVar("C_contra", contravariant=True)


# Not slotted: slots and Generic together break the frozen dataclass's __init__ on Python 3.11.
@dataclass(frozen=True)
class Change(Generic[R]):
    """One record to write: `before` is None for an adopted record; `event` is what the change reports."""

    before: R | None
    after: R
    event: EventPayload


@dataclass(frozen=True)
class Plan(Generic[R]):
    """What one sync writes for one kind of record."""

    adopt: list[Change[R]] = field(default_factory=list)
    drift: list[Change[R]] = field(default_factory=list)
    vanish: list[Change[R]] = field(default_factory=list)
    # Records the cloud lists as they are.
    unchanged: int = 0
    # Records left for later: an action of Clanavi's under way, or changed since the listing began.
    skipped: int = 0

    @property
    def changes(self) -> int:
        return len(self.adopt) + len(self.drift) + len(self.vanish)


@dataclass(frozen=True)
class Sync:
    """The run a plan is made for: what adopted records and every change's event carry."""

    cloud_id: str
    project_id: str
    sync_id: str
    correlation_id: str
    now: datetime


class Rules(Protocol[R, C_contra]):
    """How one kind of record is reconciled with what its cloud lists."""

    def ended(self, record: R) -> bool: ...
    def busy(self, record: R) -> bool:
        """Whether Clanavi is acting on the record (the planner also leaves alone those that moved meanwhile)."""
        ...

    def in_making(self, records: Sequence[R]) -> Callable[[C_contra], bool]:
        """Whether a listed thing is one Clanavi is creating itself, whose answer is not recorded yet."""
        ...

    def adoptable(self, cloud: C_contra) -> bool: ...
    def ending(self, cloud: C_contra) -> bool: ...
    def same(self, record: R, cloud: C_contra) -> bool: ...
    def adopt(self, cloud: C_contra) -> Change[R]: ...
    def drift(self, record: R, cloud: C_contra) -> Change[R]: ...
    def vanish(self, record: R) -> Change[R]: ...


def plan(rules: Rules[R, C], listed: Iterable[C], records: Sequence[R], *, stable: Collection[str]) -> Plan[R]:
    """What a sync changes, given everything the cloud listed, every record of the cloud (read after the listing
    ended), and the ids of the records whose version did not change from before the listing to after it."""
    by_provider: dict[str, R] = {}
    for r in records:
        known = by_provider.get(r.provider_id or "")
        if r.provider_id is not None and (known is None or rules.ended(known)):
            by_provider[r.provider_id] = r  # a live record of the same thing wins over an ended one
    making = rules.in_making(records)
    result: Plan[R] = Plan()
    seen: set[str] = set()
    unchanged = skipped = 0
    for cloud in listed:
        if cloud.id in seen:
            continue  # a listing that moved under us may repeat an item across pages
        seen.add(cloud.id)
        record = by_provider.get(cloud.id)
        if record is None:
            if making(cloud):
                skipped += 1
            elif rules.adoptable(cloud):
                result.adopt.append(rules.adopt(cloud))
        elif rules.ended(record):
            unchanged += 1
        elif rules.busy(record) or record.id not in stable:
            skipped += 1
        elif rules.ending(cloud):
            result.vanish.append(rules.vanish(record))
        elif rules.same(record, cloud):
            unchanged += 1
        else:
            result.drift.append(rules.drift(record, cloud))
    for record in records:
        if record.provider_id is None or record.provider_id in seen or rules.ended(record):
            continue
        if rules.busy(record) or record.id not in stable:
            skipped += 1
        else:
            result.vanish.append(rules.vanish(record))
    return replace(result, unchanged=unchanged, skipped=skipped)


__all__ = ["Change", "Counts", "Plan", "Rules", "Sync", "SyncRun", "SyncStatus", "SyncTrigger", "plan"]
