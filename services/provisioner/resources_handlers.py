"""Use cases of key pairs, security groups, volumes, snapshots, addresses and images. No FastAPI, no aio-pika.

Why the cloud call is made in the request, and why that cannot leave an orphan in the cloud:

These calls are quick, and some answers exist only once (a generated private key), so the request that asks for
an action carries it out itself and answers with the result. It does so in two transactions:

1. the record is written (a new one, or the existing one locked) with the action *pending* and the state it shows
   meanwhile (`creating`, `attaching`, ...), and committed. The pending action is not due for the worker before a
   lease of `LEASE` seconds;
2. the record is locked again, the cloud is called, and the cloud's answer is committed with the record's new state
   and its events (the outbox), in one transaction.

If the process dies between the cloud call and the second commit, the record still holds the pending action, and
the worker takes it over when the lease runs out. The cloud has no client token for these resources, so the worker
first looks for what the interrupted try did and adopts it (`resources_cloud.perform(recovering=True)` explains
how, kind by kind); an interrupted key pair creation is undone instead, since its private key is lost. So every
resource made in a cloud has a record, and nothing is done twice.

When the cloud refuses at once (bad request, wrong state, quota, not found, throttled) the request is answered
with the error and the record goes back to what it was (a new one is removed): no event, nothing half-done. When
the cloud does not answer (`CloudUnavailable`) the call may or may not have taken effect, so the record keeps its
pending action and the request answers 202: the worker finds out and finishes it, with backoff, and reports
a final failure as `<kind>.failed`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from adapters.base import (
    CloudError,
    CloudUnavailable,
    Feature,
    KeyPair,
    SecurityRule,
    Throttled,
)
from kernel import correlation
from kernel.db import Connection, Pool
from kernel.errors import ClanaviError, InvalidState, NotFound, ValidationFailed
from services.provisioner import errors, owned, repository, resources, resources_cloud
from services.provisioner import resources_repository as store
from services.provisioner.clouds import CloudDirectory
from services.provisioner.domain import InstanceRecord, RetryPolicy
from services.provisioner.pacing import Pacer, give_up_reason, plan_after_failure
from services.provisioner.resources import Kind, ResourceRecord

log = logging.getLogger(__name__)

# Seconds a request has to carry out its own cloud call before the worker may take the action over.
LEASE = 60.0

# (kind, action) -> the body fields a "not found" and an "invalid request" from the cloud are about.
_FIELDS: dict[tuple[Kind, str], tuple[str | None, str | None]] = {
    ("key_pair", "create"): (None, "body.name"),
    ("key_pair", "import"): (None, "body.public_key"),
    ("security_group", "create"): (None, "body.name"),
    ("security_group", "authorize"): (None, "body"),
    ("volume", "create"): ("body.snapshot_id", "body"),
    ("volume", "attach"): ("body.instance_id", "body.device"),
    ("snapshot", "create"): ("body.volume_id", "body.name"),
    ("address", "associate"): ("body.instance_id", None),
    ("image", "create"): ("body.instance_id", "body.name"),
}


@dataclass(frozen=True)
class Outcome:
    """A request's result: `done` when the cloud call completed in the request (else the worker finishes it)."""

    record: ResourceRecord
    done: bool
    # Only for a key pair the cloud generated, in the answer to its creation: never stored.
    private_key: str | None = None


# --- shared steps ----------------------------------------------------------------------------------------------


async def _create(clouds: CloudDirectory, pool: Pool, record: ResourceRecord) -> Outcome:
    await clouds.adapter(record.cloud_id)  # a disabled or uninstalled cloud is refused before anything is written
    async with pool.acquire() as conn, conn.transaction():
        await store.insert(conn, record, retry_in=LEASE)
    return await _carry_out(clouds, pool, record)


