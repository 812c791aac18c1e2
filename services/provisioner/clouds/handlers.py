"""Use cases of a project's clouds: a project adds, changes and removes them. No FastAPI and no aio-pika here.

A new or changed cloud is checked against the endpoint policy (`endpoints`), then connected and asked for something
cheap (its regions) before anything is stored: a cloud that cannot connect is refused with what the adapter says went
wrong (never what the other side answered; credential values blanked out), and the whole error goes to the log. The
change and its event (`cloud.added`, `cloud.updated`, `cloud.removed`; names of credential fields, never values)
commit in one transaction. The clouds from configuration are kept by `configured`.

A stored cloud is tested again the same way (`connection_test`), with what is stored: the outcome is answered, not
raised, and nothing is written, so no event either (an event tells what changed, and a test changes nothing).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from adapters import registry
from adapters.base import FEATURE_OPERATIONS, CloudAdapter, CloudError, Feature, Operation
from kernel.crypto import Keyring
from kernel.errors import ClanaviError, Conflict, ValidationFailed
from kernel.events import CloudRemoved
from kernel.keyset import PageRequest
from kernel.unit_of_work import UnitOfWork
from services.provisioner import errors
from services.provisioner.clouds import credentials as sealing
from services.provisioner.clouds import domain, endpoints
from services.provisioner.clouds.directory import CLOUDS_CHANNEL, CloudDirectory
from services.provisioner.clouds.domain import (
    PLURALS,
    Cloud,
    CloudConfigured,
    CloudConnectionFailed,
    CloudInUse,
    CredentialsUnreadable,
    Misconfigured,
)
from services.provisioner.clouds.repository import CloudStore, NameTaken, StillReferenced, owned_cloud
from services.provisioner.errors import ModuleIsDisabled
from services.provisioner.owned import missing
from services.provisioner.prices.published import builtin_pages

log = logging.getLogger(__name__)

# The cheap authenticated call of a connection test: the first of these the adapter declares.
_PROBES: tuple[tuple[Feature, Operation], ...] = (
    (Feature.ZONES, Operation.LIST_REGIONS),
    (Feature.FLAVORS, Operation.LIST_FLAVORS),
    (Feature.IMAGES, Operation.LIST_IMAGES),
)
assert all(op in FEATURE_OPERATIONS[feature] for feature, op in _PROBES)


@dataclass(frozen=True)
class NewCloud:
    project_id: str
    name: str
    driver: str
    config: Mapping[str, Any]
    credentials: Mapping[str, str]
    enabled: bool
    correlation_id: str


@dataclass(frozen=True)
class CloudChange:
    """What a PATCH names; None leaves a field as it is. `config` and `credentials` replace the whole object."""

    name: str | None = None
    config: Mapping[str, Any] | None = None
    credentials: Mapping[str, str] | None = None
    enabled: bool | None = None


def keyring_of(clouds: CloudDirectory) -> Keyring:
    if clouds.keyring is None:
        raise RuntimeError("the cloud directory has no keyring: pass one to CloudDirectory")
    return clouds.keyring


def same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return sorted(
        k for k in set(before) | set(after) if k not in before or k not in after or not same(before[k], after[k])
    )


def changed_fields(**differs: bool) -> list[str]:
    """The names of the fields that differ, in the order given."""
    return [name for name, differ in differs.items() if differ]


# --- the connection test ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What a connection test asked the cloud (`regions`, `flavors` or `images`) and how many it answered; nothing
    when the adapter declares none of them (connecting was the whole test)."""

    tested: str | None = None
    found: int | None = None


@dataclass(frozen=True)
class ConnectionTest:
    """A stored cloud's connection test: passed with its probe, or failed with the refusal a new account with these
    settings would get (`failure`); `latency_ms` covers connecting and the call."""

    cloud_id: str
    ok: bool
    latency_ms: int
    probe: Probe
    failure: ValidationFailed | None = None


async def _probe(adapter: CloudAdapter) -> Probe:
    for feature, operation in _PROBES:
        if feature in adapter.features:
            answered = await getattr(adapter, operation)()
            return Probe(operation.removeprefix("list_"), len(answered))
    return Probe()


