"""The notifier: turns due notification groups into durable deliveries (one per channel, with the group's firing and
newly resolved alerts, silenced and inhibited ones left out), and sends the deliveries that are due, each with a
lease so that none is lost to a restart or sent by two processes at once. Webhooks are signed per the Standard
Webhooks specification; e-mail goes over SMTP; the console channel only shows the alerts page and sends nothing."""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from kernel.crypto import Keyring, Sealed
from services.alerts.channels.domain import Attempt, Channel, Delivery, after_attempt, retry_after, sign
from services.alerts.channels.reach import webhook_client
from services.alerts.channels.repository import Group
from services.alerts.firing.domain import Alert, Inhibitor, inhibited
from services.alerts.settings import AlertsSettings
from services.alerts.silences.domain import Silence
from services.alerts.unit_of_work import AlertsUnitOfWork, Repositories

log = logging.getLogger(__name__)

# How long a claimed delivery is left to the process that claimed it before another may try it.
LEASE_SECONDS = 60.0
# The most groups one pass flushes and deliveries it sends (a pass saves its deliveries' outcomes together).
GROUPS_PER_PASS = 200
DELIVERIES_PER_PASS = 200


def secret_record_id(channel_id: str) -> str:
    return f"alerts-channel:{channel_id}"


def _alert_json(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "rule_id": a.rule_id,
        "rule_name": a.rule_name,
        "kind": a.kind,
        "severity": a.severity,
        "state": a.state,
        "labels": a.labels,
        "value": a.value,
        "summary": a.summary,
        "started_at": a.started_at.isoformat(),
        "firing_since": None if a.firing_since is None else a.firing_since.isoformat(),
        "resolved_at": None if a.resolved_at is None else a.resolved_at.isoformat(),
    }


class _PassCache:
    """What one pass reads once however many groups need it: each project's silences, each channel."""

    def __init__(self, repos: Repositories, now: datetime) -> None:
        self._repos = repos
        self._now = now
        self._silences: dict[str, list[Silence]] = {}
        self._channels: dict[str, tuple[Channel, bytes | None] | None] = {}
        self._inhibitors: dict[str, list[Inhibitor]] = {}

    async def inhibitors(self, project_id: str) -> list[Inhibitor]:
        if project_id not in self._inhibitors:
            self._inhibitors[project_id] = await self._repos.alerts.inhibitors(project_id)
        return self._inhibitors[project_id]

    async def silences(self, project_id: str) -> list[Silence]:
        if project_id not in self._silences:
            self._silences[project_id] = await self._repos.silences.in_force(project_id, self._now)
        return self._silences[project_id]

    async def channel(self, channel_id: str) -> tuple[Channel, bytes | None] | None:
        if channel_id not in self._channels:
            self._channels[channel_id] = await self._repos.channels.sending(channel_id)
        return self._channels[channel_id]


async def _flush(repos: Repositories, cache: _PassCache, group: Group, now: datetime) -> None:
    alerts = await repos.alerts.of_group(group.rule_id, group.group_key, group.flushed_at)
    silences = await cache.silences(group.project_id)
    inhibitors = await cache.inhibitors(group.project_id)
    audible = [
        a
        for a in alerts
        if not any(s.silences(a.labels, now) for s in silences) and not inhibited(a.labels, inhibitors)
    ]
    firing = any(a.state == "firing" for a in alerts)
    await repos.groups.flushed(group, now, firing)
    if not audible:
        return
    found = await cache.channel(group.channel_id)
    if found is None or not found[0].enabled or found[0].kind == "console":
        return
    body = {
        "type": "alert.notification",
        "status": "firing" if any(a.state == "firing" for a in audible) else "resolved",
        "group": json.loads(group.group_key),
        "alerts": [_alert_json(a) for a in audible],
        "sent_at": now.isoformat(),
    }
    await repos.deliveries.add(
        Delivery(
            id=str(uuid.uuid4()),
            project_id=group.project_id,
            channel_id=group.channel_id,
            body=body,
            state="pending",
            attempts=0,
            next_attempt_at=now,
            last_status=None,
            last_error="",
            created_at=now,
            updated_at=now,
        )
    )