async def _act(
    clouds: CloudDirectory,
    pool: Pool,
    current: ResourceRecord,
    action: str,
    *,
    params: Mapping[str, Any] | None = None,
    correlation_id: str,
) -> Outcome:
    """Carry out `action` on a record the caller looked up in its project (`owned.resource`)."""
    kind = current.kind
    await clouds.check_enabled(current.cloud_id)
    rules = resources.RULES[kind]
    if resources.needs_cloud(current) and not (action == rules.remove and current.state == rules.gone):
        await clouds.require(current.cloud_id, *resources_cloud.OPERATIONS[(kind, action)])
        await clouds.adapter(current.cloud_id)
    async with pool.acquire() as conn, conn.transaction():
        record = await store.lock(conn, current.project_id, kind, current.id)
        if record is None:
            raise owned.missing(resources.label(kind), current.id)
        if action == rules.remove and not resources.needs_cloud(record) and record.state != rules.gone:
            # Its creation failed: it never existed in the cloud, so there is nothing to call.
            after, events = resources.withdrawn(replace(record, correlation_id=correlation_id))
            return Outcome(await store.commit_change(conn, after, events), done=True)
        after = resources.request(record, action, params or {}, correlation_id=correlation_id)
        if after is record:
            return Outcome(record, done=record.pending_action is None)
        after = await store.save(conn, after, retry_in=LEASE)
    return await _carry_out(clouds, pool, after)


async def _carry_out(clouds: CloudDirectory, pool: Pool, pending: ResourceRecord) -> Outcome:
    """The request's own cloud call for a record's pending action (see the module docstring)."""
    adapter = await clouds.adapter(pending.cloud_id)
    failure: ClanaviError
    async with pool.acquire() as conn, conn.transaction():
        record = await store.lock_by_id(conn, pending.id)
        if record is None or record.pending_action != pending.pending_action:
            # The worker got to it first (a lease can run out on a very slow cloud): report what it did.
            if record is None:
                raise NotFound(f"{resources.label(pending.kind).capitalize()} {pending.id} does not exist.")
            return Outcome(record, done=record.pending_action is None)
        action = record.pending_action
        assert action is not None
        try:
            value = await resources_cloud.perform(adapter, record, recovering=False)
        except CloudError as exc:
            keypair_created = record.kind == "key_pair" and action == "create"
            if isinstance(exc, CloudUnavailable) and not keypair_created:
                # The cloud may have acted before its answer was lost: the worker finds out and finishes.
                log.warning("%s %s of %s: the cloud did not answer; the worker takes over", record.kind, action, exc)
                after = resources.retried(
                    record, attempts=1, throttled=0, reason=f"The cloud did not answer; retrying: {exc}"
                )
                return Outcome(await store.save(conn, after, retry_in=errors.retry_after(exc)), done=False)
            if isinstance(exc, CloudUnavailable):
                # A generated key pair is useless without the private key this request can no longer show:
                # the worker removes whatever the cloud may have made (the action stays pending).
                await store.save(conn, record, retry_in=errors.retry_after(exc))
            else:
                before = resources.refused(record)
                if before is None:
                    await store.delete(conn, record.id)
                else:
                    await store.save(conn, before)
            field, invalid_field = _FIELDS.get((record.kind, action), (None, None))
            failure = errors.from_cloud(exc, cloud_id=record.cloud_id, field=field, invalid_field=invalid_field)
        else:
            after, events = resources.applied(record, _value(value), now=datetime.now(UTC))
            saved = await store.commit_change(conn, after, events)
            private_key = value.private_key if isinstance(value, KeyPair) else None
            return Outcome(saved, done=True, private_key=private_key)
    raise failure


def _value(value: Any) -> resources.CloudValue:
    if value is resources_cloud.DISCARDED:
        raise TypeError("a discarded creation has no value")
    result: resources.CloudValue = value
    return result