async def check_connection(
    clouds: CloudDirectory,
    *,
    cloud_id: str,
    driver: str,
    config: Mapping[str, Any],
    credentials: Mapping[str, Any],
    within: float,
    check_endpoints: bool = True,
    where: str = "body.",
    outcome: str = "Nothing was stored.",
) -> Probe:
    """Check where the cloud points, then connect it as it would be stored and make one cheap authenticated call.
    Raises EndpointDenied (422) naming the settings that point into a denied network, CloudConnectionFailed (422)
    saying what went wrong, or ValidationFailed (422) naming the settings the adapter refuses; never with a credential
    value in it, nor what the other side answered. Fields are named under `where`; `outcome` ends each refusal.
    Settings of the operator's own accounts (`check_endpoints` false) are not checked again here."""
    if check_endpoints:
        reserved = sorted(set(config) & getattr(clouds.adapter_class(driver, cloud_id), "operator_fields", frozenset()))
        if reserved:
            raise ValidationFailed(
                f"Only the provisioner's configuration may give these settings. {outcome}",
                errors=[
                    {"location": f"{where}config.{name}", "message": "set by the operator only"} for name in reserved
                ],
            )
        await endpoints.check(config, credentials, deny=clouds.endpoint_deny, within=within)
    try:
        async with asyncio.timeout(within):
            adapter = await clouds.connect(cloud_id, driver, {**config, **credentials})
            try:
                return await _probe(adapter)
            finally:
                await adapter.close()
    except TimeoutError:
        raise CloudConnectionFailed(
            f"The cloud did not answer the connection test within {within:g} seconds. {outcome}",
            errors=[{"location": f"{where}config", "message": "no answer"}],
        ) from None
    except Misconfigured as exc:
        raise ValidationFailed(
            f"The {driver} adapter refuses these settings. {outcome}",
            errors=[
                {
                    "location": f"{where}{'credentials' if loc.split('.')[0] in credentials else 'config'}.{loc}",
                    "message": msg,
                }
                for loc, msg in exc.problems
            ],
        ) from None
    except ClanaviError:
        raise
    except Exception as exc:  # noqa: BLE001 - an SDK error no adapter translated still means "cannot connect"
        log.warning(
            "connection test of cloud %s (%s) failed: %s",
            cloud_id,
            driver,
            sealing.scrub(errors.chain(exc), credentials),
        )
        if isinstance(exc, CloudError):
            message = sealing.scrub(errors.describe(exc), credentials)
            extensions = {"cloud_error": type(exc).__name__}
        else:
            # The SDK's own words may quote the other side: only its type is said.
            message, extensions = f"the {driver} adapter raised {type(exc).__name__}", {}
        raise CloudConnectionFailed(
            f"Connecting to the cloud failed: {message}. {outcome}",
            errors=[{"location": where.rstrip(".") or "cloud", "message": message}],
            **extensions,
        ) from None


async def connection_test(
    uow: UnitOfWork[CloudStore], clouds: CloudDirectory, *, project_id: str, cloud_id: str, within: float
) -> ConnectionTest:
    """Connect a stored cloud anew with its stored settings and credentials, and make the call a new account's test
    makes; the account is not changed. Raises NotFound, ModuleIsDisabled, ModuleUnavailable or CredentialsUnreadable
    (409) when there is nothing to test; a test that fails is answered, with the refusal adding the account would
    get. Settings an operator configured are not checked against the endpoint policy, as when they were added."""
    cloud = await get(uow, project_id, cloud_id)
    clouds.require_module(cloud.id, cloud.driver)
    clouds.adapter_class(cloud.driver, cloud.id)
    secrets = sealing.open_credentials(clouds.keyring, cloud)
    started = time.monotonic()
    failure: ValidationFailed | None = None
    probe = Probe()
    try:
        probe = await check_connection(
            clouds,
            cloud_id=cloud.id,
            driver=cloud.driver,
            config=cloud.config,
            credentials=secrets,
            within=within,
            check_endpoints=cloud.source == "api",
            where="",
            outcome="The account is unchanged.",
        )
    except ValidationFailed as exc:
        failure = exc
    latency_ms = round((time.monotonic() - started) * 1000)
    log.info("connection test of cloud %s: %s in %d ms", cloud.id, "failed" if failure else "passed", latency_ms)
    return ConnectionTest(cloud.id, failure is None, latency_ms, probe, failure)


# --- a project's clouds -----------------------------------------------------------------------------------------


