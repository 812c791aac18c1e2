"""The clouds the provisioner's start keeps: the configured clouds brought up to date, secrets still stored in the
clear sealed, and credentials sealed with an old key rewrapped with the current one (also `clanavi service
rotate-keys`)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kernel.crypto import CryptoError, Keyring
from kernel.errors import ValidationFailed
from kernel.events import CloudAdded, EventPayload
from kernel.unit_of_work import UnitOfWork
from services.provisioner.clouds import credentials as sealing
from services.provisioner.clouds import domain
from services.provisioner.clouds.directory import CLOUDS_CHANNEL
from services.provisioner.clouds.domain import CONFIGURED_PROJECT, Cloud, CredentialsUnreadable
from services.provisioner.clouds.handlers import changed_fields, changed_keys, same
from services.provisioner.clouds.repository import CloudRepository, CloudStore, NameTaken
from services.provisioner.prices.published import builtin_pages
from services.provisioner.settings import ConfiguredCloud

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rewrapped:
    rewrapped: int
    # Clouds no key of the keyring opens: they answer 409 `cloud_credentials_unreadable` until set again.
    unreadable: tuple[str, ...]


async def configure(uow: UnitOfWork[CloudStore], keyring: Keyring, configured: Sequence[ConfiguredCloud]) -> None:
    """Create or update the clouds from configuration (project `default`), secrets sealed; a cloud that changed
    gets its `cloud.added` or `cloud.updated`. Raises ValueError naming what is wrong."""
    correlation_id = f"provisioner-start-{uuid.uuid4()}"
    for item in configured:
        if domain.secret_fields(item.driver) is None:
            # Which settings are secret is unknown: store nothing rather than a secret in the clear.
            log.warning(
                "cloud %s is left as it is stored: its %s adapter module cannot be loaded here (GET /v1/modules says "
                "why)",
                item.id,
                item.driver,
            )
            continue
        plain, secrets_in_config = domain.split(item.driver, item.config)
        credentials = {**secrets_in_config, **item.credentials}
        try:
            domain.check(item.driver, plain, credentials, where=f"cloud {item.id}")
        except ValidationFailed as exc:
            raise ValueError(f"CLANAVI_PROVISIONER_CLOUDS: {exc.detail}") from None
        async with uow.transaction() as tx:
            current = await tx.repos.clouds.lock_any(item.id)
            try:
                event = await _configure_one(tx.repos.clouds, keyring, item, plain, credentials, current)
            except NameTaken:
                raise ValueError(
                    f"CLANAVI_PROVISIONER_CLOUDS: cloud {item.id}'s name {item.name!r} is taken in project "
                    f"{CONFIGURED_PROJECT} by an account added through the API; choose another"
                ) from None
            if event is not None:
                more = builtin_pages(event) if isinstance(event, CloudAdded) else []
                tx.emit_new(CONFIGURED_PROJECT, event, *more, correlation_id=correlation_id)
                tx.notify(CLOUDS_CHANNEL, item.id)


async def _configure_one(
    clouds: CloudRepository,
    keyring: Keyring,
    item: ConfiguredCloud,
    config: dict[str, Any],
    credentials: dict[str, Any],
    current: Cloud | None,
) -> EventPayload | None:
    if current is not None and (current.source != "configuration" or current.project_id != CONFIGURED_PROJECT):
        raise ValueError(
            f"CLANAVI_PROVISIONER_CLOUDS: the id {item.id} belongs to an account of project {current.project_id} "
            "added through the API; choose another"
        )
    sealed, key_id = sealing.seal(keyring, item.id, credentials)
    wanted = Cloud(
        id=item.id,
        project_id=CONFIGURED_PROJECT,
        name=item.name,
        driver=item.driver,
        config=config,
        enabled=item.enabled,
        created_at=datetime.now(UTC),
        credentials=sealed,
        credentials_key_id=key_id,
        credential_fields=tuple(sorted(credentials)),
        source="configuration",
    )
    if current is None:
        cloud = await clouds.add(wanted)
        return domain.added(cloud)
    try:
        changed_credentials = changed_keys(sealing.open_credentials(keyring, current), credentials)
    except CredentialsUnreadable:
        # Configuration holds the values: sealing them again with the current key makes the cloud readable.
        changed_credentials = sorted(set(credentials) | set(current.credential_fields))
    changed = changed_fields(
        name=current.name != item.name,
        driver=current.driver != item.driver,
        enabled=current.enabled != item.enabled,
        # The stored config may still hold secrets (stored before they were split out): moving them out is a change.
        config=not same(current.config, config),
        credentials=bool(changed_credentials),
    )
    if not changed:
        return None
    if not changed_credentials:
        # No needless sealing again.
        wanted = replace(wanted, credentials=current.credentials, credentials_key_id=current.credentials_key_id)
    await clouds.update(wanted)
    config_fields = [k for k in changed_keys(current.config, config) if k not in credentials]
    return domain.updated(wanted, changed, config_fields, changed_credentials)


async def seal_plaintext(uow: UnitOfWork[CloudStore], keyring: Keyring) -> int:
    """Move secrets still stored in the clear in a cloud's `config` (of a cloud no longer configured, say) into its
    sealed credentials; how many clouds were changed. Clouds whose credentials cannot be opened keep their secrets
    where they are (and are reported by `rewrap_all`)."""
    moved = 0
    async with uow.reading() as repos:
        every = await repos.clouds.every()
    for cloud in every:
        # An adapter that cannot be loaded here cannot say which settings are secret: its clouds wait for it.
        if domain.secret_fields(cloud.driver) is None or not domain.split(cloud.driver, cloud.config)[1]:
            continue
        async with uow.transaction() as tx:
            current = await tx.repos.clouds.lock_any(cloud.id)
            if current is None:
                continue
            plain, secrets_in_config = domain.split(current.driver, current.config)
            try:
                credentials = {**secrets_in_config, **sealing.open_credentials(keyring, current)}
            except CredentialsUnreadable:
                continue
            sealed, key_id = sealing.seal(keyring, current.id, credentials)
            sealed_cloud = replace(
                current,
                config=plain,
                credentials=sealed,
                credentials_key_id=key_id,
                credential_fields=tuple(sorted(credentials)),
            )
            await tx.repos.clouds.update(sealed_cloud)
            tx.notify(CLOUDS_CHANNEL, current.id)
            moved += 1
    if moved:
        log.info("moved the secrets of %d clouds out of their configuration, sealed", moved)
    return moved


async def rewrap_all(uow: UnitOfWork[CloudStore], keyring: Keyring) -> Rewrapped:
    """Rewrap the credentials sealed with a previous key with the current one (only their data keys change)."""
    done = 0
    unreadable: list[str] = []
    async with uow.reading() as repos:
        sealed_before = await repos.clouds.sealed_with_other_keys(keyring.key_id)
    for cloud in sealed_before:
        assert cloud.credentials is not None
        try:
            after = sealing.rewrap(keyring, cloud)
        except CryptoError as exc:
            log.warning("cloud %s: its credentials cannot be read (%s); set them again", cloud.id, exc)
            unreadable.append(cloud.id)
            continue
        async with uow.transaction() as tx:
            if await tx.repos.clouds.rewrap(cloud.id, before=cloud.credentials, after=after, key_id=keyring.key_id):
                done += 1
    if done:
        log.info("rewrapped the credentials of %d clouds with the current key", done)
    return Rewrapped(done, tuple(unreadable))


__all__ = ["Rewrapped", "configure", "rewrap_all", "seal_plaintext"]
