"""What the alerts service's lifespan built, as its routes reach it from a request, and the request's correlation
id."""

from __future__ import annotations

from fastapi import Request

from kernel import correlation
from kernel.crypto import Keyring
from kernel.networks import Network
from services.alerts.unit_of_work import AlertsUnitOfWork


def uow_of(request: Request) -> AlertsUnitOfWork:
    uow: AlertsUnitOfWork = request.app.state.uow
    return uow


def keyring_of(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


def webhook_deny_of(request: Request) -> tuple[Network, ...]:
    deny: tuple[Network, ...] = request.app.state.webhook_deny
    return deny


def correlation_id() -> str:
    return correlation.accept_or_new(correlation.current.get())


__all__ = ["correlation_id", "keyring_of", "uow_of", "webhook_deny_of"]
