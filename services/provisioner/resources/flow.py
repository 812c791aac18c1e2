"""How a request for a key pair, security group, volume, snapshot, address or image is carried out; the use cases of
each kind (the other modules of this package) go through it.

Why the cloud call is made in the request, and why that cannot leave an orphan in the cloud:

These calls are quick, and some answers exist only once (a generated private key), so the request that asks for an
action carries it out itself and answers with the result, through the pending-action engine's steps:

1. the record is written (a new one, or the existing one locked) with the action *pending*, the state it shows
   meanwhile (`creating`, `attaching`, ...) and the request's claim on it, and committed;
2. the cloud is called, holding nothing of the database (the claim's lease is renewed while the call lasts);
3. the cloud's answer is committed with the record's new state and its events, while the claim is still the
   request's.

If the process dies before the third step, the record still holds the pending action, and the worker takes it over
once the claim's lease runs out. A creation of a volume, snapshot, image or address sends the record's id as its
client token, so where the cloud honours it the worker asks again and gets what the first try made; otherwise, and
for the other actions, the worker first looks for what the interrupted try did and adopts it (`resources.cloud.recover`
explains how, kind by kind); an interrupted key pair creation is undone instead, since its private key is lost. So
every resource made in a cloud has a record, and nothing is done twice.

When the cloud refuses at once (bad request, wrong state, quota, not found, throttled) the request is answered with
the error and the record goes back to what it was (a new one is removed): no event, nothing half-done. When the cloud
does not answer (`CloudUnavailable`) the call may or may not have taken effect, so the record keeps its pending
action and the request answers 202: the worker finds out and finishes it, with backoff, and reports a final failure
as `<kind>.failed`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from adapters.base import CloudError, CloudUnavailable, KeyPair
from kernel.errors import ClanaviError, InvalidState, NotFound, ValidationFailed
from kernel.keyset import PageRequest
from kernel.unit_of_work import UnitOfWork
from services.provisioner import errors
from services.provisioner.clouds import repository as clouds
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import Cloud
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.instances.repository import owned_instance
from services.provisioner.owned import missing
from services.provisioner.resources import domain, transitions
from services.provisioner.resources import repository as resources
from services.provisioner.resources.cloud import OPERATIONS, RESOURCES, perform
from services.provisioner.resources.domain import CloudValue, Kind, ResourceRecord
from services.provisioner.resources.repository import ResourceFilter, ResourceStore
from services.provisioner.work.engine import ClaimLost, Engine, Settlement

log = logging.getLogger(__name__)

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
class Ports:
    """What a resource use case works with: its unit of work, the clouds, and the engine whose steps it takes."""

    uow: UnitOfWork[ResourceStore]
    clouds: CloudDirectory
    engine: Engine


@dataclass(frozen=True)
class Outcome:
    """A request's result: `done` when the cloud call completed in the request (else the worker finishes it)."""

    record: ResourceRecord
    done: bool
    # Only for a key pair the cloud generated, in the answer to its creation: never stored.
    private_key: str | None = None


async def owned_cloud(
    ports: Ports, project_id: str, cloud_id: str, *operations: str, named_in: str | None = "body.cloud_id"
) -> Cloud:
    """One of the project's clouds (named in a body, by default), when its adapter does `operations` (409, 501
    otherwise)."""
    async with ports.uow.reading() as repos:
        cloud = await clouds.owned_cloud(repos.clouds, project_id, cloud_id, named_in=named_in)
    if operations:
        await ports.clouds.require(cloud, *operations)
    return cloud


async def owned_resource(
    ports: Ports, project_id: str, kind: Kind, resource_id: str, *, named_in: str | None = None
) -> ResourceRecord:
    async with ports.uow.reading() as repos:
        return await resources.owned_resource(repos.resources, project_id, kind, resource_id, named_in=named_in)


async def create(ports: Ports, record: ResourceRecord) -> Outcome:
    """Record a new resource held by this request's claim, and carry out its creation."""
    await ports.clouds.adapter(record.cloud_id)  # a disabled or uninstalled cloud is refused before anything is written
    claim = ports.engine.new_claim()
    async with ports.uow.transaction() as tx:
        await tx.repos.resources.add(record, claim=claim, lease=ports.engine.lease)
    return await _carry_out(ports, record, claim)


async def act(
    ports: Ports, current: ResourceRecord, action: str, *, params: Mapping[str, Any] | None = None, correlation_id: str
) -> Outcome:
    """Carry out `action` on a record the caller looked up in its project (`owned_resource`)."""
    kind = current.kind
    rules = domain.RULES[kind]
    async with ports.uow.reading() as repos:
        cloud = await clouds.owned_cloud(repos.clouds, current.project_id, current.cloud_id)
    ports.clouds.require_module(cloud.id, cloud.driver)
    if domain.needs_cloud(current) and not (action == rules.remove and current.state == rules.gone):
        await ports.clouds.require(cloud, *OPERATIONS[(kind, action)])
        await ports.clouds.adapter(cloud.id)
    claim = ports.engine.new_claim()
    async with ports.uow.transaction() as tx:
        record = await tx.repos.resources.lock(current.project_id, kind, current.id)
        if record is None:
            raise missing(domain.label(kind), current.id)
        if action == rules.remove and not domain.needs_cloud(record) and record.state != rules.gone:
            # Its creation failed: it never existed in the cloud, so there is nothing to call.
            after, events = domain.withdrawn(replace(record, correlation_id=correlation_id))
            return Outcome(await tx.repos.resources.save(tx.changed(after, *events)), done=True)
        after = domain.request(record, action, params or {}, correlation_id=correlation_id)
        if after is record:
            return Outcome(record, done=record.pending_action is None)
        after = await tx.repos.resources.hold(after, claim, ports.engine.lease)
    return await _carry_out(ports, after, claim)


