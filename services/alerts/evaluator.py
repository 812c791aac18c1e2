"""The evaluator: judges, every interval, what changes with time alone (a `for` elapsed, a metric gone quiet, an
event rate's window moved on, a `keep_firing_for` run out, a repeat interval due)."""

from __future__ import annotations

import asyncio
import logging

from services.alerts.firing.handlers import evaluate
from services.alerts.unit_of_work import AlertsUnitOfWork

log = logging.getLogger(__name__)


async def evaluate_forever(uow: AlertsUnitOfWork, interval: float) -> None:
    while True:
        try:
            await evaluate(uow)
        except Exception:
            log.exception("alert evaluation failed")
        await asyncio.sleep(interval)


__all__ = ["evaluate_forever"]