class Notifier:
    def __init__(self, uow: AlertsUnitOfWork, settings: AlertsSettings, keyring: Keyring) -> None:
        self._uow = uow
        self._settings = settings
        self._keyring = keyring
        self._http = webhook_client(settings.webhook_timeout_seconds, settings.webhook_deny_networks())
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def close(self) -> None:
        await self._http.aclose()

    async def run_forever(self) -> None:
        while True:
            # Cleared before the pass: a change committed during it wakes the next one at once.
            self._woken.clear()
            busy = False
            try:
                busy = await self.run_once()
            except Exception:
                log.exception("notifier pass failed")
            if busy:
                continue
            try:
                async with asyncio.timeout(self._settings.notify_interval_seconds):
                    await self._woken.wait()
            except TimeoutError:
                pass

    async def run_once(self) -> bool:
        """One pass: the due groups flushed into deliveries, the due deliveries sent; whether there was any."""
        now = datetime.now(UTC)
        async with self._uow.transaction() as tx:
            groups = await tx.repos.groups.claim_due(now, GROUPS_PER_PASS)
            cache = _PassCache(tx.repos, now)
            for group in groups:
                await _flush(tx.repos, cache, group, now)
        async with self._uow.transaction() as tx:
            due = await tx.repos.deliveries.claim_due(datetime.now(UTC), LEASE_SECONDS, DELIVERIES_PER_PASS)
            channels = {c: await tx.repos.channels.sending(c) for c in {d.channel_id for d in due}}
        if not due:
            return bool(groups)
        secrets: dict[str, str] = {}
        for channel_id, found in channels.items():
            if found is not None and found[1] is not None:
                sealed = Sealed.from_bytes(found[1])
                secrets[channel_id] = self._keyring.open(sealed, record_id=secret_record_id(channel_id)).decode()
        sent = await asyncio.gather(*(self._attempt(channels[d.channel_id], secrets.get(d.channel_id), d) for d in due))
        now = datetime.now(UTC)
        async with self._uow.transaction() as tx:
            for d, attempt in zip(due, sent, strict=True):
                after, disable = after_attempt(d, attempt, self._settings.retry_schedule_seconds, now)
                await tx.repos.deliveries.save(after)
                if disable:
                    reason = "the endpoint answered 410 Gone"
                    await tx.repos.channels.set_enabled(d.channel_id, False, reason, now)
                    await tx.repos.deliveries.abandon_of_channel(d.channel_id, reason, now)
        return True

    async def _attempt(self, found: tuple[Channel, bytes | None] | None, secret: str | None, d: Delivery) -> Attempt:
        if found is None:
            return Attempt(status=410, error="the channel is gone")
        try:
            return await self._send(found[0], secret, d)
        except Exception as exc:  # a receiver's failure of any kind is the delivery's, retried on schedule
            return Attempt(status=None, error=f"{type(exc).__name__}: {exc}"[:500])

    async def _send(self, channel: Channel, secret: str | None, d: Delivery) -> Attempt:
        if not channel.enabled:
            return Attempt(status=410, error="the channel is disabled")
        body = json.dumps(d.body, separators=(",", ":"), sort_keys=True).encode()
        if channel.kind == "email":
            await asyncio.to_thread(self._mail, channel.email_to, d.body, body)
            return Attempt(status=250)
        assert channel.url is not None and secret is not None
        timestamp = int(datetime.now(UTC).timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": d.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, d.id, timestamp, body),
        }
        answer = await self._http.post(channel.url, content=body, headers=headers)
        return Attempt(
            status=answer.status_code,
            error="" if answer.is_success else f"answered {answer.status_code}",
            retry_after_seconds=retry_after(answer.headers.get("retry-after")),
        )

    def _mail(self, to: Sequence[str], message: dict[str, Any], body: bytes) -> None:
        alerts = message["alerts"]
        mail = EmailMessage()
        mail["From"] = self._settings.smtp_from
        mail["To"] = ", ".join(to)
        names = ", ".join(sorted({a["rule_name"] for a in alerts}))
        mail["Subject"] = f"[{message['status'].upper()}] {names} ({len(alerts)} alert{'s' * (len(alerts) != 1)})"
        lines = [f"{a['state']}: {a['rule_name']} {a['labels']} {a['summary']}" for a in alerts]
        mail.set_content("\n".join(lines) + "\n\n" + body.decode())
        with smtplib.SMTP(self._settings.smtp_host, self._settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(mail)


__all__ = ["Notifier", "secret_record_id"]
