"""Use cases of notification channels: create (a webhook's secret generated here, sealed at rest, returned once),
read, delete, enable again after the endpoint answered 410, and the deliveries made to one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from kernel.crypto import Keyring
from kernel.keyset import PageRequest
from kernel.networks import Network
from services.alerts.channels.domain import Channel, ChannelKind, Delivery, new_secret
from services.alerts.channels.notifier import secret_record_id
from services.alerts.channels.reach import check_url
from services.alerts.channels.repository import ChannelFilter, DeliveryFilter
from services.alerts.errors import channel_in_use, channel_not_found, name_taken
from services.alerts.unit_of_work import AlertsUnitOfWork


async def create(
    uow: AlertsUnitOfWork,
    keyring: Keyring,
    *,
    project_id: str,
    name: str,
    kind: ChannelKind,
    url: str | None,
    email_to: tuple[str, ...],
    deny: Sequence[Network] = (),
) -> tuple[Channel, str | None]:
    if url is not None:
        await check_url(url, deny)
    now = datetime.now(UTC)
    channel = Channel(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=name,
        kind=kind,
        url=url,
        email_to=email_to,
        enabled=True,
        disabled_reason="",
        created_at=now,
        updated_at=now,
    )
    secret = new_secret() if kind == "webhook" else None
    sealed = None
    if secret is not None:
        sealed = keyring.seal(secret.encode(), record_id=secret_record_id(channel.id)).to_bytes()
    async with uow.transaction() as tx:
        if not await tx.repos.channels.add(channel, sealed):
            raise name_taken("a notification channel", name)
    return channel, secret


async def get(uow: AlertsUnitOfWork, project_id: str, channel_id: str) -> Channel:
    async with uow.reading() as repos:
        channel = await repos.channels.get(project_id, channel_id)
    if channel is None:
        raise channel_not_found(channel_id)
    return channel


async def page(uow: AlertsUnitOfWork, flt: ChannelFilter, request: PageRequest) -> tuple[list[Channel], str | None]:
    async with uow.reading() as repos:
        return await repos.channels.page(flt, request)


async def delete(uow: AlertsUnitOfWork, project_id: str, channel_id: str) -> None:
    async with uow.transaction() as tx:
        channel = await tx.repos.channels.get(project_id, channel_id, lock=True)
        if channel is None:
            raise channel_not_found(channel_id)
        # A rule left naming a deleted channel would send its alerts nowhere, silently.
        names, total = await tx.repos.rules.naming_channel(project_id, channel.id)
        if total:
            raise channel_in_use(channel.name, names, total)
        await tx.repos.channels.delete(project_id, channel.id)


async def enable(uow: AlertsUnitOfWork, project_id: str, channel_id: str) -> Channel:
    async with uow.transaction() as tx:
        channel = await tx.repos.channels.get(project_id, channel_id)
        if channel is None:
            raise channel_not_found(channel_id)
        await tx.repos.channels.set_enabled(channel.id, True, "", datetime.now(UTC))
        updated = await tx.repos.channels.get(project_id, channel_id)
    assert updated is not None
    return updated


async def deliveries(
    uow: AlertsUnitOfWork, flt: DeliveryFilter, request: PageRequest
) -> tuple[list[Delivery], str | None]:
    async with uow.reading() as repos:
        if await repos.channels.get(flt.project_id, flt.channel_id) is None:
            raise channel_not_found(flt.channel_id)
        return await repos.deliveries.page(flt, request)
