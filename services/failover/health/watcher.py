"""The watcher: health that changes with time alone. Every interval it probes the instances whose probe is due and
judges again those of the policies with a signal that may go quiet (metrics, heartbeats); events cannot tell either.
The probes run outside any transaction; their results are applied, and acted on, in one transaction per policy."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime

from services.failover.health.domain import GONE, Member, Watch
from services.failover.health.handlers import judge
from services.failover.health.probes import Prober
from services.failover.policies.domain import Policy
from services.failover.unit_of_work import FailoverUnitOfWork

log = logging.getLogger(__name__)

__all__ = ["sweep", "watch_forever"]


def _due(policy: Policy, watch: Watch, member: Member, now: datetime) -> bool:
    probe = policy.signals.probe
    if probe is None or member.state != "running" or member.address is None:
        return False
    return watch.probed_at is None or (now - watch.probed_at).total_seconds() >= probe.interval_seconds


async def sweep(uow: FailoverUnitOfWork, prober: Prober, now: datetime | None = None) -> None:
    """One pass over the policies whose health changes with time."""
    async with uow.reading() as repos:
        policies = await repos.policies.watching_by_time()
    for policy in policies:
        at = now or datetime.now(UTC)
        async with uow.reading() as repos:
            watched = await repos.watches.of_policy(policy.id)
        due = [(w, m) for w, m in watched if _due(policy, w, m, at)]
        probe = policy.signals.probe
        results: dict[str, bool] = {}
        if due and probe is not None:
            passed = await asyncio.gather(*(prober.passes(m.address or "", probe) for _, m in due))
            results = {m.instance_id: ok for (_, m), ok in zip(due, passed, strict=True)}
            at = now or datetime.now(UTC)
        await _apply(uow, policy, results, at)


async def _apply(uow: FailoverUnitOfWork, policy: Policy, results: dict[str, bool], now: datetime) -> None:
    async with uow.transaction() as tx:
        locked = await tx.repos.policies.get(policy.project_id, policy.id, lock=True)
        if locked is None:
            return
        for watch, member in sorted(await tx.repos.watches.of_policy(policy.id), key=lambda wm: wm[0].instance_id):
            if member.state in GONE:
                continue
            if member.instance_id in results:
                ok = results[member.instance_id]
                watch = replace(
                    watch,
                    probed_at=now,
                    probe_successes=watch.probe_successes + 1 if ok else 0,
                    probe_failures=0 if ok else watch.probe_failures + 1,
                )
                await tx.repos.watches.save(watch)
            locked = await judge(tx, locked, watch, member, locked, now)


async def watch_forever(uow: FailoverUnitOfWork, prober: Prober, interval: float) -> None:
    while True:
        try:
            await sweep(uow, prober)
        except Exception:
            # A database blip must not end the watcher: the next pass tries again.
            log.exception("health sweep failed")
        await asyncio.sleep(interval)
