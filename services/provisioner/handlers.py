"""The provisioner's instance use cases: what a request or the worker does, in one transaction each.

No FastAPI and no aio-pika here: requests arrive as plain values, events leave through the outbox.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from adapters.base import CloudError, CloudNotFound, Feature, LaunchSpec, MetricSample, Throttled
from adapters.base import Instance as CloudInstance
from kernel import correlation
from kernel.db import Pool
from kernel.errors import ClanaviError, InvalidState, NotFound, ValidationFailed
from kernel.events import EventPayload, InstanceActionRequested, InstanceRequested
from services.provisioner import domain, errors, owned, repository
from services.provisioner import resources_repository as resource_store
from services.provisioner.clouds import CloudDirectory
from services.provisioner.domain import InstanceRecord, RetryPolicy, UserAction
from services.provisioner.pacing import Pacer, give_up_reason, plan_after_failure
from services.provisioner.resources import ResourceRecord

log = logging.getLogger(__name__)

# The features each user action needs: refused with 501 up front on a cloud that lacks them.
_ACTION_OPERATIONS: dict[UserAction, str] = {
    "start": "start_instance",
    "stop": "stop_instance",
    "reboot": "reboot_instance",
    "suspend": "suspend_instance",
    "resume": "resume_instance",
    "terminate": "terminate_instance",
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


async def _check_catalogue(clouds: CloudDirectory, req: LaunchRequest) -> list[dict[str, str]]:
    problems = []
    try:
        await clouds.image(req.cloud_id, req.image_id)
    except CloudNotFound:
        problems.append({"location": "body.image_id", "message": f"no image {req.image_id} in {req.cloud_id}"})
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=req.cloud_id) from exc
    try:
        await clouds.flavor(req.cloud_id, req.flavor_id)
    except CloudNotFound:
        problems.append({"location": "body.flavor_id", "message": f"no flavor {req.flavor_id} in {req.cloud_id}"})
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=req.cloud_id) from exc
    if req.zone is not None:
        try:
            zones = {z.id for z in await clouds.zones(req.cloud_id)}
        except CloudError as exc:
            raise errors.from_cloud(exc, cloud_id=req.cloud_id) from exc
        if req.zone not in zones:
            problems.append({"location": "body.zone", "message": f"no zone {req.zone} in {req.cloud_id}"})
    return problems


async def _named(pool: Pool, req: LaunchRequest) -> tuple[ResourceRecord | None, dict[str, ResourceRecord]]:
    """The project's key pair and security groups a launch names, as far as the project has them."""
    key = None
    if req.key_name is not None:
        key = await resource_store.find_by_name(pool, req.project_id, "key_pair", req.cloud_id, req.key_name)
    groups = await resource_store.many(pool, req.project_id, "security_group", req.security_group_ids)
    return key, {g.id: g for g in groups}


def _launch_options(
    req: LaunchRequest, key: ResourceRecord | None, groups: Mapping[str, ResourceRecord]
) -> tuple[dict[str, object], list[dict[str, str]]]:
    """The cloud's names for the key pair and groups a launch names, and the problems with them."""
    problems = []
    provider_groups: list[str] = []
    if req.key_name is not None and (key is None or key.state != "available"):
        problems.append({"location": "body.key_name", "message": f"no key pair {req.key_name} in {req.cloud_id}"})
    for n, group_id in enumerate(req.security_group_ids):
        group = groups.get(group_id)
        if group is None or group.cloud_id != req.cloud_id or group.provider_id is None or group.state != "available":
            problems.append(
                {
                    "location": f"body.security_group_ids.{n}",
                    "message": f"no security group {group_id} in {req.cloud_id}",
                }
            )
        else:
            provider_groups.append(group.provider_id)
    options: dict[str, object] = {"security_group_provider_ids": provider_groups}
    if req.user_data is not None:
        options["user_data"] = req.user_data
    return options, problems


