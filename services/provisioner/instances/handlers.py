"""The instance use cases: launch, the actions on an instance, and what its cloud shows of it (console, metrics).

No FastAPI and no aio-pika here: requests arrive as plain values, events leave through the unit of work's outbox. A
request only records what it asks for; the pending-action engine (`services.provisioner.work`) makes the cloud call.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from adapters.base import CloudError, CloudNotFound, Feature, MetricSample, Operation
from adapters.base import InstanceState as S
from kernel.errors import InvalidState, NotFound, ValidationFailed
from kernel.events import EventPayload, InstanceActionRequested, InstanceRequested
from kernel.keyset import PageRequest
from kernel.unit_of_work import UnitOfWork
from services.provisioner import errors
from services.provisioner.blocks import handlers as blocks
from services.provisioner.blocks.handlers import BlockStore
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import Cloud
from services.provisioner.clouds.repository import owned_cloud
from services.provisioner.guardrails import handlers as guardrails
from services.provisioner.guardrails.handlers import Asked, GuardrailStore
from services.provisioner.instances import domain
from services.provisioner.instances.domain import InstanceRecord, LaunchNames, UserAction
from services.provisioner.instances.repository import InstanceFilter, InstanceStore, owned_instance
from services.provisioner.placement import handlers as placement
from services.provisioner.placement.domain import PlacementPolicy
from services.provisioner.runs import handlers as runs
from services.provisioner.runs.repository import RunStore
from services.provisioner.templates import handlers as templates
from services.provisioner.templates import sealing
from services.provisioner.templates.domain import Requirements
from services.provisioner.templates.handlers import LaunchPlan
from services.provisioner.templates.repository import TemplateStore
from services.provisioner.work.engine import WORK_CHANNEL

# The unit of work the instance use cases are given.
Work = UnitOfWork[InstanceStore]

# The operation each user action calls: refused with 501 up front on a cloud that lacks it.
_ACTION_OPERATIONS: dict[UserAction, Operation] = {
    "start": Operation.START_INSTANCE,
    "stop": Operation.STOP_INSTANCE,
    "reboot": Operation.REBOOT_INSTANCE,
    "suspend": Operation.SUSPEND_INSTANCE,
    "resume": Operation.RESUME_INSTANCE,
    "terminate": Operation.TERMINATE_INSTANCE,
}


@dataclass(frozen=True)
class LaunchRequest:
    project_id: str
    cloud_id: str
    name: str
    image_id: str
    flavor_id: str
    correlation_id: str
    # The name of one of the project's key pairs in that cloud.
    key_name: str | None = None
    # Clanavi ids of the project's security groups in that cloud.
    security_group_ids: Sequence[str] = ()
    user_data: str | None = None
    zone: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # Set: the allocator chooses the cloud (within `cloud_id`, when one is given), zone and flavor.
    placement: PlacementPolicy | None = None
    # A command's launch: the id its sender chose, and who sent it (`scaler:<group id>`).
    instance_id: str | None = None
    requested_by: str | None = None


@dataclass(frozen=True)
class TemplateLaunch:
    """A launch from a server template: which (and which version; None: its default), and the server's inputs (and
    a cluster role's, for the role's members: the server's win)."""

    template_id: str
    version: int | None = None
    inputs: Mapping[str, object] = field(default_factory=dict)
    cluster_inputs: Mapping[str, object] = field(default_factory=dict)


# Called with the repositories of the transaction that records a use case's change, before it commits: what a
# command records of having been carried out commits with its effect, or neither does.
Also = Callable[[Any], Awaitable[None]]


class Membership(Protocol):
    """A launch made for a cluster: the cluster and role its instance is a member of, and what the cluster records
    of that member in the launch's own transaction, so that no instance is made that its cluster does not know of.
    `recorded` raises to undo the launch (the member was withdrawn meanwhile)."""

    @property
    def cluster_id(self) -> str: ...
    @property
    def role(self) -> str: ...
    async def recorded(self, repos: Any, instance: InstanceRecord) -> None: ...


class LaunchStore(
    InstanceStore, TemplateStore, RunStore, GuardrailStore, BlockStore, placement.PlacementStore, Protocol
):
    """What a launch from a template reads: the template's records beside the instance's, the project's key for
    runs, the project's guard-rails with the prices they count, the budgets' launch blocks, and what placing a
    launch reads."""


