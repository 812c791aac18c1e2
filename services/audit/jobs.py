"""The audit's periodic work: signing the chain's end every few minutes, and removing records past their retention."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit import handlers
from services.audit.handlers import AuditUnitOfWork

log = logging.getLogger(__name__)

__all__ = ["digest_forever", "retention_forever"]

Clock = Callable[[], datetime]


async def digest_forever(uow: AuditUnitOfWork, key: Ed25519PrivateKey, interval: float, clock: Clock) -> None:
    while True:
        try:
            digest = await handlers.make_digest(uow, key, clock())
            if digest is not None:
                log.info("audit digest %d signed up to seq %d", digest.digest.number, digest.digest.last_seq)
        except Exception:
            # The next round tries again: a digest late is better than a job that stopped.
            log.exception("could not sign an audit digest")
        await asyncio.sleep(interval)


async def retention_forever(uow: AuditUnitOfWork, days: int, interval: float, clock: Clock) -> None:
    while True:
        try:
            removed = await handlers.apply_retention(uow, clock() - timedelta(days=days))
            if removed:
                log.info("audit retention removed %d records older than %d days", removed, days)
        except Exception:
            log.exception("could not apply the audit's retention")
        await asyncio.sleep(interval)
