"""The cluster use cases: create (or preview) a cluster, read it, scale a role, replace a member, retry, terminate;
and `Clusters.follow`, the pass of the provisioner's worker that moves every active cluster on.

No FastAPI here. A request only records what it asks for; the worker's pass launches members (through the launch use
case, so everything a launch checks applies to each member) and terminates them (through the normal terminate, so
decommission scripts run first). A member is recorded before its launch is asked for, and its instance is attached
to it in the launch's own transaction: whatever fails, every instance a cluster made is one of its members.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from kernel.errors import ClanaviError, InvalidState, NotFound, ValidationFailed
from kernel.events import ClusterCreated, ClusterRoleScaled
from kernel.keyset import PageRequest
from kernel.unit_of_work import UnitOfWork
from services.provisioner.blocks import handlers as blocks
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clusters import domain
from services.provisioner.clusters.domain import ClusterRecord, Member, OnFailure, Role
from services.provisioner.clusters.repository import ClusterFilter, ClusterRepository
from services.provisioner.errors import RetryLater
from services.provisioner.guardrails import handlers as guardrails
from services.provisioner.guardrails.domain import Demand
from services.provisioner.instances import handlers as instances
from services.provisioner.instances import preview
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.instances.handlers import LaunchRequest, TemplateLaunch
from services.provisioner.instances.preview import LaunchPreview, PreviewStore
from services.provisioner.owned import owned
from services.provisioner.placement.domain import PlacementPolicy

log = logging.getLogger(__name__)

# Members launched at once by one pass: each launch reads the template and the cloud's catalogue.
LAUNCHES_AT_ONCE = 8


class ClusterStore(PreviewStore, Protocol):
    @property
    def clusters(self) -> ClusterRepository: ...


Work = UnitOfWork[ClusterStore]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ClusterRequest:
    project_id: str
    name: str
    roles: Sequence[Role]
    on_failure: OnFailure
    correlation_id: str


@dataclass(frozen=True)
class RolePreview:
    """A role's dry run: where each of its members would go and what one costs, and the role's cost (`count` of
    them; None when the flavor is not priced)."""

    role: str
    count: int
    launch: LaunchPreview
    hourly: Decimal | None
    monthly: Decimal | None


@dataclass(frozen=True)
class ClusterPreview:
    roles: list[RolePreview]
    # The whole cluster's, when every role is priced in one currency.
    currency: str | None
    hourly: Decimal | None
    monthly: Decimal | None


def _member_launch(
    project_id: str, role: Role, name: str, correlation_id: str, cluster_id: str | None = None
) -> LaunchRequest:
    """A member's launch: on the role's cloud, or placed by the role's policy among the role's members (`group`;
    a dry run, which has no cluster yet, places one member alone)."""
    return LaunchRequest(
        project_id=project_id,
        cloud_id=role.cloud_id or "",
        name=name,
        image_id="",
        flavor_id="",
        correlation_id=correlation_id,
        placement=_policy(role, cluster_id),
    )


def _policy(role: Role, cluster_id: str | None) -> PlacementPolicy | None:
    if role.placement is None:
        return None
    given = role.placement
    return PlacementPolicy(
        strategy=given.get("strategy", "cheapest"),
        cloud_ids=tuple(given.get("cloud_ids") or ()),
        zones=tuple(given.get("zones") or ()),
        group=None if cluster_id is None else f"cluster:{cluster_id}:role:{role.name}",
        affinity=given.get("affinity", "none"),
        anti_affinity_scope=given.get("anti_affinity_scope", "zone"),
        seed=given.get("seed"),
    )


def _template(role: Role) -> TemplateLaunch:
    return TemplateLaunch(role.template_id, role.template_version, cluster_inputs=role.inputs)


def _relocated(problems: Sequence[Mapping[str, str]], i: int) -> list[dict[str, str]]:
    """A member launch's problems named where they are in the cluster's request (`body.roles.<i>.…`)."""
    return [
        {**p, "location": f"body.roles.{i}." + p["location"].removeprefix("body.")}
        if p.get("location", "").startswith("body.")
        else dict(p)
        for p in problems
    ]


async def _checked(uow: Work, clouds: CloudDirectory, req: ClusterRequest) -> tuple[list[Role], list[RolePreview]]:
    """The roles with their template versions resolved, and each one's dry run; raises ValidationFailed naming every
    problem of every role (a member's launch checked as the launch checks it) before anything is recorded."""
    problems = domain.spec_problems(req.roles)
    if problems:
        raise ValidationFailed("The cluster's roles are not valid.", errors=problems)
    roles: list[Role] = []
    seen: list[RolePreview] = []
    members_tags: list[dict[str, str]] = []
    for i, role in enumerate(req.roles):
        launch = _member_launch(req.project_id, role, domain.member_name(req.name, role.name, 1), "")
        try:
            # A role placed by policy is checked on the cloud the allocator would choose for one member.
            launch, _ = await instances.placed(uow, clouds, launch, _template(role))
            draft, made, _, _ = await instances.drafted(uow, clouds, launch, _template(role))
            secret = sorted(n for n, r in draft.resolved.items() if r.level == "cluster" and r.spec.secret)
            problems += [
                {"location": f"body.roles.{i}.inputs.{n}", "message": "a secret is set on the template, not here"}
                for n in secret
            ]
            one = await preview.preview(uow, clouds, launch, _template(role))
        except ValidationFailed as exc:
            problems += _relocated(exc.extensions.get("errors") or [], i)
            continue
        # What the project's guard-rails refuse of a member (a required tag, a lifetime) is refused here, for all.
        problems += _relocated([dict(p) for p in one.guardrails.problems], i)
        roles.append(replace(role, template_version=one.template_version))
        members_tags.append(dict(made.tags))
        hourly = None if one.hourly is None else one.hourly * role.count
        monthly = None if one.monthly is None else one.monthly * role.count
        seen.append(RolePreview(role.name, role.count, one, hourly, monthly))
    if problems:
        raise ValidationFailed("A role of the cluster cannot be launched as given.", errors=problems)
    # A new cluster has no id a budget could name yet: the project's and the tags' blocks refuse it.
    await blocks.check_launches(uow, req.project_id, [(tags, None) for tags in members_tags])
    await _within_quotas(uow, clouds, req.project_id, seen)
    return roles, seen


async def _within_quotas(uow: Work, clouds: CloudDirectory, project_id: str, seen: Sequence[RolePreview]) -> None:
    """Refuse (409 `quota_exceeded`) a cluster whose members together would exceed the project's quotas, before
    any is launched; each member's launch is judged again as it is made."""
    vcpus = 0
    for role in seen:
        flavor = await clouds.flavor(role.launch.cloud_id, role.launch.flavor_id)
        vcpus += flavor.vcpus * role.count
    currencies = {r.launch.currency for r in seen if r.monthly is not None}
    monthly = sum((r.monthly or Decimal(0) for r in seen), Decimal(0)) if len(currencies) == 1 else None
    demand = Demand(
        vcpus=vcpus,
        monthly=monthly,
        currency=currencies.pop() if monthly is not None else None,
        tags={},
        count=sum(r.count for r in seen),
    )
    verdict = await guardrails.preview(uow, clouds, project_id=project_id, demand=demand, now=_now())
    if verdict.exceeded:
        guardrails.refuse(replace(verdict, problems=()))


def _total(roles: Sequence[RolePreview]) -> ClusterPreview:
    currencies = {r.launch.currency for r in roles}
    priced = len(currencies) == 1 and None not in currencies and all(r.hourly is not None for r in roles)
    if not priced:
        return ClusterPreview(list(roles), None, None, None)
    return ClusterPreview(
        list(roles),
        currencies.pop(),
        sum((r.hourly or Decimal(0) for r in roles), Decimal(0)),
        sum((r.monthly or Decimal(0) for r in roles), Decimal(0)),
    )


async def preview_cluster(uow: Work, clouds: CloudDirectory, req: ClusterRequest) -> ClusterPreview:
    """What creating the cluster would launch and cost; raises what creating it would. Nothing is recorded."""
    _, seen = await _checked(uow, clouds, req)
    return _total(seen)


async def create(uow: Work, clouds: CloudDirectory, req: ClusterRequest) -> ClusterRecord:
    """Accept a cluster (422 naming each problem of its roles, nothing recorded); the worker launches it."""
    roles, _ = await _checked(uow, clouds, req)
    now = _now()
    cluster = ClusterRecord(
        id=str(uuid.uuid4()),
        project_id=req.project_id,
        name=req.name,
        state="launching",
        on_failure=req.on_failure,
        roles=tuple(roles),
        correlation_id=req.correlation_id,
        created_at=now,
        updated_at=now,
    )
    event = ClusterCreated(
        cluster_id=cluster.id, name=cluster.name, on_failure=cluster.on_failure, roles=domain.counts(cluster, [])
    )
    async with uow.transaction() as tx:
        cluster = tx.changed(cluster, event)
        await tx.repos.clusters.add(cluster)
    return cluster


async def _owned(repo: ClusterRepository, project_id: str, cluster_id: str, *, lock: bool = False) -> ClusterRecord:
    return owned(await repo.get(project_id, cluster_id, lock=lock), "cluster", cluster_id)


async def get(uow: Work, project_id: str, cluster_id: str) -> tuple[ClusterRecord, list[Member]]:
    async with uow.reading() as repos:
        cluster = await _owned(repos.clusters, project_id, cluster_id)
        return cluster, await repos.clusters.members(cluster.id)


async def page(uow: Work, flt: ClusterFilter, request: PageRequest) -> tuple[list[ClusterRecord], str | None]:
    async with uow.reading() as repos:
        return await repos.clusters.page(flt, request)


async def scale(
    uow: Work, *, project_id: str, cluster_id: str, role: str, count: int, correlation_id: str
) -> ClusterRecord:
    """Change a role's count (409 once the cluster is ending, or degraded: retry it first). Scaling in takes the
    newest members out first; their instances are terminated the normal way."""
    async with uow.transaction() as tx:
        cluster = await _owned(tx.repos.clusters, project_id, cluster_id, lock=True)
        before = cluster.role(role)
        if before is None:
            raise NotFound(f"Cluster {cluster_id} has no role {role}.")
        if before.count == count:
            return cluster
        if count > before.count:
            await _may_grow(tx.repos, cluster, before)
        after = replace(domain.scaled(cluster, role, count, _now()), correlation_id=correlation_id)
        members = await tx.repos.clusters.members(cluster.id)
        event = ClusterRoleScaled(
            cluster_id=cluster.id,
            name=cluster.name,
            role=role,
            previous_count=before.count,
            count=count,
            roles=domain.counts(after, members),
        )
        after = tx.changed(after, event)
        await tx.repos.clusters.save(after)
        return after


async def _may_grow(repos: ClusterStore, cluster: ClusterRecord, role: Role) -> None:
    """Refuse (409 `budget_exceeded`) more members of `role` when a budget blocks launches into the cluster, the
    project, or the tags of the role's template version."""
    found = await repos.templates.launchable(cluster.project_id, role.template_id, role.template_version)
    tags = dict(found.found.spec.tags) if found is not None and found.found is not None else {}
    await blocks.check_launch(repos, cluster.project_id, tags=tags, cluster_id=cluster.id)


async def replace_member(
    uow: Work, *, project_id: str, cluster_id: str, instance_id: str, correlation_id: str
) -> tuple[ClusterRecord, Member]:
    """Replace a member: a new one (with a new name) is launched, and the old one terminated once it runs. 404 for
    an instance that is not a member of the cluster, 409 for one already leaving it."""
    async with uow.transaction() as tx:
        cluster = await _owned(tx.repos.clusters, project_id, cluster_id, lock=True)
        members = await tx.repos.clusters.members(cluster.id)
        old = next((m for m in members if m.instance_id == instance_id and not m.retired), None)
        if old is None:
            raise NotFound(f"Instance {instance_id} is not a member of cluster {cluster_id}.")
        after, new, old = domain.replacing(cluster, old, _now())
        await tx.repos.clusters.add_members([new])
        await tx.repos.clusters.update_members([old])
        await tx.repos.clusters.save(replace(after, correlation_id=correlation_id))
        return after, new


async def retry(uow: Work, *, project_id: str, cluster_id: str, correlation_id: str) -> ClusterRecord:
    """Try again what failed in a degraded cluster (409 otherwise): its failed members are retired (their instances
    terminated) and new ones launched in their place."""
    async with uow.transaction() as tx:
        cluster = await _owned(tx.repos.clusters, project_id, cluster_id, lock=True)
        members = await tx.repos.clusters.members(cluster.id)
        after, changed = domain.retried(cluster, members, _now())
        await tx.repos.clusters.update_members(changed)
        after = replace(after, correlation_id=correlation_id)
        await tx.repos.clusters.save(after)
        return after


async def terminate(uow: Work, *, project_id: str, cluster_id: str, correlation_id: str) -> ClusterRecord:
    """Terminate every member, dependents before what they depend on, each through the normal terminate (its
    decommission scripts first); the cluster ends `terminated`."""
    async with uow.transaction() as tx:
        cluster = await _owned(tx.repos.clusters, project_id, cluster_id, lock=True)
        after = domain.terminating(cluster, _now())
        if after is cluster:
            return cluster
        after = replace(after, correlation_id=correlation_id)
        await tx.repos.clusters.save(after)
        return after


# the worker's pass


@dataclass(frozen=True)
class _Enlisted:
    """A planned member's launch: its instance is attached to it in the launch's transaction."""

    member: Member

    @property
    def cluster_id(self) -> str:
        return self.member.cluster_id

    @property
    def role(self) -> str:
        return self.member.role

    async def recorded(self, repos: Any, instance: InstanceRecord) -> None:
        clusters: ClusterRepository = repos.clusters
        if not await clusters.attach(self.member, instance.id):
            raise InvalidState(f"Member {self.member.name} is no longer waiting for its launch.", state="withdrawn")


async def role_to_join(uow: Work, project_id: str, cluster_id: str, role_name: str) -> tuple[ClusterRecord, Role]:
    """The cluster and role a launch by command joins: 404 for an unknown cluster or role, 409 unless the cluster
    is running (a cluster the worker is moving on plans its members itself)."""
    async with uow.reading() as repos:
        cluster = await _owned(repos.clusters, project_id, cluster_id)
    return _joinable(cluster, role_name)


def _joinable(cluster: ClusterRecord, role_name: str) -> tuple[ClusterRecord, Role]:
    role = cluster.role(role_name)
    if role is None:
        raise NotFound(f"Cluster {cluster.id} has no role {role_name}.")
    if cluster.state != "running":
        raise InvalidState(
            f"Cluster {cluster.id} is {cluster.state}: it takes new members once it runs.", state=cluster.state
        )
    return cluster, role


def member_launch(cluster: ClusterRecord, role: Role, instance_id: str, correlation_id: str) -> LaunchRequest:
    """A launch by command of a new member of the role: placed as the role's members are, named by the role's next
    number (taken for good when the launch is recorded)."""
    name = domain.member_name(cluster.name, role.name, role.next_n)
    return replace(_member_launch(cluster.project_id, role, name, correlation_id, cluster.id), instance_id=instance_id)


def member_template(role: Role) -> TemplateLaunch:
    return _template(role)


@dataclass(frozen=True)
class Joining:
    """A launch by command that makes a new member of a running cluster's role: in the launch's transaction the
    member is recorded under the cluster's lock and the role counts one more, so the cluster never plans a member of
    its own in its place."""

    cluster_id: str
    role: str
    project_id: str

    async def recorded(self, repos: Any, instance: InstanceRecord) -> None:
        clusters: ClusterRepository = repos.clusters
        cluster, role = _joinable(await _owned(clusters, self.project_id, self.cluster_id, lock=True), self.role)
        now = _now()
        member = Member(cluster.id, role.name, role.next_n, instance.name, "planned", now)
        grown = replace(role, count=role.count + 1, next_n=role.next_n + 1)
        await clusters.add_members([member])
        await clusters.attach(member, instance.id)
        roles = tuple(grown if r.name == role.name else r for r in cluster.roles)
        await clusters.save(replace(cluster, roles=roles, updated_at=now))


async def leave_by_command(repos: Any, project_id: str, instance_id: str) -> None:
    """A member terminated by command (a scaling group's scale-in, say) leaves its role: retired, the role counting one
    less, in the terminate's transaction, so the cluster does not count it as failed."""
    instance = await repos.instances.get(project_id, instance_id)
    if instance is None or instance.cluster_id is None:
        return
    clusters: ClusterRepository = repos.clusters
    cluster = await clusters.get(project_id, instance.cluster_id, lock=True)
    if cluster is None:
        return
    member = next((m for m in await clusters.members(cluster.id) if m.instance_id == instance_id and m.counted), None)
    if member is None:
        return
    await clusters.update_members([replace(member, retired=True)])
    roles = tuple(replace(r, count=max(0, r.count - 1)) if r.name == member.role else r for r in cluster.roles)
    await clusters.save(replace(cluster, roles=roles, updated_at=_now()))


class Clusters:
    """Moves every active cluster on: decides (`domain.step`) under the cluster's lock, then launches and terminates
    what was decided with nothing held. Run by the worker's follow loop each time it has followed the instances, so
    a member's change of state moves its cluster on at once, and a restart leaves nothing stuck."""

    def __init__(self, uow: Work, clouds: CloudDirectory) -> None:
        self.uow = uow
        self.clouds = clouds

    async def follow(self) -> int:
        """One pass over the active clusters; how many changed."""
        async with self.uow.reading() as repos:
            active = await repos.clusters.active()
        changed = 0
        for cluster_id in active:
            try:
                changed += await self.advance(cluster_id)
            except Exception:
                log.exception("moving cluster %s on failed; the next pass tries again", cluster_id)
        return changed

    async def advance(self, cluster_id: str) -> int:
        async with self.uow.transaction() as tx:
            cluster = await tx.repos.clusters.lock_active(cluster_id)
            if cluster is None:
                return 0
            members = await tx.repos.clusters.members(cluster_id)
            decided = domain.step(cluster, members, _now())
            if decided.changed:
                await tx.repos.clusters.add_members(decided.plan)
                await tx.repos.clusters.update_members(decided.retire)
                await tx.repos.clusters.save(tx.changed(decided.cluster, *decided.events))
        planned = [m for m in members if m.status == "planned" and not m.retired] + decided.plan
        if decided.cluster.state in domain.ACTIVE - {"terminating"}:
            await self._launch(decided.cluster, planned)
        await self._terminate(decided.cluster, decided.terminate)
        return int(decided.changed)

    async def _launch(self, cluster: ClusterRecord, planned: Sequence[Member]) -> None:
        slots = asyncio.Semaphore(LAUNCHES_AT_ONCE)
        # The allocator places a member by where the role's members already are: members placed by a policy are
        # launched one after the other, so that each sees those placed before it (spread, anti-affinity).
        placing = asyncio.Lock()

        async def one(member: Member) -> None:
            role = cluster.role(member.role)
            async with slots:
                if role is not None and role.placement is not None:
                    async with placing:
                        await self._launch_one(cluster, member)
                else:
                    await self._launch_one(cluster, member)

        outcomes = await asyncio.gather(*(one(m) for m in planned), return_exceptions=True)
        for member, outcome in zip(planned, outcomes, strict=True):
            if isinstance(outcome, Exception):
                # Left planned: the next pass tries its launch again.
                log.error("launching member %s of cluster %s failed", member.name, cluster.id, exc_info=outcome)

    async def _launch_one(self, cluster: ClusterRecord, member: Member) -> None:
        role = cluster.role(member.role)
        if role is None:
            return
        req = _member_launch(cluster.project_id, role, member.name, cluster.correlation_id, cluster.id)
        try:
            await instances.launch_from_template(self.uow, self.clouds, req, _template(role), member=_Enlisted(member))
        except RetryLater:
            return  # the cloud is busy or away: the next pass tries again
        except InvalidState:
            return  # withdrawn meanwhile, or launched by another pass
        except ClanaviError as exc:
            async with self.uow.transaction() as tx:
                await tx.repos.clusters.refuse(member, exc.detail)

    async def _terminate(self, cluster: ClusterRecord, instance_ids: Sequence[str]) -> None:
        for instance_id in instance_ids:
            try:
                await instances.request_action(
                    self.uow,
                    self.clouds,
                    project_id=cluster.project_id,
                    instance_id=instance_id,
                    action="terminate",
                    correlation_id=cluster.correlation_id,
                )
            except ClanaviError as exc:
                log.warning("cluster %s could not terminate member %s: %s", cluster.id, instance_id, exc.detail)


__all__ = [
    "ClusterPreview",
    "ClusterRequest",
    "ClusterStore",
    "Clusters",
    "Joining",
    "leave_by_command",
    "member_launch",
    "member_template",
    "role_to_join",
    "RolePreview",
    "Work",
    "create",
    "get",
    "page",
    "preview_cluster",
    "replace_member",
    "retry",
    "scale",
    "terminate",
]