async def placed(
    uow: UnitOfWork[LaunchStore],
    clouds: CloudDirectory,
    req: LaunchRequest,
    template: TemplateLaunch | None = None,
    requirements: Requirements | None = None,
) -> tuple[LaunchRequest, placement.Placement | None]:
    """The launch on the cloud, zone and flavor the allocator chose for it, when it asks to be placed (its checks
    then run on that cloud as on one it named), and the decision; a launch that names its cloud, as it is."""
    policy, named_in = req.placement, None
    if policy is None:
        return req, None
    if req.cloud_id and not policy.cloud_ids:
        policy, named_in = placement.only_cloud(policy, req.cloud_id), "body.cloud_id"
    spec = placement.ServerSpec(
        template=None
        if template is None
        else placement.FromTemplate(template.template_id, template.version, template.inputs, template.cluster_inputs),
        image_id=req.image_id or None,
        flavor_id=req.flavor_id or None,
        requirements=requirements,
        key_name=req.key_name,
        security_group_ids=tuple(req.security_group_ids),
        user_data=req.user_data is not None,
        zone=req.zone,
    )
    try:
        found = await placement.place(
            uow, clouds, project_id=req.project_id, spec=spec, policy=policy, cloud_named_in=named_in
        )
    except placement.NothingFits as refused:
        if refused.only_cloud is None or requirements is not None:
            raise
        # The one cloud there is: the launch's own checks there say what is wrong, as for a launch that names it.
        return replace(req, cloud_id=refused.only_cloud), None
    chosen, _ = found.chosen()[0]
    where = replace(req, cloud_id=chosen.cloud_id, zone=chosen.zone, flavor_id=chosen.flavor_id)
    return replace(where, image_id=chosen.image_id or req.image_id), found


def _note(found: placement.Placement | None) -> dict[str, object] | None:
    if found is None:
        return None
    return placement.note(found.policy, found.chosen()[0][1])


async def _check_catalogue(clouds: CloudDirectory, req: LaunchRequest) -> list[dict[str, str]]:
    problems = []
    try:
        await clouds.image(req.cloud_id, req.image_id)
    except CloudNotFound:
        problems.append({"location": "body.image_id", "message": f"no image {req.image_id} in {req.cloud_id}"})
    try:
        await clouds.flavor(req.cloud_id, req.flavor_id)
    except CloudNotFound:
        problems.append({"location": "body.flavor_id", "message": f"no flavor {req.flavor_id} in {req.cloud_id}"})
    if req.zone is not None and req.zone not in {z.id for z in await clouds.zones(req.cloud_id)}:
        problems.append({"location": "body.zone", "message": f"no zone {req.zone} in {req.cloud_id}"})
    return problems


def _launch_options(req: LaunchRequest, names: LaunchNames) -> tuple[dict[str, object], list[dict[str, str]]]:
    """The cloud's names for the key pair and groups a launch names, and the problems with them."""
    problems = []
    if req.key_name is not None and not names.key_usable:
        problems.append({"location": "body.key_name", "message": f"no key pair {req.key_name} in {req.cloud_id}"})
    for n, group_id in enumerate(req.security_group_ids):
        if group_id not in names.group_provider_ids:
            problems.append(
                {
                    "location": f"body.security_group_ids.{n}",
                    "message": f"no security group {group_id} in {req.cloud_id}",
                }
            )
    groups = [names.group_provider_ids[g] for g in req.security_group_ids if g in names.group_provider_ids]
    options: dict[str, object] = {"security_group_provider_ids": groups}
    if req.user_data is not None:
        options["user_data"] = req.user_data
    return options, problems


async def _require_launch(clouds: CloudDirectory, cloud: Cloud, req: LaunchRequest, plan: LaunchPlan | None) -> None:
    await clouds.require(cloud, Operation.LAUNCH_INSTANCE)
    if req.user_data is not None or (plan is not None and plan.user_data is not None):
        await clouds.require(cloud, feature=Feature.USER_DATA)
    if req.zone is not None:
        await clouds.require(cloud, Operation.LIST_ZONES)
    if req.key_name is not None:
        await clouds.require(cloud, Operation.LIST_KEY_PAIRS)
    if req.security_group_ids:
        await clouds.require(cloud, Operation.LIST_SECURITY_GROUPS)


