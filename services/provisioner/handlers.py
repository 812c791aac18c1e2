"""The provisioner's use cases: what a request or the worker does, in one transaction each.

No FastAPI and no aio-pika here: requests arrive as plain values, events leave through the outbox.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from adapters.base import CloudError, CloudNotFound, LaunchSpec, QuotaExceeded
from adapters.base import Instance as CloudInstance
from kernel import correlation
from kernel.db import Pool
from kernel.errors import NotFound, ServiceUnavailable, ValidationFailed
from kernel.events import EventPayload, InstanceActionRequested, InstanceRequested
from services.provisioner import domain, repository
from services.provisioner.clouds import CloudDirectory
from services.provisioner.domain import InstanceRecord, UserAction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchRequest:
    project_id: str
    cloud_id: str
    name: str
    image_id: str
    flavor_id: str
    correlation_id: str


async def launch(pool: Pool, clouds: CloudDirectory, req: LaunchRequest) -> InstanceRecord:
    """Accept a launch: validate it against the cloud, then record it; the worker creates it in the cloud."""
    try:
        await clouds.account(req.cloud_id)
    except NotFound:
        raise ValidationFailed(
            f"Cloud {req.cloud_id} does not exist.", errors=[{"location": "body.cloud_id", "message": "unknown cloud"}]
        ) from None
    adapter = await clouds.adapter(req.cloud_id)
    problems = []
    try:
        await adapter.get_image(req.image_id)
    except CloudNotFound:
        problems.append({"location": "body.image_id", "message": f"no image {req.image_id} in {req.cloud_id}"})
    try:
        await adapter.get_flavor(req.flavor_id)
    except CloudNotFound:
        problems.append({"location": "body.flavor_id", "message": f"no flavor {req.flavor_id} in {req.cloud_id}"})
    except CloudError as exc:
        raise ServiceUnavailable(f"Cloud {req.cloud_id} did not answer: {exc}") from exc
    if problems:
        raise ValidationFailed("The image or flavor does not exist in that cloud.", errors=problems)
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
    )
    event = InstanceRequested(
        instance_id=record.id,
        cloud_id=record.cloud_id,
        name=record.name,
        image_id=record.image_id,
        flavor_id=record.flavor_id,
    )
    async with pool.acquire() as conn, conn.transaction():
        return await repository.commit_change(conn, record, [event], new=True)


async def request_action(
    pool: Pool, *, project_id: str, instance_id: str, action: UserAction, correlation_id: str
) -> InstanceRecord:
    async with pool.acquire() as conn, conn.transaction():
        record = await repository.lock(conn, project_id, instance_id)
        if record is None:
            raise NotFound(f"Instance {instance_id} does not exist.")
        after = domain.request_action(record, action)
        if after is record:
            return record
        after = replace(after, correlation_id=correlation_id)
        events: list[EventPayload] = [
            InstanceActionRequested(instance_id=record.id, cloud_id=record.cloud_id, action=action)
        ]
        if after.state == "terminated":
            events += domain.withdrawn(after)
        return await repository.commit_change(conn, after, events)


async def get(pool: Pool, project_id: str, instance_id: str) -> InstanceRecord:
    record = await repository.get(pool, project_id, instance_id)
    if record is None:
        raise NotFound(f"Instance {instance_id} does not exist.")
    return record


# --- the worker's steps ---------------------------------------------------------------------------------------


async def _call_cloud(clouds: CloudDirectory, record: InstanceRecord) -> CloudInstance:
    adapter = await clouds.adapter(record.cloud_id)
    action = record.pending_action
    if action == "launch":
        return await adapter.launch_instance(
            LaunchSpec(
                name=record.name,
                image_id=record.image_id,
                flavor_id=record.flavor_id,
                client_token=record.id,
                tags={"clanavi:instance": record.id},
            )
        )
    assert record.provider_id is not None
    operations = {
        "start": adapter.start_instance,
        "stop": adapter.stop_instance,
        "reboot": adapter.reboot_instance,
        "terminate": adapter.terminate_instance,
    }
    return await operations[str(action)](record.provider_id)


async def dispatch(pool: Pool, clouds: CloudDirectory, instance_id: str, *, max_attempts: int) -> bool:
    """Carry out an instance's pending action in its cloud. The row stays locked during the call, so a crash rolls
    everything back and the retry reuses the same client token: the cloud never gets a second instance."""
    async with pool.acquire() as conn, conn.transaction():
        record = await repository.claim_action(conn, instance_id)
        if record is None:
            return False
        token = correlation.current.set(record.correlation_id)
        try:
            action = record.pending_action
            try:
                cloud = await _call_cloud(clouds, record)
            except CloudError as exc:
                after, events, retry_in = await _after_failure(clouds, record, exc, max_attempts)
                log.warning("%s of instance %s failed: %s", action, record.id, exc)
                await repository.commit_change(conn, after, events, retry_in=retry_in)
                return True
            if action == "launch":
                after, events = domain.launched(record, cloud)
            else:
                after, events = domain.observe(replace(record, pending_action=None, attempts=0), cloud)
            await repository.commit_change(conn, after, events)
            return True
        finally:
            correlation.current.reset(token)


async def _after_failure(
    clouds: CloudDirectory, record: InstanceRecord, exc: CloudError, max_attempts: int
) -> tuple[InstanceRecord, list[EventPayload], float]:
    attempts = record.attempts + 1
    if exc.retryable and attempts < max_attempts:
        return replace(record, attempts=attempts, reason=str(exc)), [], domain.retry_delay(attempts)
    reason = _reason(exc)
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
        return replace(record, attempts=attempts, reason=str(exc)), [], domain.retry_delay(attempts)
    action: UserAction = record.pending_action  # type: ignore[assignment]
    after, events = domain.action_failed(record, action, reason, current)
    return after, events, 0.0


def _reason(exc: CloudError) -> str:
    if isinstance(exc, QuotaExceeded):
        return f"The cloud's quota is exhausted: {exc}"
    if exc.retryable:
        return f"The cloud kept failing: {exc}"
    return str(exc) or type(exc).__name__


async def follow(pool: Pool, clouds: CloudDirectory) -> int:
    """Check every instance in transition with its cloud (one call per cloud) and record what changed."""
    by_cloud: dict[str, list[InstanceRecord]] = defaultdict(list)
    for record in await repository.moving(pool):
        by_cloud[record.cloud_id].append(record)
    changed = 0
    for cloud_id, records in by_cloud.items():
        try:
            adapter = await clouds.adapter(cloud_id)
            seen = {i.id: i for i in await adapter.get_instances([r.provider_id or "" for r in records])}
        except (CloudError, ServiceUnavailable) as exc:
            log.warning("could not follow instances in cloud %s: %s", cloud_id, exc)
            continue
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