async def _carry_out(ports: Ports, pending: ResourceRecord, claim: str) -> Outcome:
    """The request's own cloud call for a record's pending action (see the module's docstring)."""
    adapter = await ports.clouds.adapter(pending.cloud_id)
    failure: ClanaviError | None = None
    value: CloudValue = None
    async with ports.engine.holding(RESOURCES, pending.id, claim):
        try:
            value = await perform(adapter, pending)
        except CloudError as exc:
            settlement, failure = _unanswered(pending, exc)
        else:
            settlement = Settlement(*transitions.applied(pending, value, now=datetime.now(UTC)))
    try:
        saved = await ports.engine.settle(RESOURCES, pending.id, claim, settlement)
    except ClaimLost:
        # The worker got to it first (a lease can run out on a very slow cloud): report what it did.
        async with ports.uow.reading() as repos:
            record = await repos.resources.find(pending.id)
        if record is None:
            raise NotFound(f"{domain.label(pending.kind).capitalize()} {pending.id} does not exist.") from None
        return Outcome(record, done=record.pending_action is None)
    if failure is not None:
        raise failure
    if saved is None:
        raise NotFound(f"{domain.label(pending.kind).capitalize()} {pending.id} does not exist.")
    return Outcome(saved, done=saved.pending_action is None, private_key=_private_key(value))


def _private_key(value: CloudValue) -> str | None:
    return value.private_key if isinstance(value, KeyPair) else None


def _unanswered(record: ResourceRecord, exc: CloudError) -> tuple[Settlement[ResourceRecord], ClanaviError | None]:
    """What a request's failed cloud call leaves, and the error it answers (None: 202, the worker finishes)."""
    action = str(record.pending_action)
    keypair_created = record.kind == "key_pair" and action == "create"
    if isinstance(exc, CloudUnavailable) and not keypair_created:
        # The cloud may have acted before its answer was lost: the worker finds out and finishes.
        log.warning("%s %s of %s: the cloud did not answer; the worker takes over", record.kind, action, record.id)
        after = replace(
            record, attempts=1, throttled=0, reason=f"The cloud did not answer; retrying: {errors.describe(exc)}"
        )
        return Settlement(after, retry_in=errors.retry_after(exc)), None
    field, invalid_field = _FIELDS.get((record.kind, action), (None, None))
    failure = errors.from_cloud(exc, cloud_id=record.cloud_id, field=field, invalid_field=invalid_field)
    if isinstance(exc, CloudUnavailable):
        # A generated key pair is useless without the private key this request can no longer show: the worker
        # removes whatever the cloud may have made (the action stays pending).
        return Settlement(record, retry_in=errors.retry_after(exc)), failure
    return Settlement(domain.refused(record)), failure


async def get(ports: Ports, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord:
    return await owned_resource(ports, project_id, kind, resource_id)


async def page(ports: Ports, flt: ResourceFilter, request: PageRequest) -> tuple[list[ResourceRecord], str | None]:
    """One page of a project's resources of one kind, and the cursor of the next page (None on the last)."""
    async with ports.uow.reading() as repos:
        return await repos.resources.page(flt, request)


async def act_plainly(
    ports: Ports, *, project_id: str, kind: Kind, resource_id: str, action: str, correlation_id: str
) -> Outcome:
    """An action that takes no parameters: delete, detach, disassociate, release, deregister."""
    current = await owned_resource(ports, project_id, kind, resource_id)
    return await act(ports, current, action, correlation_id=correlation_id)


def same_cloud(what: str, given: str, found_in: str, cloud_id: str | None, location: str) -> None:
    """Refuse a record of the project named in the body that is in another of its clouds than `cloud_id`."""
    if cloud_id is not None and found_in != cloud_id:
        raise ValidationFailed(
            f"{what.capitalize()} {given} is in cloud {found_in}, not {cloud_id}.",
            errors=[{"location": location, "message": "in another cloud"}],
        )


async def usable_instance(
    ports: Ports, project_id: str, instance_id: str, *, cloud_id: str | None, location: str
) -> InstanceRecord:
    """An instance of the project named in the body, when it exists in its cloud (and in `cloud_id`, when given)."""
    async with ports.uow.reading() as repos:
        instance = await owned_instance(repos.instances, project_id, instance_id, named_in=location)
    same_cloud("instance", instance.id, instance.cloud_id, cloud_id, location)
    if instance.provider_id is None or instance.state in ("terminating", "terminated", "error"):
        raise InvalidState(f"Instance {instance.id} is {instance.state}.", state=instance.state)
    return instance


__all__ = [
    "Outcome",
    "Ports",
    "act",
    "act_plainly",
    "create",
    "get",
    "owned_cloud",
    "owned_resource",
    "page",
    "same_cloud",
    "usable_instance",
]