async def get(pool: Pool, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord:
    return await owned.resource(pool, project_id, kind, resource_id)


def _same_cloud(what: str, given: str, found_in: str, cloud_id: str | None, location: str) -> None:
    """Refuse a record of the project named in the body that is in another of its clouds than `cloud_id`."""
    if cloud_id is not None and found_in != cloud_id:
        raise ValidationFailed(
            f"{what.capitalize()} {given} is in cloud {found_in}, not {cloud_id}.",
            errors=[{"location": location, "message": "in another cloud"}],
        )


def _usable(instance: InstanceRecord, *, cloud_id: str | None, location: str) -> InstanceRecord:
    """An instance of the project named in the body, when it exists in its cloud (and in `cloud_id`, when given)."""
    _same_cloud("instance", instance.id, instance.cloud_id, cloud_id, location)
    if instance.provider_id is None or instance.state in ("terminating", "terminated", "error"):
        raise InvalidState(f"Instance {instance.id} is {instance.state}.", state=instance.state)
    return instance


def _new(
    kind: Kind,
    *,
    project_id: str,
    cloud_id: str,
    name: str,
    correlation_id: str,
    attrs: Mapping[str, Any] | None = None,
    pending: Mapping[str, Any] | None = None,
    action: str | None = None,
    resource_id: str | None = None,
) -> ResourceRecord:
    return resources.new_record(
        kind,
        id=resource_id or str(uuid.uuid4()),
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        attrs=attrs or {},
        pending=pending or {},
        correlation_id=correlation_id,
        now=datetime.now(UTC),
        action=action,
    )


# --- key pairs -------------------------------------------------------------------------------------------------

_KEY_TYPES = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def check_public_key(public_key: str) -> str:
    """An OpenSSH public key line, stripped; ValidationFailed when it is not one."""
    parts = public_key.strip().split()
    valid = len(parts) >= 2 and parts[0] in _KEY_TYPES
    if valid:
        try:
            blob = base64.b64decode(parts[1], validate=True)
            valid = blob[4 : 4 + len(parts[0])] == parts[0].encode()
        except (binascii.Error, ValueError):
            valid = False
    if not valid:
        raise ValidationFailed(
            "The public key is not an OpenSSH public key.",
            errors=[{"location": "body.public_key", "message": f"expected '<type> <base64> [comment]', {_KEY_TYPES}"}],
        )
    return " ".join(parts)


async def create_key_pair(
    pool: Pool, clouds: CloudDirectory, *, project_id: str, cloud_id: str, name: str, correlation_id: str
) -> Outcome:
    await owned.cloud(pool, project_id, cloud_id, named_in="body.cloud_id")
    await clouds.require(cloud_id, "create_key_pair")
    record = _new("key_pair", project_id=project_id, cloud_id=cloud_id, name=name, correlation_id=correlation_id)
    return await _create(clouds, pool, record)


async def import_key_pair(
    pool: Pool,
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str,
    name: str,
    public_key: str,
    correlation_id: str,
) -> Outcome:
    await owned.cloud(pool, project_id, cloud_id, named_in="body.cloud_id")
    key = check_public_key(public_key)
    await clouds.require(cloud_id, "import_key_pair")
    record = _new(
        "key_pair",
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        correlation_id=correlation_id,
        pending={"public_key": key},
        action="import",
    )
    return await _create(clouds, pool, record)


# --- security groups -------------------------------------------------------------------------------------------


async def create_security_group(
    pool: Pool,
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str,
    name: str,
    description: str,
    correlation_id: str,
) -> Outcome:
    await owned.cloud(pool, project_id, cloud_id, named_in="body.cloud_id")
    await clouds.require(cloud_id, "create_security_group")
    record = _new(
        "security_group",
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        correlation_id=correlation_id,
        attrs={"description": description, "rules": []},
    )
    return await _create(clouds, pool, record)


async def authorize_rule(
    pool: Pool, clouds: CloudDirectory, *, project_id: str, group_id: str, rule: SecurityRule, correlation_id: str
) -> Outcome:
    group = await owned.resource(pool, project_id, "security_group", group_id)
    rule = resources.check_rule(rule)
    if resources.find_rule(group, resources.rule_id(rule)) is not None:
        return Outcome(group, done=True)  # granted already: nothing to do
    return await _rule_action(clouds, pool, group, "authorize", rule, correlation_id)


async def revoke_rule(
    pool: Pool, clouds: CloudDirectory, *, project_id: str, group_id: str, rule_id: str, correlation_id: str
) -> Outcome:
    group = await owned.resource(pool, project_id, "security_group", group_id)
    rule = resources.find_rule(group, rule_id)
    if rule is None:
        raise NotFound(f"Security group {group_id} has no rule {rule_id}.")
    return await _rule_action(clouds, pool, group, "revoke", rule, correlation_id)


async def _rule_action(
    clouds: CloudDirectory, pool: Pool, group: ResourceRecord, action: str, rule: SecurityRule, correlation_id: str
) -> Outcome:
    params = {"rule": resources.rule_to_dict(rule)}
    return await _act(clouds, pool, group, action, params=params, correlation_id=correlation_id)


async def delete_security_group(
    pool: Pool, clouds: CloudDirectory, *, project_id: str, group_id: str, correlation_id: str
) -> Outcome:
    group = await owned.resource(pool, project_id, "security_group", group_id)
    users = await repository.using_security_group(pool, project_id, group.id)
    if users:
        raise InvalidState(
            f"Security group {group_id} is used by {len(users)} instance(s) that are not terminated: "
            + ", ".join(users[:5]),
            instance_ids=users[:20],
        )
    return await _act(clouds, pool, group, "delete", correlation_id=correlation_id)


# --- volumes and snapshots -------------------------------------------------------------------------------------


async def _check_zone(clouds: CloudDirectory, cloud_id: str, zone: str | None, location: str) -> None:
    if zone is None or Feature.ZONES not in await clouds.features(cloud_id):
        return
    try:
        zones = await clouds.zones(cloud_id)
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=cloud_id) from exc
    if zone not in {z.id for z in zones}:
        raise ValidationFailed(
            f"Cloud {cloud_id} has no zone {zone}.",
            errors=[{"location": location, "message": f"one of {sorted(z.id for z in zones)}"}],
        )


