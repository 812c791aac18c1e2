"""Use cases of cloud accounts: a project adds, changes and removes its accounts; the provisioner's start brings the
configured accounts up to date, seals secrets still stored in the clear, and rewraps credentials sealed with an old
key. No FastAPI and no aio-pika here.

A new or changed account is checked against the endpoint policy (`accounts_endpoints`), then connected and asked for
something cheap (its regions) before anything is stored: an account that cannot connect is refused with what the
adapter says went wrong (never what the other side answered; credential values blanked out), and the whole error goes
to the log. The change and its event (`cloud.added`, `cloud.updated`, `cloud.removed`; names of credential fields,
never values) commit in one transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from adapters import registry
from adapters.base import FEATURE_OPERATIONS, CloudAdapter, CloudError, Feature
from kernel import outbox
from kernel.crypto import CryptoError, Keyring
from kernel.db import Connection, Pool
from kernel.errors import ClanaviError, Conflict, ValidationFailed
from kernel.events import CloudAdded, CloudRemoved, CloudUpdated, EventPayload, new_event
from services.provisioner import accounts, accounts_endpoints, errors, owned, repository, resources
from services.provisioner.accounts import CloudConnectionFailed, CloudInUse, ConfiguredAccount, Misconfigured
from services.provisioner.clouds import CloudDirectory
from services.provisioner.errors import ModuleDisabled
from services.provisioner.repository import DEFAULT_PROJECT, CloudAccount, NameTaken

log = logging.getLogger(__name__)

# Resource kind -> the name its count has in a `cloud_in_use` problem and a `cloud.removed` event.
_PLURALS = {
    "key_pair": "key_pairs",
    "security_group": "security_groups",
    "volume": "volumes",
    "snapshot": "snapshots",
    "address": "addresses",
    "image": "images",
    "instances": "instances",
}

# The cheap authenticated call of a connection test: the first of these the adapter declares.
_PROBES: tuple[tuple[Feature, str], ...] = (
    (Feature.ZONES, "list_regions"),
    (Feature.FLAVORS, "list_flavors"),
    (Feature.IMAGES, "list_images"),
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


@dataclass(frozen=True)
class Configured:
    """An account from configuration: secret fields may stand in `config` or in `credentials`."""

    id: str
    name: str
    driver: str
    config: Mapping[str, Any]
    credentials: Mapping[str, Any]
    enabled: bool = True


@dataclass(frozen=True)
class Rewrapped:
    rewrapped: int
    # Accounts no key of the keyring opens: they answer 409 `cloud_credentials_unreadable` until set again.
    unreadable: tuple[str, ...]


def _keyring(clouds: CloudDirectory) -> Keyring:
    if clouds.keyring is None:
        raise RuntimeError("the cloud directory has no keyring: pass one to CloudDirectory")
    return clouds.keyring


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return sorted(
        k for k in set(before) | set(after) if k not in before or k not in after or not _same(before[k], after[k])
    )


async def _queue(conn: Connection, payload: EventPayload, *, project_id: str, correlation_id: str) -> None:
    await outbox.add(conn, new_event(payload, project_id=project_id, correlation_id=correlation_id))


# --- the connection test ----------------------------------------------------------------------------------------


async def _probe(adapter: CloudAdapter) -> None:
    for feature, operation in _PROBES:
        if feature in adapter.features:
            await getattr(adapter, operation)()
            return


async def check_connection(
    clouds: CloudDirectory,
    *,
    cloud_id: str,
    driver: str,
    config: Mapping[str, Any],
    credentials: Mapping[str, Any],
    within: float,
) -> None:
    """Check where the account points, then connect it as it would be stored and make one cheap authenticated call.
    Raises EndpointDenied (422) naming the settings that point into a denied network, CloudConnectionFailed (422)
    saying what went wrong, or ValidationFailed (422) naming the settings the adapter refuses; never with a credential
    value in it, nor what the other side answered."""
    await accounts_endpoints.check(config, credentials, deny=clouds.endpoint_deny, within=within)
    try:
        async with asyncio.timeout(within):
            adapter = await clouds.connect(cloud_id, driver, {**config, **credentials})
            try:
                await _probe(adapter)
            finally:
                await adapter.close()
    except TimeoutError:
        raise CloudConnectionFailed(
            f"The cloud did not answer the connection test within {within:g} seconds; nothing was stored.",
            errors=[{"location": "body.config", "message": "no answer"}],
        ) from None
    except Misconfigured as exc:
        raise ValidationFailed(
            f"The {driver} adapter refuses these settings; nothing was stored.",
            errors=[
                {
                    "location": f"body.{'credentials' if loc.split('.')[0] in credentials else 'config'}.{loc}",
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
            accounts.scrub(errors.chain(exc), credentials),
        )
        if isinstance(exc, CloudError):
            message = accounts.scrub(errors.describe(exc), credentials)
            extensions = {"cloud_error": type(exc).__name__}
        else:
            # The SDK's own words may quote the other side: only its type is said.
            message, extensions = f"the {driver} adapter raised {type(exc).__name__}", {}
        raise CloudConnectionFailed(
            f"Connecting to the cloud failed: {message}. Nothing was stored.",
            errors=[{"location": "body", "message": message}],
            **extensions,
        ) from None


# --- a project's accounts -----------------------------------------------------------------------------------


def _known_driver(clouds: CloudDirectory, driver: str) -> None:
    known = registry.modules()
    if driver not in known:
        raise ValidationFailed(
            f"There is no {driver} adapter; known: {', '.join(sorted(known))}.",
            errors=[{"location": "body.driver", "message": "unknown driver"}],
        )
    if not clouds.module_enabled(driver):
        raise ModuleDisabled(
            f"The {driver} adapter module is disabled; nothing was stored. An admin enables it with "
            f"PUT /v1/modules/{driver}.",
            module=driver,
        )


def _name_taken(project_id: str, name: str) -> Conflict:
    return Conflict(
        f"Project {project_id} has a cloud account named {name} already.",
        errors=[{"location": "body.name", "message": "name taken in this project"}],
    )


async def create(pool: Pool, clouds: CloudDirectory, req: NewCloud, *, within: float) -> CloudAccount:
    """Add an account to the project once it connects; 201 with it."""
    _known_driver(clouds, req.driver)
    accounts.check(req.driver, req.config, req.credentials)
    if await repository.cloud_named(pool, req.project_id, req.name) is not None:
        raise _name_taken(req.project_id, req.name)
    cloud_id = accounts.new_cloud_id()
    await check_connection(
        clouds,
        cloud_id=cloud_id,
        driver=req.driver,
        config=req.config,
        credentials=req.credentials,
        within=within,
    )
    sealed, key_id = accounts.seal(_keyring(clouds), cloud_id, req.credentials)
    draft = CloudAccount(
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
    async with pool.acquire() as conn, conn.transaction():
        try:
            account = await repository.insert_cloud(conn, draft)
        except NameTaken:
            raise _name_taken(req.project_id, req.name) from None
        await _queue(
            conn,
            CloudAdded(
                cloud_id=account.id,
                name=account.name,
                driver=account.driver,
                project=account.project_id,
                source="api",
                config_fields=sorted(account.config),
                credential_fields=list(account.credential_fields),
            ),
            project_id=req.project_id,
            correlation_id=req.correlation_id,
        )
    log.info("cloud account %s (%s) added to project %s", account.id, account.driver, account.project_id)
    return account


def _refuse_configured(account: CloudAccount, doing: str) -> None:
    if account.source == "configuration":
        raise ConfiguredAccount(
            f"Cloud {account.id} comes from the provisioner's configuration (CLANAVI_PROVISIONER_CLOUDS, or the "
            f"built-in `sim`): {doing} it there.",
            cloud_id=account.id,
        )


async def update(
    pool: Pool,
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str,
    change: CloudChange,
    correlation_id: str,
    within: float,
) -> CloudAccount:
    """Change an account; new settings or credentials are tested before they replace the old ones."""
    account = await owned.cloud(pool, project_id, cloud_id)
    _refuse_configured(account, "change")
    config = dict(change.config) if change.config is not None else account.config
    config_changed = not _same(config, account.config)
    credentials: dict[str, Any] = {}
    changed_credentials: list[str] = []
    if change.credentials is not None:
        credentials = dict(change.credentials)
        try:
            changed_credentials = _changed_keys(accounts.open_credentials(clouds.keyring, account), credentials)
        except accounts.CredentialsUnreadable:
            changed_credentials = sorted(set(credentials) | set(account.credential_fields))
    if config_changed or changed_credentials:
        if change.credentials is None:
            credentials = accounts.open_credentials(clouds.keyring, account)
        accounts.check(account.driver, config, credentials)
        clouds.check_module(cloud_id, account.driver)
        await check_connection(
            clouds, cloud_id=cloud_id, driver=account.driver, config=config, credentials=credentials, within=within
        )
    async with pool.acquire() as conn, conn.transaction():
        current = await repository.lock_owned_cloud(conn, project_id, cloud_id)
        if current is None:
            raise owned.missing("cloud", cloud_id)
        after = replace(
            current,
            name=change.name if change.name is not None else current.name,
            enabled=change.enabled if change.enabled is not None else current.enabled,
            config=config,
        )
        if changed_credentials:
            sealed, key_id = accounts.seal(_keyring(clouds), cloud_id, credentials)
            after = replace(
                after, credentials=sealed, credentials_key_id=key_id, credential_fields=tuple(sorted(credentials))
            )
        changed = [
            name
            for name, differs in (
                ("name", after.name != current.name),
                ("enabled", after.enabled != current.enabled),
                ("config", config_changed),
                ("credentials", bool(changed_credentials)),
            )
            if differs
        ]
        if not changed:
            return current
        try:
            saved = await repository.update_cloud(conn, after)
        except NameTaken:
            raise _name_taken(project_id, after.name) from None
        await _queue(
            conn,
            CloudUpdated(
                cloud_id=cloud_id,
                name=saved.name,
                driver=saved.driver,
                project=saved.project_id,
                source="api",
                changed=changed,
                config_fields=_changed_keys(current.config, config),
                credential_fields=changed_credentials,
            ),
            project_id=project_id,
            correlation_id=correlation_id,
        )
    await clouds.forget(cloud_id)
    log.info("cloud account %s changed: %s", cloud_id, ", ".join(changed))
    return saved


async def remove(
    pool: Pool, clouds: CloudDirectory, *, project_id: str, cloud_id: str, force: bool, correlation_id: str
) -> None:
    """Remove an account. While Clanavi holds live resources in it, only with `force`, which drops Clanavi's
    records of them too (the cloud itself is not touched)."""
    account = await owned.cloud(pool, project_id, cloud_id)
    _refuse_configured(account, "remove")
    gone: dict[str, str] = {kind: rules.gone for kind, rules in resources.RULES.items()}
    try:
        async with pool.acquire() as conn, conn.transaction():
            current = await repository.lock_owned_cloud(conn, project_id, cloud_id)
            if current is None:
                raise owned.missing("cloud", cloud_id)
            live = await repository.cloud_usage(conn, cloud_id, gone)
            if live and not force:
                counts = {_PLURALS[kind]: len(ids) for kind, ids in live.items()}
                raise CloudInUse(
                    f"Clanavi holds live resources in cloud {cloud_id} ("
                    + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items())
                    + "): delete them first, or remove the account with ?force=true, which also drops Clanavi's "
                    "records of them (the cloud keeps them).",
                    cloud_id=cloud_id,
                    in_use=counts,
                )
            # Records of what ended (terminated instances, deleted volumes...) go too: the audit keeps their history.
            await repository.forget_cloud_records(conn, cloud_id)
            forgotten = live if force else {}
            await repository.delete_cloud(conn, cloud_id)
            await _queue(
                conn,
                CloudRemoved(
                    cloud_id=cloud_id,
                    name=current.name,
                    driver=current.driver,
                    project=current.project_id,
                    forced=force,
                    forgotten={_PLURALS[kind]: len(ids) for kind, ids in forgotten.items()},
                    forgotten_ids=[i for ids in forgotten.values() for i in ids],
                ),
                project_id=project_id,
                correlation_id=correlation_id,
            )
    except asyncpg.ForeignKeyViolationError:
        # Something was recorded in the cloud meanwhile (or in a table that keeps its records): still in use.
        raise CloudInUse(
            f"Clanavi recorded something in cloud {cloud_id} meanwhile; nothing was removed. Try again.",
            cloud_id=cloud_id,
        ) from None
    await clouds.forget(cloud_id)
    log.info("cloud account %s removed%s", cloud_id, " with its records" if force else "")


# --- the provisioner's start -------------------------------------------------------------------------------------


async def configure(pool: Pool, keyring: Keyring, configured: Sequence[Configured]) -> None:
    """Create or update the accounts from configuration (project `default`), secrets sealed; an account that
    changed gets its `cloud.added` or `cloud.updated`. Raises ValueError naming what is wrong."""
    correlation_id = f"provisioner-start-{uuid.uuid4()}"
    for item in configured:
        plain, secrets_in_config = accounts.split(item.driver, item.config)
        credentials = {**secrets_in_config, **item.credentials}
        try:
            accounts.check(item.driver, plain, credentials, where=f"cloud {item.id}")
        except ValidationFailed as exc:
            raise ValueError(f"CLANAVI_PROVISIONER_CLOUDS: {exc.detail}") from None
        async with pool.acquire() as conn, conn.transaction():
            current = await repository.lock_cloud(conn, item.id)
            try:
                event = await _configure_one(conn, keyring, item, plain, credentials, current)
            except NameTaken:
                raise ValueError(
                    f"CLANAVI_PROVISIONER_CLOUDS: cloud {item.id}'s name {item.name!r} is taken in project "
                    f"{DEFAULT_PROJECT} by an account added through the API; choose another"
                ) from None
            if event is not None:
                await _queue(conn, event, project_id=DEFAULT_PROJECT, correlation_id=correlation_id)


async def _configure_one(
    conn: Connection,
    keyring: Keyring,
    item: Configured,
    config: dict[str, Any],
    credentials: dict[str, Any],
    current: CloudAccount | None,
) -> EventPayload | None:
    source: Literal["configuration"] = "configuration"
    if current is not None and (current.source != "configuration" or current.project_id != DEFAULT_PROJECT):
        raise ValueError(
            f"CLANAVI_PROVISIONER_CLOUDS: the id {item.id} belongs to an account of project {current.project_id} "
            "added through the API; choose another"
        )
    sealed, key_id = accounts.seal(keyring, item.id, credentials)
    wanted = CloudAccount(
        id=item.id,
        project_id=DEFAULT_PROJECT,
        name=item.name,
        driver=item.driver,
        config=config,
        enabled=item.enabled,
        created_at=datetime.now(UTC),
        credentials=sealed,
        credentials_key_id=key_id,
        credential_fields=tuple(sorted(credentials)),
        source=source,
    )
    if current is None:
        account = await repository.insert_cloud(conn, wanted)
        return CloudAdded(
            cloud_id=account.id,
            name=account.name,
            driver=account.driver,
            project=DEFAULT_PROJECT,
            source=source,
            config_fields=sorted(config),
            credential_fields=list(account.credential_fields),
        )
    try:
        before = accounts.open_credentials(keyring, current)
        changed_credentials = _changed_keys(before, credentials)
    except accounts.CredentialsUnreadable:
        # Configuration holds the values: sealing them again with the current key makes the account readable.
        changed_credentials = sorted(set(credentials) | set(current.credential_fields))
    # The stored config may still hold secrets (stored before they were split out): moving them out is a change.
    config_changed = not _same(current.config, config)
    changed = [
        name
        for name, differs in (
            ("name", current.name != item.name),
            ("driver", current.driver != item.driver),
            ("enabled", current.enabled != item.enabled),
            ("config", config_changed),
            ("credentials", bool(changed_credentials)),
        )
        if differs
    ]
    if not changed:
        return None
    if not changed_credentials:
        wanted = replace(
            wanted, credentials=current.credentials, credentials_key_id=current.credentials_key_id
        )  # no needless re-sealing
    await repository.update_cloud(conn, wanted)
    return CloudUpdated(
        cloud_id=item.id,
        name=item.name,
        driver=item.driver,
        project=DEFAULT_PROJECT,
        source=source,
        changed=changed,
        config_fields=[k for k in _changed_keys(current.config, config) if k not in credentials],
        credential_fields=changed_credentials,
    )


async def seal_plaintext(pool: Pool, keyring: Keyring) -> int:
    """Move secrets still stored in the clear in an account's `config` (of an account no longer configured, say)
    into its sealed credentials; how many accounts were changed. Accounts whose credentials cannot be opened keep
    their secrets where they are (and are reported by `rewrap_all`)."""
    moved = 0
    for account in await repository.list_clouds(pool):
        plain, secrets_in_config = accounts.split(account.driver, account.config)
        if not secrets_in_config:
            continue
        async with pool.acquire() as conn, conn.transaction():
            current = await repository.lock_cloud(conn, account.id)
            if current is None:
                continue
            plain, secrets_in_config = accounts.split(current.driver, current.config)
            try:
                credentials = {**secrets_in_config, **accounts.open_credentials(keyring, current)}
            except accounts.CredentialsUnreadable:
                continue
            sealed, key_id = accounts.seal(keyring, current.id, credentials)
            await repository.update_cloud(
                conn,
                replace(
                    current,
                    config=plain,
                    credentials=sealed,
                    credentials_key_id=key_id,
                    credential_fields=tuple(sorted(credentials)),
                ),
            )
            moved += 1
    if moved:
        log.info("moved the secrets of %d cloud accounts out of their configuration, sealed", moved)
    return moved


async def rewrap_all(pool: Pool | Connection, keyring: Keyring) -> Rewrapped:
    """Rewrap the credentials sealed with a previous key with the current one (only their data keys change)."""
    done = 0
    unreadable: list[str] = []
    for account in await repository.sealed_with_other_keys(pool, keyring.key_id):
        assert account.credentials is not None
        try:
            after = accounts.rewrap(keyring, account)
        except CryptoError as exc:
            log.warning("cloud %s: its credentials cannot be read (%s); set them again", account.id, exc)
            unreadable.append(account.id)
            continue
        if await repository.rewrap_cloud(
            pool, account.id, before=account.credentials, after=after, key_id=keyring.key_id
        ):
            done += 1
    if done:
        log.info("rewrapped the credentials of %d cloud accounts with the current key", done)
    return Rewrapped(done, tuple(unreadable))


__all__ = [
    "CloudChange",
    "Configured",
    "NewCloud",
    "Rewrapped",
    "configure",
    "create",
    "remove",
    "rewrap_all",
    "seal_plaintext",
    "check_connection",
    "update",
]