def _known_driver(clouds: CloudDirectory, driver: str) -> None:
    known = registry.modules()
    if driver not in known:
        raise ValidationFailed(
            f"There is no {driver} adapter; known: {', '.join(sorted(known))}.",
            errors=[{"location": "body.driver", "message": "unknown driver"}],
        )
    if not clouds.module_enabled(driver):
        raise ModuleIsDisabled(
            f"The {driver} adapter module is disabled; nothing was stored. An admin enables it with "
            f"PUT /v1/modules/{driver}.",
            module=driver,
        )
    clouds.adapter_class(driver)  # raises ModuleUnavailable (409) naming what the module lacks here


def _name_taken(project_id: str, name: str) -> Conflict:
    return Conflict(
        f"Project {project_id} has a cloud account named {name} already.",
        errors=[{"location": "body.name", "message": "name taken in this project"}],
    )


async def create(uow: UnitOfWork[CloudStore], clouds: CloudDirectory, req: NewCloud, *, within: float) -> Cloud:
    """Add a cloud to the project once it connects; 201 with it."""
    _known_driver(clouds, req.driver)
    domain.check(req.driver, req.config, req.credentials)
    async with uow.reading() as repos:
        if await repos.clouds.named(req.project_id, req.name) is not None:
            raise _name_taken(req.project_id, req.name)
    cloud_id = domain.new_cloud_id()
    await check_connection(
        clouds, cloud_id=cloud_id, driver=req.driver, config=req.config, credentials=req.credentials, within=within
    )
    sealed, key_id = sealing.seal(keyring_of(clouds), cloud_id, req.credentials)
    draft = Cloud(
        id=cloud_id,
        project_id=req.project_id,
        name=req.name,
        driver=req.driver,
        config=dict(req.config),
        enabled=req.enabled,
        created_at=datetime.now(UTC),
        credentials=sealed,
        credentials_key_id=key_id,
        credential_fields=tuple(sorted(req.credentials)),
        source="api",
    )
    async with uow.transaction() as tx:
        try:
            cloud = await tx.repos.clouds.add(draft)
        except NameTaken:
            raise _name_taken(req.project_id, req.name) from None
        event = domain.added(cloud)
        tx.emit_new(req.project_id, event, *builtin_pages(event), correlation_id=req.correlation_id)
    log.info("cloud %s (%s) added to project %s", cloud.id, cloud.driver, cloud.project_id)
    return cloud


def _refuse_configured(cloud: Cloud, doing: str) -> None:
    if cloud.source == "configuration":
        raise CloudConfigured(
            f"Cloud {cloud.id} comes from the provisioner's configuration (CLANAVI_PROVISIONER_CLOUDS, or the "
            f"built-in `sim`): {doing} it there.",
            cloud_id=cloud.id,
        )


async def update(
    uow: UnitOfWork[CloudStore],
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str,
    change: CloudChange,
    correlation_id: str,
    within: float,
) -> Cloud:
    """Change a cloud; new settings or credentials are tested before they replace the old ones."""
    async with uow.reading() as repos:
        cloud = await owned_cloud(repos.clouds, project_id, cloud_id)
    _refuse_configured(cloud, "change")
    config = dict(change.config) if change.config is not None else cloud.config
    config_changed = not same(config, cloud.config)
    credentials: dict[str, Any] = {}
    changed_credentials: list[str] = []
    if change.credentials is not None:
        credentials = dict(change.credentials)
        try:
            changed_credentials = changed_keys(sealing.open_credentials(clouds.keyring, cloud), credentials)
        except CredentialsUnreadable:
            changed_credentials = sorted(set(credentials) | set(cloud.credential_fields))
    if config_changed or changed_credentials:
        clouds.adapter_class(cloud.driver, cloud_id)  # its secrets are known only to its adapter class
        if change.credentials is None:
            credentials = sealing.open_credentials(clouds.keyring, cloud)
        domain.check(cloud.driver, config, credentials)
        clouds.require_module(cloud_id, cloud.driver)
        await check_connection(
            clouds, cloud_id=cloud_id, driver=cloud.driver, config=config, credentials=credentials, within=within
        )
    async with uow.transaction() as tx:
        current = await tx.repos.clouds.lock(project_id, cloud_id)
        if current is None:
            raise missing("cloud", cloud_id)
        after = replace(
            current,
            name=change.name if change.name is not None else current.name,
            enabled=change.enabled if change.enabled is not None else current.enabled,
            config=config,
        )
        if changed_credentials:
            sealed, key_id = sealing.seal(keyring_of(clouds), cloud_id, credentials)
            after = replace(
                after, credentials=sealed, credentials_key_id=key_id, credential_fields=tuple(sorted(credentials))
            )
        changed = changed_fields(
            name=after.name != current.name,
            enabled=after.enabled != current.enabled,
            config=config_changed,
            credentials=bool(changed_credentials),
        )
        if not changed:
            return current
        try:
            saved = await tx.repos.clouds.update(after)
        except NameTaken:
            raise _name_taken(project_id, after.name) from None
        updated = domain.updated(saved, changed, changed_keys(current.config, config), changed_credentials)
        tx.emit_new(project_id, updated, correlation_id=correlation_id)
        tx.notify(CLOUDS_CHANNEL, cloud_id)
    await clouds.forget(cloud_id)
    log.info("cloud %s changed: %s", cloud_id, ", ".join(changed))
    return saved


