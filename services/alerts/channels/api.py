"""The notification channel routes: parse, call a handler, shape the answer."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from kernel.authz import Operator, Reader
from kernel.http import NO_STORE_HEADERS, Routes, answer, page_answer, problem_responses
from kernel.pagination import Page
from services.alerts.channels import handlers
from services.alerts.channels.domain import Channel, Delivery
from services.alerts.channels.repository import ChannelFilter, DeliveryFilter
from services.alerts.channels.schemas import (
    ChannelCreatedOut,
    ChannelIn,
    ChannelOut,
    DeliveryOut,
    EmailIn,
    WebhookIn,
)
from services.alerts.listing import ChannelPaging, DeliveryPaging
from services.alerts.state import keyring_of, uow_of, webhook_deny_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "alerts")


def channel_out(c: Channel) -> ChannelOut:
    return ChannelOut(
        id=c.id,
        name=c.name,
        kind=c.kind,
        url=c.url,
        to=list(c.email_to),
        enabled=c.enabled,
        disabled_reason=c.disabled_reason,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        channel_id=d.channel_id,
        state=d.state,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_status=d.last_status,
        last_error=d.last_error,
        body=d.body,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


@routes.post(
    "/channels",
    ChannelCreatedOut,
    "Create a notification channel",
    status=201,
    problems=(403, 409),
    description="A `webhook` (an http(s) URL; its deliveries are signed per the Standard Webhooks specification with "
    "the `secret` this answer shows once), an `email` channel (addresses sent to over SMTP) or the `console`'s alerts "
    "page. 409 when the project has a channel of that name.",
)
async def create_channel(request: Request, body: Annotated[ChannelIn, Body()], caller: Operator) -> Response:
    channel, secret = await handlers.create(
        uow_of(request),
        keyring_of(request),
        project_id=caller.project_id,
        name=body.name,
        kind=body.kind,
        url=body.url if isinstance(body, WebhookIn) else None,
        email_to=tuple(body.to) if isinstance(body, EmailIn) else (),
        deny=webhook_deny_of(request),
    )
    created = ChannelCreatedOut(**channel_out(channel).model_dump(), secret=secret)
    response = answer(created, status=201)
    response.headers.update(NO_STORE_HEADERS)
    return response


@routes.get("/channels", Page[ChannelOut], "List notification channels")
async def list_channels(
    request: Request,
    caller: Reader,
    paging: ChannelPaging,
    kind: Annotated[Literal["webhook", "email", "console"] | None, Query()] = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
    enabled: bool | None = None,
) -> Response:
    flt = ChannelFilter(project_id=caller.project_id, kind=kind, name=name, enabled=enabled)
    records, next_cursor = await handlers.page(uow_of(request), flt, paging)
    return page_answer(ChannelOut, [channel_out(c) for c in records], next_cursor)


@routes.get("/channels/{channel_id}", ChannelOut, "A notification channel", problems=(404,))
async def get_channel(request: Request, channel_id: str, caller: Reader) -> Response:
    return answer(channel_out(await handlers.get(uow_of(request), caller.project_id, channel_id)))


@routes.delete(
    "/channels/{channel_id}",
    None,
    "Delete a notification channel",
    status=204,
    problems=(403, 404, 409),
    description="409 while alert rules send to it.",
)
async def delete_channel(request: Request, channel_id: str, caller: Operator) -> Response:
    await handlers.delete(uow_of(request), caller.project_id, channel_id)
    return Response(status_code=204)


@routes.post(
    "/channels/{channel_id}/enable",
    ChannelOut,
    "Enable a notification channel again",
    problems=(403, 404),
    description="A webhook whose endpoint answered 410 Gone is disabled; this sends to it again from now on.",
)
async def enable_channel(request: Request, channel_id: str, caller: Operator) -> Response:
    return answer(channel_out(await handlers.enable(uow_of(request), caller.project_id, channel_id)))


@routes.get(
    "/channels/{channel_id}/deliveries",
    Page[DeliveryOut],
    "List a channel's deliveries",
    problems=(404,),
    description="Each notification sent or to be sent to the channel, with its attempts and the receiver's last "
    "answer.",
)
async def list_deliveries(
    request: Request,
    channel_id: str,
    caller: Reader,
    paging: DeliveryPaging,
    state: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
) -> Response:
    flt = DeliveryFilter(project_id=caller.project_id, channel_id=channel_id, state=state)
    records, next_cursor = await handlers.deliveries(uow_of(request), flt, paging)
    return page_answer(DeliveryOut, [delivery_out(d) for d in records], next_cursor)