async def launch_from_template(
    uow: UnitOfWork[LaunchStore],
    clouds: CloudDirectory,
    req: LaunchRequest,
    template: TemplateLaunch,
    *,
    member: Membership | None = None,
    asked: Asked | None = None,
    also: Also | None = None,
) -> InstanceRecord:
    """Accept a launch from a server template: resolve it on the chosen cloud (image and flavor, inputs, boot user
    data; every problem a 422 naming its field), then launch what it makes with the template's options where the
    request names none. Nothing is recorded unless all of it is valid. A cluster's launch names its `member`; a
    launch to be placed is placed first."""
    req, found = await placed(uow, clouds, req, template)
    draft, made, names, login_key = await drafted(uow, clouds, req, template)
    # Its servers let the project's runs in (operational scripts, and decommission scripts at terminate); a project's
    # first such launch makes the key.
    login_key = login_key or await runs.project_public_key(uow, clouds.keyring, req.project_id)
    plan = await templates.plan(clouds, draft, login_key=login_key)
    made = replace(made, image_id=plan.image_id, flavor_id=plan.flavor_id)
    return await _accept(uow, clouds, made, draft.cloud, names, plan, asked or Asked(), member, _note(found), also=also)


async def drafted(
    uow: UnitOfWork[LaunchStore], clouds: CloudDirectory, req: LaunchRequest, template: TemplateLaunch
) -> tuple[templates.LaunchDraft, LaunchRequest, LaunchNames, str | None]:
    """A template's draft on the chosen cloud, the launch with the template's options where the request names none,
    what that launch names in the cloud, and the project's run key (None until it has one), all in one reading."""
    async with uow.reading() as repos:
        draft = await templates.draft_launch(
            repos,
            clouds,
            project_id=req.project_id,
            cloud_id=req.cloud_id,
            template_id=template.template_id,
            version=template.version,
            server_inputs=template.inputs,
            cluster_inputs=template.cluster_inputs,
        )
        spec = draft.spec
        made = replace(
            req,
            # What the launch itself names is the server's level: it wins over the template's.
            key_name=req.key_name or spec.key_name,
            security_group_ids=req.security_group_ids or spec.security_group_ids,
            zone=req.zone or spec.zone,
            tags={**spec.tags, **req.tags},
            user_data=None,
        )
        names = await launch_names(repos, made)
        key = await repos.runs.project_key(req.project_id)
    return draft, made, names, key[0] if key else None


async def launch_names(repos: InstanceStore, req: LaunchRequest) -> LaunchNames:
    return await repos.resources.launch_names(req.project_id, req.cloud_id, req.key_name, req.security_group_ids)


async def launch(
    uow: UnitOfWork[LaunchStore],
    clouds: CloudDirectory,
    req: LaunchRequest,
    plan: LaunchPlan | None = None,
    *,
    asked: Asked | None = None,
    requirements: Requirements | None = None,
    also: Also | None = None,
) -> InstanceRecord:
    """Accept a launch: validate it against the cloud and the project's guard-rails, then record it; the engine
    creates it in the cloud (once approved, when it costs more than the project's approval threshold). A template's
    `plan` brings its boot user data, kept sealed (it may hold secrets) until the launch call takes it. A launch to be
    placed (by flavor, or by `requirements`) is placed first, and keeps the strategy and score it was placed with."""
    req, found = await placed(uow, clouds, req, requirements=requirements)
    async with uow.reading() as repos:
        cloud = await owned_cloud(repos.clouds, req.project_id, req.cloud_id, named_in="body.cloud_id")
        names = await launch_names(repos, req)
    return await _accept(uow, clouds, req, cloud, names, plan, asked or Asked(), note=_note(found), also=also)


async def validated(
    clouds: CloudDirectory, cloud: Cloud, req: LaunchRequest, names: LaunchNames, plan: LaunchPlan | None
) -> dict[str, object]:
    """Check a launch against its cloud as accepting it does (422 naming each problem); its launch options."""
    await _require_launch(clouds, cloud, req, plan)
    try:
        problems = await _check_catalogue(clouds, req)
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=req.cloud_id) from exc
    options, more = _launch_options(req, names)
    problems += more
    if problems:
        raise ValidationFailed("The launch names something that does not exist in that cloud.", errors=problems)
    return options