async def launch(pool: Pool, clouds: CloudDirectory, req: LaunchRequest) -> InstanceRecord:
    """Accept a launch: validate it against the cloud, then record it; the worker creates it in the cloud."""
    await owned.cloud(pool, req.project_id, req.cloud_id, named_in="body.cloud_id")
    key, groups = await _named(pool, req)
    await clouds.require(req.cloud_id, "launch_instance")
    if req.user_data is not None:
        await clouds.require(req.cloud_id, feature=Feature.USER_DATA)
    if req.zone is not None:
        await clouds.require(req.cloud_id, "list_zones")
    if req.key_name is not None:
        await clouds.require(req.cloud_id, "list_key_pairs")
    if req.security_group_ids:
        await clouds.require(req.cloud_id, "list_security_groups")
    problems = await _check_catalogue(clouds, req)
    options, more = _launch_options(req, key, groups)
    problems += more
    if problems:
        raise ValidationFailed("The launch names something that does not exist in that cloud.", errors=problems)
    now = datetime.now(UTC)
    record = InstanceRecord(
        id=str(uuid.uuid4()),
        project_id=req.project_id,
        cloud_id=req.cloud_id,
        name=req.name,
        image_id=req.image_id,
        flavor_id=req.flavor_id,
        provider_id=None,
        state=domain.REQUESTED,
        pending_action="launch",
        attempts=0,
        reason=None,
        private_ips=(),
        correlation_id=req.correlation_id,
        last_event_id=None,
        created_at=now,
        updated_at=now,
        key_name=req.key_name,
        security_group_ids=tuple(req.security_group_ids),
        zone=req.zone,
        tags=dict(req.tags),
        launch_options=options,
        pending_since=now,
    )
    event = InstanceRequested(
        instance_id=record.id,
        cloud_id=record.cloud_id,
        name=record.name,
        image_id=record.image_id,
        flavor_id=record.flavor_id,
        key_name=record.key_name,
        security_group_ids=list(record.security_group_ids),
        zone=record.zone,
        tags=dict(record.tags),
        user_data_bytes=len(req.user_data.encode()) if req.user_data else 0,
    )
    async with pool.acquire() as conn, conn.transaction():
        return await repository.commit_change(conn, record, [event], new=True)


async def request_action(
    pool: Pool,
    clouds: CloudDirectory,
    *,
    project_id: str,
    instance_id: str,
    action: UserAction,
    correlation_id: str,
) -> InstanceRecord:
    current = await owned.instance(pool, project_id, instance_id)
    await clouds.check_enabled(current.cloud_id)
    if current.exists_in_cloud:
        await clouds.require(current.cloud_id, _ACTION_OPERATIONS[action])
    async with pool.acquire() as conn, conn.transaction():
        record = await repository.lock(conn, project_id, instance_id)
        if record is None:
            raise NotFound(f"Instance {instance_id} does not exist.")
        after = domain.request_action(record, action)
        if after is record:
            return record
        after = replace(after, correlation_id=correlation_id, pending_since=datetime.now(UTC))
        events: list[EventPayload] = [
            InstanceActionRequested(instance_id=record.id, cloud_id=record.cloud_id, action=action)
        ]
        if after.state == "terminated":
            events += domain.withdrawn(after)
        return await repository.commit_change(conn, after, events)


async def get(pool: Pool, project_id: str, instance_id: str) -> InstanceRecord:
    return await owned.instance(pool, project_id, instance_id)


async def _in_cloud(
    pool: Pool, clouds: CloudDirectory, project_id: str, instance_id: str, operation: str
) -> InstanceRecord:
    record = await owned.instance(pool, project_id, instance_id)
    await clouds.require(record.cloud_id, operation)
    if record.provider_id is None or record.state in domain.ENDED:
        raise InvalidState(f"Instance {instance_id} is {record.state}: it is not in its cloud.", state=record.state)
    return record


async def console_output(pool: Pool, clouds: CloudDirectory, *, project_id: str, instance_id: str) -> str:
    """What the instance printed on its console (as much as its cloud keeps)."""
    record = await _in_cloud(pool, clouds, project_id, instance_id, "console_output")
    try:
        return await (await clouds.adapter(record.cloud_id)).console_output(record.provider_id or "")
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=record.cloud_id) from exc


async def metrics(
    pool: Pool, clouds: CloudDirectory, *, project_id: str, instance_id: str, since: datetime | None
) -> tuple[datetime, Sequence[MetricSample]]:
    """Recent samples of the instance's metrics since `since` (default: the last hour), oldest first."""
    record = await _in_cloud(pool, clouds, project_id, instance_id, "get_metrics")
    start = since or datetime.now(UTC) - timedelta(hours=1)
    try:
        samples = await (await clouds.adapter(record.cloud_id)).get_metrics(record.provider_id or "", start)
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=record.cloud_id) from exc
    return start, sorted(samples, key=lambda s: (s.timestamp, s.name))


# --- the worker's steps ---------------------------------------------------------------------------------------


async def _call_cloud(clouds: CloudDirectory, record: InstanceRecord) -> CloudInstance:
    adapter = await clouds.adapter(record.cloud_id)
    action = record.pending_action
    if action == "launch":
        options = record.launch_options
        user_data = options.get("user_data")
        return await adapter.launch_instance(
            LaunchSpec(
                name=record.name,
                image_id=record.image_id,
                flavor_id=record.flavor_id,
                client_token=record.id,
                key_name=record.key_name,
                security_group_ids=tuple(options.get("security_group_provider_ids", ())),
                user_data=str(user_data) if user_data is not None else None,
                zone=record.zone,
                tags={**record.tags, "clanavi:instance": record.id},
            )
        )
    assert record.provider_id is not None
    operations = {
        "start": adapter.start_instance,
        "stop": adapter.stop_instance,
        "reboot": adapter.reboot_instance,
        "suspend": adapter.suspend_instance,
        "resume": adapter.resume_instance,
        "terminate": adapter.terminate_instance,
    }
    return await operations[str(action)](record.provider_id)