async def create_volume(
    pool: Pool,
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str,
    name: str,
    size_gb: int | None,
    zone: str | None,
    snapshot_id: str | None,
    correlation_id: str,
) -> Outcome:
    await owned.cloud(pool, project_id, cloud_id, named_in="body.cloud_id")
    snapshot = None
    if snapshot_id is not None:
        snapshot = await owned.resource(pool, project_id, "snapshot", snapshot_id, named_in="body.snapshot_id")
    await clouds.require(cloud_id, "create_volume")
    pending: dict[str, Any] = {}
    if snapshot is not None:
        await clouds.require(cloud_id, feature=Feature.VOLUME_FROM_SNAPSHOT)
        _same_cloud("snapshot", snapshot.id, snapshot.cloud_id, cloud_id, "body.snapshot_id")
        if snapshot.state != "available":
            raise InvalidState(f"Snapshot {snapshot_id} is {snapshot.state}.", state=snapshot.state)
        least = int(snapshot.attrs.get("size_gb") or 1)
        if size_gb is not None and size_gb < least:
            raise ValidationFailed(
                f"A volume from snapshot {snapshot_id} needs at least {least} GB.",
                errors=[{"location": "body.size_gb", "message": f"at least {least}"}],
            )
        size_gb = size_gb or least
        pending["provider_snapshot_id"] = snapshot.provider_id
    if size_gb is None:
        raise ValidationFailed(
            "A volume needs a size (or a snapshot to take it from).",
            errors=[{"location": "body.size_gb", "message": "required without snapshot_id"}],
        )
    await _check_zone(clouds, cloud_id, zone, "body.zone")
    record = _new(
        "volume",
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        correlation_id=correlation_id,
        attrs={"size_gb": size_gb, "zone": zone, "snapshot_id": snapshot_id, "instance_id": None, "device": None},
        pending=pending,
    )
    return await _create(clouds, pool, record)


async def attach_volume(
    pool: Pool,
    clouds: CloudDirectory,
    *,
    project_id: str,
    volume_id: str,
    instance_id: str,
    device: str | None,
    correlation_id: str,
) -> Outcome:
    volume = await owned.resource(pool, project_id, "volume", volume_id)
    instance = await owned.instance(pool, project_id, instance_id, named_in="body.instance_id")
    _usable(instance, cloud_id=volume.cloud_id, location="body.instance_id")
    params = {"instance_id": instance.id, "provider_instance_id": instance.provider_id, "device": device}
    return await _act(clouds, pool, volume, "attach", params=params, correlation_id=correlation_id)


