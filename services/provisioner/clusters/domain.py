"""Clusters and the rules of their life; no I/O.

A cluster is a set of roles, each a number of servers from one template version, some roles depending on others.
Its members are launched role by role in dependency order, a role's members together, once every role it depends on
is all running. `step` is the one rule that moves a cluster on: given the cluster and what its members' instances
show now, it answers what to launch, what to terminate, the cluster's next state and the events of the change. The
provisioner applies it whenever it looks (each pass of its worker), so a restart loses nothing: the next pass finds
the same facts and takes the same decision.

A member's number `n` is taken from its role's counter and never given again in that cluster, so a name
`<cluster>-<role>-<n>` is never reused, whatever was scaled in or replaced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from kernel.errors import InvalidState
from kernel.events import (
    ClusterDegraded,
    ClusterRolledBack,
    ClusterRunning,
    ClusterTerminated,
    EventPayload,
    RoleCount,
)
from services.provisioner.clusters.limits import MAX_COUNT

ClusterState = Literal["launching", "running", "degraded", "scaling", "terminating", "terminated", "rolled_back"]
OnFailure = Literal["rollback", "degrade"]
# A member's own record: planned (its instance not made yet), launched (it has one), refused (its launch was refused
# before any instance was made), withdrawn (retired before its launch was made).
MemberStatus = Literal["planned", "launched", "refused", "withdrawn"]

# The states the provisioner moves a cluster on from by itself.
ACTIVE: frozenset[str] = frozenset({"launching", "scaling", "terminating"})
ENDED: frozenset[str] = frozenset({"terminated", "rolled_back"})
# Instance states (see instances.domain) as a member's health counts them.
_RUNNING = "running"
_GONE = frozenset({"terminated", "gone"})
# A member the cluster counts on whose instance ended (terminated by someone else, or gone) failed as much as one in
# error.
_FAILED = frozenset({"error"}) | _GONE


@dataclass(frozen=True, slots=True)
class Role:
    """One role: `count` servers from a template version (None until the cluster is created: its default then) on
    a cloud (or placed by `placement`, the allocator's policy as the request gave it), after `depends_on`."""

    name: str
    template_id: str
    count: int
    template_version: int | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    cloud_id: str | None = None
    placement: Mapping[str, Any] | None = None
    depends_on: tuple[str, ...] = ()
    # The number the role's next member takes.
    next_n: int = 1

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "template_id": self.template_id,
            "count": self.count,
            "template_version": self.template_version,
            "inputs": dict(self.inputs),
            "cloud_id": self.cloud_id,
            "placement": None if self.placement is None else dict(self.placement),
            "depends_on": list(self.depends_on),
            "next_n": self.next_n,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Role:
        return cls(**{**data, "depends_on": tuple(data.get("depends_on") or ())})


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    id: str
    project_id: str
    name: str
    state: str
    on_failure: OnFailure
    roles: tuple[Role, ...]
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    # What failed, while the cluster is degraded or was rolled back.
    reason: str | None = None
    # Whether it has ever been all running: a failure after that degrades it, whatever `on_failure` says.
    was_running: bool = False
    # Members it took out still have instances in their cloud: the provisioner keeps looking at it until they end.
    tidying: bool = False
    last_event_id: str | None = None

    def role(self, name: str) -> Role | None:
        return next((r for r in self.roles if r.name == name), None)


@dataclass(frozen=True, slots=True)
class Member:
    """A member as the cluster sees it: its own record, and its instance's state (None: no instance)."""

    cluster_id: str
    role: str
    n: int
    name: str
    status: MemberStatus
    created_at: datetime
    instance_id: str | None = None
    instance_state: str | None = None
    reason: str | None = None
    retired: bool = False
    replaced_by: int | None = None

    @property
    def failed(self) -> bool:
        return self.status == "refused" or self.instance_state in _FAILED

    @property
    def running(self) -> bool:
        return self.instance_state == _RUNNING

    @property
    def ended(self) -> bool:
        """Nothing of it is left in its cloud, nor will be."""
        return self.status in ("refused", "withdrawn") or self.instance_state in _GONE

    @property
    def counted(self) -> bool:
        """It is one of its role's `count`: neither retired nor on its way out for a replacement."""
        return not self.retired and self.replaced_by is None


def member_name(cluster: str, role: str, n: int) -> str:
    return f"{cluster}-{role}-{n}"


# validation


def _problem(location: str, message: str) -> dict[str, str]:
    return {"location": location, "message": message}


def find_cycle(depends: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A circle of dependencies (its roles in order, the first repeated at the end), or None."""
    colour: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        colour[node] = 1
        path.append(node)
        for after in depends.get(node, ()):
            if after not in depends:
                continue
            if colour.get(after) == 1:
                return [*path[path.index(after) :], after]
            if colour.get(after) is None and (found := walk(after)) is not None:
                return found
        path.pop()
        colour[node] = 2
        return None

    for node in depends:
        if node not in colour and (found := walk(node)) is not None:
            return found
    return None


def spec_problems(roles: Sequence[Role]) -> list[dict[str, str]]:
    """What is wrong with a cluster's roles as given, each named: a role twice, a dependency on no role or on
    itself, a circle of dependencies, a role with neither a cloud nor a placement policy."""
    problems = []
    names = [r.name for r in roles]
    if not roles:
        problems.append(_problem("body.roles", "a cluster needs at least one role"))
    for i, role in enumerate(roles):
        if names.index(role.name) != i:
            problems.append(_problem(f"body.roles.{i}.name", f"role {role.name} is given twice"))
        for j, after in enumerate(role.depends_on):
            if after == role.name:
                problems.append(_problem(f"body.roles.{i}.depends_on.{j}", "a role cannot depend on itself"))
            elif after not in names:
                problems.append(_problem(f"body.roles.{i}.depends_on.{j}", f"no role {after} in this cluster"))
        if role.cloud_id is None and role.placement is None:
            problems.append(_problem(f"body.roles.{i}.cloud_id", "name a cloud or give a placement policy"))
        if not 0 <= role.count <= MAX_COUNT:
            problems.append(_problem(f"body.roles.{i}.count", f"from 0 to {MAX_COUNT}"))
    graph: dict[str, list[str]] = {}
    for r in roles:  # a role given twice depends on what either says
        graph.setdefault(r.name, []).extend(d for d in r.depends_on if d != r.name)
    cycle = find_cycle(graph)
    if cycle is not None:
        at = names.index(cycle[0])
        problems.append(_problem(f"body.roles.{at}.depends_on", "dependency cycle: " + " -> ".join(cycle)))
    return problems


def ordered(roles: Sequence[Role]) -> list[Role]:
    """The roles with every role after those it depends on (given order kept where the dependencies allow)."""
    left = list(roles)
    done: set[str] = set()
    out: list[Role] = []
    while left:
        ready = [r for r in left if set(r.depends_on) <= done]
        if not ready:  # refused at creation: never happens for a stored cluster
            raise ValueError("the roles depend on each other in a circle")
        out.extend(ready)
        done.update(r.name for r in ready)
        left = [r for r in left if r.name not in done]
    return out


def dependents(roles: Sequence[Role], name: str) -> set[str]:
    """Every role that depends on `name`, directly or through others."""
    found: set[str] = set()
    grew = True
    while grew:
        grew = False
        for role in roles:
            if role.name not in found and (name in role.depends_on or found & set(role.depends_on)):
                found.add(role.name)
                grew = True
    return found


# counts


@dataclass(frozen=True, slots=True)
class RoleHealth:
    name: str
    desired: int
    # The counted members' states: an instance's state, `planned`, or `refused`.
    states: Mapping[str, int]

    @property
    def running(self) -> int:
        return self.states.get(_RUNNING, 0)

    @property
    def health(self) -> float:
        """The share of the desired members running (1.0 for a role of none)."""
        return 1.0 if self.desired == 0 else round(min(self.running, self.desired) / self.desired, 4)


def member_state(member: Member) -> str:
    if member.status != "launched":
        return member.status
    return member.instance_state or "requested"


def health(cluster: ClusterRecord, members: Iterable[Member]) -> list[RoleHealth]:
    by_role: dict[str, Counter[str]] = {r.name: Counter() for r in cluster.roles}
    for m in members:
        if m.counted and m.role in by_role:
            by_role[m.role][member_state(m)] += 1
    return [RoleHealth(r.name, r.count, dict(by_role[r.name])) for r in cluster.roles]


def counts(cluster: ClusterRecord, members: Iterable[Member]) -> list[RoleCount]:
    roles = {r.name: r for r in cluster.roles}
    return [
        RoleCount(
            role=h.name,
            desired=h.desired,
            running=h.running,
            members=sum(h.states.values()),
            template_id=roles[h.name].template_id,
            template_version=roles[h.name].template_version,
        )
        for h in health(cluster, members)
    ]


# the cluster's progress


@dataclass(frozen=True)
class Step:
    """What a look at a cluster decides: the cluster as it is to be saved, members to add (planned, numbered from
    their role's counter), members to retire, instances to terminate, and the events."""

    cluster: ClusterRecord
    plan: list[Member] = field(default_factory=list)
    retire: list[Member] = field(default_factory=list)
    terminate: list[str] = field(default_factory=list)
    events: list[EventPayload] = field(default_factory=list)
    # Whether the cluster's own record changed otherwise (it is tidying up, or has done so).
    touched: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.plan or self.retire or self.events or self.touched)


def _planned(cluster: ClusterRecord, role: Role, how_many: int, now: datetime) -> tuple[Role, list[Member]]:
    made = [
        Member(cluster.id, role.name, n, member_name(cluster.name, role.name, n), "planned", now)
        for n in range(role.next_n, role.next_n + how_many)
    ]
    return replace(role, next_n=role.next_n + how_many), made


def _retired(member: Member) -> Member:
    """A member taken out of its cluster; one whose launch was not made yet is withdrawn, so it never is."""
    return replace(member, retired=True, status="withdrawn" if member.status == "planned" else member.status)


def _to_terminate(members: Iterable[Member]) -> list[str]:
    """Instances of retired members still in their cloud and not terminating: asked to terminate again on every look
    (the request is idempotent), so one lost to a restart is made again."""
    return [
        m.instance_id
        for m in members
        if m.retired and m.instance_id is not None and not m.ended and m.instance_state != "terminating"
    ]


def _failure(cluster: ClusterRecord, failed: Sequence[Member]) -> str:
    first = failed[0]
    what = "its launch was refused" if first.status == "refused" else f"its instance is {first.instance_state}"
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"member {first.name} of role {first.role} failed: {what}{more}"


def step(cluster: ClusterRecord, members: Sequence[Member], now: datetime) -> Step:
    """The decision a look at the cluster takes now (see the module's docstring). A cluster keeps being looked at
    while it is `tidying`: members it took out still have instances in their cloud (a rolled back or degraded
    cluster's too), so that a terminate lost to a restart is asked for again."""
    decided = _decide(cluster, members, now)
    retired = {(m.role, m.n): m for m in decided.retire}
    after = [retired.get((m.role, m.n), m) for m in members]
    tidying = any(m.retired and m.instance_id is not None and not m.ended for m in after)
    if decided.cluster.tidying == tidying:
        return decided
    return replace(decided, cluster=replace(decided.cluster, tidying=tidying), touched=True)


def _decide(cluster: ClusterRecord, members: Sequence[Member], now: datetime) -> Step:
    if cluster.state == "terminating":
        return _terminating(cluster, members, now)
    if cluster.state not in ("launching", "scaling"):
        return Step(cluster, terminate=_to_terminate(members))
    failed = [m for m in members if m.counted and m.failed]
    if failed:
        reason = _failure(cluster, failed)
        if cluster.on_failure == "rollback" and not cluster.was_running:
            return _rolled_back(cluster, members, reason, now)
        after = replace(cluster, state="degraded", reason=reason, updated_at=now)
        event = ClusterDegraded(cluster_id=cluster.id, name=cluster.name, reason=reason, roles=counts(after, members))
        return Step(after, terminate=_to_terminate(members), events=[event])
    roles = {r.name: r for r in cluster.roles}
    counted = [m for m in members if m.counted]
    ready: set[str] = set()
    plan: list[Member] = []
    retire: list[Member] = []
    for role in ordered(cluster.roles):
        mine = [m for m in counted if m.role == role.name]
        if len(mine) > role.count:
            # Scale in: the newest go first.
            retire += sorted(mine, key=lambda m: m.n)[role.count :]
            mine = sorted(mine, key=lambda m: m.n)[: role.count]
        if not set(role.depends_on) <= ready:
            continue
        if len(mine) < role.count:
            roles[role.name], made = _planned(cluster, role, role.count - len(mine), now)
            plan += made
            continue
        if all(m.running for m in mine):
            ready.add(role.name)
            # Members this role's new ones replace leave once those run.
            retire += [m for m in members if m.role == role.name and not m.retired and m.replaced_by is not None]
    after = replace(cluster, roles=tuple(roles[r.name] for r in cluster.roles))
    events: list[EventPayload] = []
    if len(ready) == len(cluster.roles) and not retire:
        after = replace(after, state="running", reason=None, was_running=True)
        events.append(ClusterRunning(cluster_id=cluster.id, name=cluster.name, roles=counts(after, members)))
    if plan or retire or events:
        after = replace(after, updated_at=now)
    retired = [_retired(m) for m in retire]
    return Step(
        after, plan, retired, [m.instance_id for m in retired if m.instance_id] + _to_terminate(members), events
    )


def _rolled_back(cluster: ClusterRecord, members: Sequence[Member], reason: str, now: datetime) -> Step:
    retire = [_retired(m) for m in members if not m.retired]
    after = replace(cluster, state="rolled_back", reason=reason, updated_at=now)
    gone = [_retired(m) for m in members]
    event = ClusterRolledBack(cluster_id=cluster.id, name=cluster.name, reason=reason, roles=counts(after, members))
    return Step(after, retire=retire, terminate=_to_terminate(gone), events=[event])


def _terminating(cluster: ClusterRecord, members: Sequence[Member], now: datetime) -> Step:
    """Dependents go before what they depend on: a role's members are terminated once no member of a role that
    depends on it is left in its cloud."""
    retire = [_retired(m) for m in members if not m.retired]
    everyone = [_retired(m) for m in members]
    left = {m.role for m in everyone if not m.ended}
    if not left:
        after = replace(cluster, state="terminated", updated_at=now)
        event = ClusterTerminated(cluster_id=cluster.id, name=cluster.name, roles=counts(after, members))
        return Step(after, retire=retire, events=[event])
    free = {r.name for r in cluster.roles if not dependents(cluster.roles, r.name) & left}
    # Members of roles no longer in the cluster's roles (none today) go at once.
    known = {r.name for r in cluster.roles}
    terminate = _to_terminate(m for m in everyone if m.role in free or m.role not in known)
    return Step(replace(cluster, updated_at=now) if retire else cluster, retire=retire, terminate=terminate)


# what users ask


def scaled(cluster: ClusterRecord, role_name: str, count: int, now: datetime) -> ClusterRecord:
    """The cluster with a role's count changed; raises InvalidState once it is ending or ended."""
    _changeable(cluster, "scale")
    roles = tuple(replace(r, count=count) if r.name == role_name else r for r in cluster.roles)
    state = "launching" if cluster.state == "launching" else "scaling"
    return replace(cluster, roles=roles, state=state, reason=None, updated_at=now)


def _changeable(cluster: ClusterRecord, what: str) -> None:
    if cluster.state in ("terminating", *ENDED) or (what != "retry" and cluster.state == "degraded"):
        raise InvalidState(f"Cannot {what} cluster {cluster.id} while it is {cluster.state}.", state=cluster.state)


def replacing(cluster: ClusterRecord, old: Member, now: datetime) -> tuple[ClusterRecord, Member, Member]:
    """The cluster, the member that replaces `old` (planned, with the role's next number) and `old` marked as
    replaced by it; raises InvalidState once the cluster is ending, or `old` already leaves."""
    _changeable(cluster, "replace a member of")
    if not old.counted:
        raise InvalidState(f"Member {old.name} is already leaving its cluster.", state=cluster.state)
    role = cluster.role(old.role)
    assert role is not None
    role, made = _planned(cluster, role, 1, now)
    roles = tuple(role if r.name == role.name else r for r in cluster.roles)
    state = "launching" if cluster.state == "launching" else "scaling"
    after = replace(cluster, roles=roles, state=state, updated_at=now)
    return after, made[0], replace(old, replaced_by=made[0].n)


def retried(cluster: ClusterRecord, members: Sequence[Member], now: datetime) -> tuple[ClusterRecord, list[Member]]:
    """A degraded cluster set to try again: its failed members retired (their instances terminated), so that the
    next look plans new ones; raises InvalidState unless it is degraded."""
    if cluster.state != "degraded":
        raise InvalidState(
            f"Cluster {cluster.id} is {cluster.state}: only a degraded one is retried.", state=cluster.state
        )
    retire = [_retired(m) for m in members if m.counted and m.failed]
    # A replacement that failed leaves the member it was to replace in the cluster again.
    failed_n = {(m.role, m.n) for m in retire}
    restored = [
        replace(m, replaced_by=None)
        for m in members
        if m.replaced_by is not None and (m.role, m.replaced_by) in failed_n
    ]
    state = "scaling" if cluster.was_running else "launching"
    return replace(cluster, state=state, reason=None, updated_at=now), retire + restored


def terminating(cluster: ClusterRecord, now: datetime) -> ClusterRecord:
    """The cluster asked to terminate (the same cluster when it already is, or is terminated)."""
    if cluster.state in ("terminating", "terminated"):
        return cluster
    return replace(cluster, state="terminating", updated_at=now)


__all__ = [
    "ACTIVE",
    "ENDED",
    "MAX_COUNT",
    "ClusterRecord",
    "ClusterState",
    "Member",
    "MemberStatus",
    "OnFailure",
    "Role",
    "RoleHealth",
    "Step",
    "counts",
    "dependents",
    "find_cycle",
    "health",
    "member_name",
    "member_state",
    "ordered",
    "replacing",
    "retried",
    "scaled",
    "spec_problems",
    "step",
    "terminating",
]