async def dispatch(pool: Pool, clouds: CloudDirectory, instance_id: str, *, policy: RetryPolicy, pacer: Pacer) -> bool:
    """Carry out an instance's pending action in its cloud. The row stays locked during the call, so a crash rolls
    everything back and the retry reuses the same client token: the cloud never gets a second instance."""
    async with pool.acquire() as conn, conn.transaction():
        record = await repository.claim_action(conn, instance_id)
        if record is None:
            return False
        token = correlation.current.set(record.correlation_id)
        try:
            wait = pacer.wait(record.cloud_id)
            if wait > 0:
                # The cloud throttled lately: leave it alone for a moment (this try does not count).
                await repository.commit_change(conn, record, [], retry_in=wait)
                return True
            action = record.pending_action
            try:
                cloud = await _call_cloud(clouds, record)
            except CloudError as exc:
                after, events, retry_in = await _after_failure(clouds, record, exc, policy, pacer)
                log.warning("%s of instance %s failed: %s", action, record.id, exc)
                await repository.commit_change(conn, after, events, retry_in=retry_in)
                return True
            except errors.ModuleDisabled:
                # Its adapter module was disabled meanwhile: the action waits, untouched, until it is enabled.
                return False
            except ClanaviError as exc:  # the account is disabled or its adapter not installed
                after, events = domain.failed(record, exc.detail)
                await repository.commit_change(conn, after, events)
                return True
            pacer.succeeded(record.cloud_id)
            if action == "launch":
                after, events = domain.launched(record, cloud)
            else:
                after, events = domain.observe(replace(record, pending_action=None, attempts=0, throttled=0), cloud)
            await repository.commit_change(conn, after, events)
            return True
        finally:
            correlation.current.reset(token)


async def _after_failure(
    clouds: CloudDirectory, record: InstanceRecord, exc: CloudError, policy: RetryPolicy, pacer: Pacer
) -> tuple[InstanceRecord, list[EventPayload], float]:
    plan = plan_after_failure(record, exc, policy, pacer)
    if plan is not None:
        after = replace(record, attempts=plan.attempts, throttled=plan.throttled, reason=str(exc))
        return after, [], plan.delay
    reason = give_up_reason(exc, policy)
    if record.pending_action == "launch":
        after, events = domain.failed(record, reason)
        return after, events, 0.0
    current = None
    try:
        adapter = await clouds.adapter(record.cloud_id)
        found = await adapter.get_instances([record.provider_id or ""])
        current = found[0] if found else None
    except CloudError:
        log.warning("could not read instance %s back from its cloud", record.id)
        delay = domain.jittered_delay(record.attempts + 1, pacer.rand())
        return replace(record, attempts=record.attempts + 1, reason=str(exc)), [], delay
    action: UserAction = record.pending_action  # type: ignore[assignment]
    after, events = domain.action_failed(record, action, reason, current)
    return after, events, 0.0


async def follow(pool: Pool, clouds: CloudDirectory, pacer: Pacer) -> int:
    """Check every instance in transition with its cloud (one call per cloud) and record what changed."""
    by_cloud: dict[str, list[InstanceRecord]] = defaultdict(list)
    for record in await repository.moving(pool):
        by_cloud[record.cloud_id].append(record)
    changed = 0
    for cloud_id, records in by_cloud.items():
        if pacer.wait(cloud_id) > 0:
            continue
        try:
            adapter = await clouds.adapter(cloud_id)
            seen = {i.id: i for i in await adapter.get_instances([r.provider_id or "" for r in records])}
        except Throttled as exc:
            pacer.throttled(cloud_id, errors.retry_after(exc))
            continue
        except (CloudError, ClanaviError) as exc:
            log.warning("could not follow instances in cloud %s: %s", cloud_id, exc)
            continue
        pacer.succeeded(cloud_id)
        updates = []
        for record in records:
            after, events = domain.observe(record, seen.get(record.provider_id or ""))
            if events or after != record:
                updates.append(record.id)
        if not updates:
            continue
        async with pool.acquire() as conn, conn.transaction():
            for record in await repository.lock_moving(conn, updates):
                after, events = domain.observe(record, seen.get(record.provider_id or ""))
                if events or after != record:
                    await repository.commit_change(conn, after, events)
                    changed += 1
    return changed