async def create_snapshot(
    pool: Pool, clouds: CloudDirectory, *, project_id: str, volume_id: str, name: str, correlation_id: str
) -> Outcome:
    volume = await owned.resource(pool, project_id, "volume", volume_id, named_in="body.volume_id")
    await clouds.require(volume.cloud_id, "create_snapshot")
    if volume.provider_id is None or volume.state not in ("available", "in-use"):
        raise InvalidState(f"Volume {volume_id} is {volume.state}.", state=volume.state)
    record = _new(
        "snapshot",
        project_id=project_id,
        cloud_id=volume.cloud_id,
        name=name,
        correlation_id=correlation_id,
        attrs={"volume_id": volume.id, "size_gb": volume.attrs.get("size_gb")},
        pending={"provider_volume_id": volume.provider_id},
    )
    return await _create(clouds, pool, record)


# --- addresses -------------------------------------------------------------------------------------------------


async def allocate_address(
    pool: Pool, clouds: CloudDirectory, *, project_id: str, cloud_id: str, name: str | None, correlation_id: str
) -> Outcome:
    await owned.cloud(pool, project_id, cloud_id, named_in="body.cloud_id")
    await clouds.require(cloud_id, "allocate_address", "list_addresses")
    adapter = await clouds.adapter(cloud_id)
    try:
        # What the account holds before the call: a worker recovering from a lost answer finds the new one by it.
        known = sorted(a.id for a in await adapter.list_addresses())
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=cloud_id) from exc
    resource_id = str(uuid.uuid4())
    record = _new(
        "address",
        project_id=project_id,
        cloud_id=cloud_id,
        name=name or f"address-{resource_id[:8]}",
        correlation_id=correlation_id,
        attrs={"ip": None, "instance_id": None},
        pending={"known_before": known},
        resource_id=resource_id,
    )
    return await _create(clouds, pool, record)


async def associate_address(
    pool: Pool, clouds: CloudDirectory, *, project_id: str, address_id: str, instance_id: str, correlation_id: str
) -> Outcome:
    address = await owned.resource(pool, project_id, "address", address_id)
    instance = await owned.instance(pool, project_id, instance_id, named_in="body.instance_id")
    _usable(instance, cloud_id=address.cloud_id, location="body.instance_id")
    params = {"instance_id": instance.id, "provider_instance_id": instance.provider_id}
    return await _act(clouds, pool, address, "associate", params=params, correlation_id=correlation_id)


# --- images ----------------------------------------------------------------------------------------------------


async def create_image(
    pool: Pool,
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str | None,
    instance_id: str,
    name: str,
    correlation_id: str,
) -> Outcome:
    if cloud_id is not None:
        await owned.cloud(pool, project_id, cloud_id, named_in="body.cloud_id")
    instance = await owned.instance(pool, project_id, instance_id, named_in="body.instance_id")
    _usable(instance, cloud_id=cloud_id, location="body.instance_id")
    await clouds.require(instance.cloud_id, "create_image")
    record = _new(
        "image",
        project_id=project_id,
        cloud_id=instance.cloud_id,
        name=name,
        correlation_id=correlation_id,
        attrs={"instance_id": instance.id},
        pending={"provider_instance_id": instance.provider_id},
    )
    return await _create(clouds, pool, record)


# --- the plain actions -----------------------------------------------------------------------------------------


async def act(
    pool: Pool,
    clouds: CloudDirectory,
    *,
    project_id: str,
    kind: Kind,
    resource_id: str,
    action: str,
    correlation_id: str,
) -> Outcome:
    """An action that takes no parameters: delete, detach, disassociate, release, deregister."""
    current = await owned.resource(pool, project_id, kind, resource_id)
    return await _act(clouds, pool, current, action, correlation_id=correlation_id)


# --- the worker's steps ----------------------------------------------------------------------------------------