async def remove(
    uow: UnitOfWork[CloudStore],
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str,
    force: bool,
    correlation_id: str,
) -> None:
    """Remove a cloud. While Clanavi holds live resources in it, only with `force`, which drops Clanavi's records of
    them too (the cloud itself is not touched)."""
    async with uow.reading() as repos:
        cloud = await owned_cloud(repos.clouds, project_id, cloud_id)
    _refuse_configured(cloud, "remove")
    try:
        async with uow.transaction() as tx:
            current = await tx.repos.clouds.lock(project_id, cloud_id)
            if current is None:
                raise missing("cloud", cloud_id)
            live = await tx.repos.clouds.usage(cloud_id)
            if live and not force:
                counts = {PLURALS[kind]: len(ids) for kind, ids in live.items()}
                raise CloudInUse(
                    f"Clanavi holds live resources in cloud {cloud_id} ("
                    + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items())
                    + "): delete them first, or remove the account with ?force=true, which also drops Clanavi's "
                    "records of them (the cloud keeps them).",
                    cloud_id=cloud_id,
                    in_use=counts,
                )
            # Records of what ended (terminated instances, deleted volumes...) go too: the audit keeps their history.
            await tx.repos.clouds.forget_records(cloud_id)
            forgotten = live if force else {}
            await tx.repos.clouds.delete(cloud_id)
            removed = CloudRemoved(
                **domain.about(current),
                forced=force,
                forgotten={PLURALS[kind]: len(ids) for kind, ids in forgotten.items()},
                forgotten_ids=[i for ids in forgotten.values() for i in ids],
            )
            tx.emit_new(project_id, removed, correlation_id=correlation_id)
            tx.notify(CLOUDS_CHANNEL, cloud_id)
    except StillReferenced:
        # Something was recorded in the cloud meanwhile (or in a table that keeps its records): still in use.
        raise CloudInUse(
            f"Clanavi recorded something in cloud {cloud_id} meanwhile; nothing was removed. Try again.",
            cloud_id=cloud_id,
        ) from None
    await clouds.forget(cloud_id)
    log.info("cloud %s removed%s", cloud_id, " with its records" if force else "")


async def get(uow: UnitOfWork[CloudStore], project_id: str, cloud_id: str) -> Cloud:
    async with uow.reading() as repos:
        return await owned_cloud(repos.clouds, project_id, cloud_id)


async def page(
    uow: UnitOfWork[CloudStore], project_id: str, *, driver: str | None, name: str | None, request: PageRequest
) -> tuple[list[Cloud], str | None]:
    """One page of the project's clouds, and the cursor of the next page (None on the last)."""
    async with uow.reading() as repos:
        return await repos.clouds.page(project_id, driver=driver, name=name, request=request)


async def of_project(uow: UnitOfWork[CloudStore], project_id: str) -> list[Cloud]:
    async with uow.reading() as repos:
        return await repos.clouds.of_project(project_id)


__all__ = [
    "CloudChange",
    "ConnectionTest",
    "NewCloud",
    "Probe",
    "check_connection",
    "connection_test",
    "create",
    "get",
    "of_project",
    "page",
    "remove",
    "update",
]