async def _accept(
    uow: UnitOfWork[LaunchStore],
    clouds: CloudDirectory,
    req: LaunchRequest,
    cloud: Cloud,
    names: LaunchNames,
    plan: LaunchPlan | None,
    asked: Asked,
    member: Membership | None = None,
    note: Mapping[str, object] | None = None,
    *,
    also: Also | None = None,
) -> InstanceRecord:
    """Validate a launch against its cloud (the project's, read by the caller with what the launch names there),
    the budgets' launch blocks and the project's guard-rails (`blocks.check_launch`, `guardrails.check_launch`, in
    the transaction that records it), and record it,
    with the allocator's `note` when it placed it."""
    options = await validated(clouds, cloud, req, names, plan)
    if note is not None:
        options["placement"] = dict(note)
    now = datetime.now(UTC)
    demand = await guardrails.demand_of(clouds, cloud, flavor_id=req.flavor_id, tags=dict(req.tags), asked=asked)
    cost = guardrails.CostOf(cloud, req.flavor_id, req.image_id)
    named = {f: getattr(req, f) for f in ("cloud_id", "name", "image_id", "flavor_id", "key_name", "zone")}
    instance_id = req.instance_id or str(uuid.uuid4())
    user_data_bytes = len(req.user_data.encode()) if req.user_data else 0
    if plan is not None and plan.user_data is not None:
        options["user_data_sealed"] = sealing.seal_user_data(clouds.keyring, instance_id, plan.user_data)
        user_data_bytes = len(plan.user_data)
    record = InstanceRecord(
        id=instance_id,
        project_id=req.project_id,
        state=domain.REQUESTED,
        pending_action="launch",
        correlation_id=req.correlation_id,
        created_at=now,
        updated_at=now,
        security_group_ids=tuple(req.security_group_ids),
        tags=dict(req.tags),
        launch_options=options,
        pending_since=now,
        template_id=plan.template_id if plan else None,
        template_version=plan.template_version if plan else None,
        inputs=dict(plan.inputs) if plan else {},
        boot=plan.boot.stored() if plan and plan.boot else None,
        cluster_id=member.cluster_id if member else None,
        cluster_role=member.role if member else None,
        requested_by=req.requested_by,
        **named,
    )
    async with uow.transaction() as tx:
        # First, before anything is written: a budget's block refuses the launch with nothing recorded.
        await blocks.check_launch(
            tx.repos, req.project_id, tags=record.tags, cluster_id=member.cluster_id if member else None
        )
        if plan is not None and not await tx.repos.templates.hold_version(
            req.project_id, plan.template_id, plan.template_version
        ):
            # Deleted or deprecated since the launch was planned; held from here until the instance is recorded.
            raise ValidationFailed(
                f"Template {plan.template_id} version {plan.template_version} cannot be launched any more.",
                errors=[{"location": "body.template_version", "message": "deleted or deprecated meanwhile"}],
            )
        rails, verdict, demand = await guardrails.check_launch(
            tx, clouds, project_id=req.project_id, demand=demand, cost=cost, now=now
        )
        waiting = verdict.needs_approval
        record = replace(
            record,
            state=domain.AWAITING_APPROVAL if waiting else domain.REQUESTED,
            pending_action=None if waiting else "launch",
            vcpus=demand.vcpus,
            expires_at=verdict.expires_at,
            expiry_action=verdict.expiry_action,
            expiry_warnings=verdict.expiry_warnings,
        )
        event = InstanceRequested(
            instance_id=record.id,
            security_group_ids=list(record.security_group_ids),
            tags=dict(record.tags),
            user_data_bytes=user_data_bytes,
            template_id=record.template_id,
            template_version=record.template_version,
            cluster_id=record.cluster_id,
            cluster_role=record.cluster_role,
            expires_at=record.expires_at,
            awaiting_approval=waiting,
            requested_by=record.requested_by,
            **named,
        )
        record = tx.changed(record, event)
        await tx.repos.instances.add(record)
        if member is not None:
            await member.recorded(tx.repos, record)
        if also is not None:
            await also(tx.repos)
        if waiting:
            approval, requested = guardrails.approval_for(
                record, rails, demand, requested_by=asked.requested_by, now=now
            )
            await tx.repos.guardrails.add_approval(tx.changed(approval, requested))
        else:
            tx.notify(WORK_CHANNEL)
    return record