async def dispatch(pool: Pool, clouds: CloudDirectory, resource_id: str, *, policy: RetryPolicy, pacer: Pacer) -> bool:
    """Carry out a pending action a request did not finish (the cloud did not answer, or the process died)."""
    async with pool.acquire() as conn, conn.transaction():
        record = await store.claim_action(conn, resource_id)
        if record is None:
            return False
        token = correlation.current.set(record.correlation_id)
        try:
            await _dispatch(conn, clouds, record, policy=policy, pacer=pacer)
            return True
        finally:
            correlation.current.reset(token)


async def _dispatch(
    conn: Connection, clouds: CloudDirectory, record: ResourceRecord, *, policy: RetryPolicy, pacer: Pacer
) -> None:
    action = record.pending_action
    assert action is not None
    wait = pacer.wait(record.cloud_id)
    if wait > 0:
        await store.save(conn, record, retry_in=wait)
        return
    try:
        adapter = await clouds.adapter(record.cloud_id)
    except errors.ModuleDisabled:
        return  # its adapter module was disabled meanwhile: the action waits, untouched, until it is enabled
    except ClanaviError as exc:
        after, events = resources.failed(record, action, exc.detail)
        await store.commit_change(conn, after, events)
        return
    known: set[str] = set()
    if record.kind == "address" and action == "allocate":
        known = await store.provider_ids(conn, record.cloud_id, "address")
    try:
        value = await resources_cloud.perform(adapter, record, recovering=True, known_addresses=known)
    except CloudError as exc:
        plan = plan_after_failure(record, exc, policy, pacer)
        if plan is not None:
            after = resources.retried(record, attempts=plan.attempts, throttled=plan.throttled, reason=str(exc))
            await store.save(conn, after, retry_in=plan.delay)
            return
        log.warning("%s %s of %s failed for good: %s", record.kind, action, record.id, exc)
        after, events = resources.failed(record, action, give_up_reason(exc, policy))
        await store.commit_change(conn, after, events)
        return
    pacer.succeeded(record.cloud_id)
    if value is resources_cloud.DISCARDED:
        log.warning("key pair %s: its creation was interrupted; removed from the cloud and from Clanavi", record.id)
        await store.delete(conn, record.id)
        return
    after, events = resources.applied(record, _value(value), now=datetime.now(UTC))
    await store.commit_change(conn, after, events)


async def follow(pool: Pool, clouds: CloudDirectory, pacer: Pacer) -> int:
    """Check every resource in transition with its cloud (one list call per cloud and kind); record what changed."""
    groups: dict[tuple[str, Kind], list[ResourceRecord]] = defaultdict(list)
    for record in await store.moving(pool):
        groups[(record.cloud_id, record.kind)].append(record)
    changed = 0
    for (cloud_id, kind), records in groups.items():
        if pacer.wait(cloud_id) > 0:
            continue
        try:
            adapter = await clouds.adapter(cloud_id)
            seen = await resources_cloud.current(adapter, kind, [r.provider_id or "" for r in records])
        except Throttled as exc:
            pacer.throttled(cloud_id, errors.retry_after(exc))
            continue
        except (CloudError, ClanaviError) as exc:
            log.warning("could not follow %ss in cloud %s: %s", kind, cloud_id, exc)
            continue
        pacer.succeeded(cloud_id)
        now = datetime.now(UTC)
        updates = [r.id for r in records if resources.observe(r, seen.get(r.provider_id or ""), now=now) != (r, [])]
        if not updates:
            continue
        async with pool.acquire() as conn, conn.transaction():
            for record in await store.lock_moving(conn, updates):
                after, events = resources.observe(record, seen.get(record.provider_id or ""), now=now)
                if events or after != record:
                    token = correlation.current.set(record.correlation_id)
                    try:
                        await store.commit_change(conn, after, events)
                    finally:
                        correlation.current.reset(token)
                    changed += 1
    return changed


__all__ = [
    "LEASE",
    "Outcome",
    "act",
    "allocate_address",
    "associate_address",
    "attach_volume",
    "authorize_rule",
    "check_public_key",
    "create_image",
    "create_key_pair",
    "create_security_group",
    "create_snapshot",
    "create_volume",
    "delete_security_group",
    "dispatch",
    "follow",
    "get",
    "import_key_pair",
    "revoke_rule",
]