async def request_action(
    uow: UnitOfWork[LaunchStore],
    clouds: CloudDirectory,
    *,
    project_id: str,
    instance_id: str,
    action: UserAction,
    correlation_id: str,
    also: Also | None = None,
) -> InstanceRecord:
    """Record a user's action on an instance (409 when its state does not allow it); the engine carries it out. A
    terminate of an instance launched from a template with decommission scripts queues their runs, and the engine
    terminates it once they have ended, whatever they did, or their time is up; it shows `terminating` meanwhile."""
    async with uow.reading() as repos:
        current = await owned_instance(repos.instances, project_id, instance_id)
        cloud = await owned_cloud(repos.clouds, project_id, current.cloud_id)
    clouds.require_module(cloud.id, cloud.driver)
    if current.exists_in_cloud:
        await clouds.require(cloud, _ACTION_OPERATIONS[action])
    decommission = None
    if action == "terminate" and current.state not in (S.TERMINATING, *domain.ENDED):
        decommission = await runs.plan_decommission(uow, clouds.keyring, current, correlation_id)
    async with uow.transaction() as tx:
        record = await tx.repos.instances.lock(project_id, instance_id)
        if record is None:
            raise NotFound(f"Instance {instance_id} does not exist.")
        after = domain.request_action(record, action)
        if also is not None:
            await also(tx.repos)
        if after is record:
            return record
        after = replace(after, correlation_id=correlation_id, pending_since=datetime.now(UTC))
        events: list[EventPayload] = [
            InstanceActionRequested(instance_id=record.id, cloud_id=record.cloud_id, action=action)
        ]
        if after.state == "terminated":
            events += domain.withdrawn(after)
        saved = await tx.repos.instances.save(tx.changed(after, *events))
        if saved.pending_action is not None:
            tx.notify(WORK_CHANNEL)
        if decommission is not None and saved.pending_action == "terminate" and record.provider_id is not None:
            await runs.queue_decommission(tx, decommission)
        return saved


async def get(uow: Work, project_id: str, instance_id: str) -> InstanceRecord:
    async with uow.reading() as repos:
        return await owned_instance(repos.instances, project_id, instance_id)


async def page(uow: Work, flt: InstanceFilter, request: PageRequest) -> tuple[list[InstanceRecord], str | None]:
    """One page of a project's instances, and the cursor of the next page (None on the last)."""
    async with uow.reading() as repos:
        return await repos.instances.page(flt, request)


async def _in_cloud(
    uow: Work, clouds: CloudDirectory, project_id: str, instance_id: str, operation: str
) -> InstanceRecord:
    async with uow.reading() as repos:
        record = await owned_instance(repos.instances, project_id, instance_id)
        cloud = await owned_cloud(repos.clouds, project_id, record.cloud_id)
    await clouds.require(cloud, operation)
    if record.provider_id is None or record.state in domain.ENDED:
        raise InvalidState(f"Instance {instance_id} is {record.state}: it is not in its cloud.", state=record.state)
    return record


async def console_output(uow: Work, clouds: CloudDirectory, *, project_id: str, instance_id: str) -> str:
    """What the instance printed on its console (as much as its cloud keeps)."""
    record = await _in_cloud(uow, clouds, project_id, instance_id, Operation.CONSOLE_OUTPUT)
    try:
        return await (await clouds.adapter(record.cloud_id)).console_output(record.provider_id or "")
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=record.cloud_id) from exc


async def metrics(
    uow: Work, clouds: CloudDirectory, *, project_id: str, instance_id: str, since: datetime | None
) -> tuple[datetime, Sequence[MetricSample]]:
    """Recent samples of the instance's metrics since `since` (default: the last hour), oldest first."""
    record = await _in_cloud(uow, clouds, project_id, instance_id, Operation.GET_METRICS)
    start = since or datetime.now(UTC) - timedelta(hours=1)
    try:
        samples = await (await clouds.adapter(record.cloud_id)).get_metrics(record.provider_id or "", start)
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=record.cloud_id) from exc
    return start, sorted(samples, key=lambda s: (s.timestamp, s.name))


__all__ = [
    "Asked",
    "LaunchRequest",
    "LaunchStore",
    "Membership",
    "TemplateLaunch",
    "Work",
    "console_output",
    "get",
    "launch",
    "launch_from_template",
    "metrics",
    "placed",
    "page",
    "request_action",
]
