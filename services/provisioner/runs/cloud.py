"""Runs in the pending-action engine: the worker's attempt logs in over SSH and runs the script, holding the run's
claim (renewed by the engine) for as long as it lasts; what the cloud is asked is only where the instance is and
what its console shows (the host keys to pin)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime

import asyncssh

from adapters.base import CloudAdapter
from adapters.base import Instance as CloudInstance
from adapters.base import InstanceState as S
from kernel.crypto import CryptoError, Keyring
from kernel.events import EventPayload
from kernel.unit_of_work import UnitOfWork
from services.provisioner.runs import domain, host_keys, ssh
from services.provisioner.runs.domain import Masker, Outcome, RunRecord
from services.provisioner.runs.repository import RunRepository, RunStore
from services.provisioner.templates import sealing
from services.provisioner.work.engine import Settlement
from services.provisioner.work.pacing import Pacer

# Output is written at most this often (seconds), or when this much has come.
_FLUSH_SECONDS = 0.2
_FLUSH_BYTES = 64 * 1024

Ran = tuple[RunRecord, Outcome]


def target_of(instance: CloudInstance) -> ssh.Target | None:
    """Where a run logs in: what the adapter says (SimCloud's guest SSH server), else port 22 at the instance's
    public address, else its private one, as the account Clanavi's cloud-config made."""
    extra = instance.extra
    host = extra.get("ssh_host") or next(iter(instance.public_ips or instance.private_ips), None)
    if not host:
        return None
    return ssh.Target(str(host), int(extra.get("ssh_port", 22)), str(extra.get("ssh_user", domain.LOGIN_USER)))


class RunKind:
    name = "run"

    def __init__(self, keyring: Keyring | None) -> None:
        self.keyring = keyring

    def store(self, repos: RunStore) -> RunRepository:
        return repos.runs

    async def call(self, adapter: CloudAdapter, record: RunRecord, uow: UnitOfWork[RunStore]) -> Ran:
        if record.state == "running":
            reason = "the provisioner stopped while the run was under way; whether the script finished is unknown"
            return record, domain.never_ran(domain.INTERRUPTED, reason)
        found = await adapter.get_instances([record.provider_id or ""])
        if not found or found[0].state != S.RUNNING:
            state = found[0].state.value if found else "gone"
            return record, domain.never_ran(domain.NOT_RUNNING, f"the instance is {state}, not running")
        try:
            pinned = host_keys.pinned(await adapter.console_output(record.provider_id or ""))
        except host_keys.Unpinned as exc:
            return record, domain.never_ran(exc.problem, exc.reason)
        target = target_of(found[0])
        if target is None:
            return record, domain.never_ran(domain.UNREACHABLE, "the instance has no address")
        async with uow.reading() as repos:
            sealed = await repos.runs.sealed_script(record.id)
            project_key = await repos.runs.project_key(record.project_id)
        try:
            if sealed is None or project_key is None:
                raise CryptoError("missing")
            body, secrets = sealing.open_run(self.keyring, record.id, sealed)
            client_key = ssh.private_key(sealing.open_project_key(self.keyring, record.project_id, project_key[1]))
        except CryptoError:
            reason = "the run's script or the project's SSH key cannot be opened with this provisioner's keys"
            return record, domain.never_ran("secret_unreadable", reason)
        return await self._run(uow, record, target, pinned, client_key, body, secrets)

    async def _run(
        self,
        uow: UnitOfWork[RunStore],
        record: RunRecord,
        target: ssh.Target,
        pinned: host_keys.HostKeys,
        client_key: asyncssh.SSHKey,
        body: str,
        secrets: list[str],
    ) -> Ran:
        token = record.claim_token or ""
        current = record
        masker = Masker(secrets)
        buffer = bytearray()
        flushed = time.monotonic()
        writing = asyncio.Lock()
        # Output that arrives and is then followed by silence is still written within _FLUSH_SECONDS.
        later: asyncio.Task[None] | None = None

        async def flush() -> None:
            nonlocal flushed
            async with writing:
                if buffer:
                    data = bytes(buffer)
                    buffer.clear()
                    async with uow.transaction() as tx:
                        await tx.repos.runs.append_output(record.id, token, data)
                flushed = time.monotonic()

        async def flush_later() -> None:
            await asyncio.sleep(_FLUSH_SECONDS)
            # Shielded: a write under way is finished even when the run ends meanwhile.
            await asyncio.shield(flush())

        async def output(chunk: bytes) -> None:
            nonlocal later
            buffer.extend(masker.feed(chunk))
            if len(buffer) >= _FLUSH_BYTES or time.monotonic() - flushed >= _FLUSH_SECONDS:
                await flush()
            elif buffer and (later is None or later.done()):
                later = asyncio.create_task(flush_later())

        async def started(fingerprint: str) -> None:
            nonlocal current
            async with uow.transaction() as tx:
                after, event = record.started(fingerprint)
                current = tx.changed(after, event)
                await tx.repos.runs.mark_running(current, token)

        try:
            outcome = await ssh.run(target, pinned, client_key, body, record.timeout_seconds, output, started)
        finally:
            if later is not None:
                later.cancel()
        buffer.extend(masker.end())
        await flush()
        return current, outcome

    def applied(self, record: RunRecord, value: Ran) -> Settlement[RunRecord]:
        return Settlement(*domain.ended(*value))

    def failed(self, record: RunRecord, reason: str) -> Settlement[RunRecord]:
        return Settlement(*domain.ended(record, domain.never_ran("cloud_failed", reason)))

    async def gave_up(
        self, adapter: CloudAdapter, record: RunRecord, reason: str, pacer: Pacer
    ) -> Settlement[RunRecord]:
        return self.failed(record, reason)

    def followed_together(self, record: RunRecord) -> Hashable:
        return record.cloud_id

    async def current(self, adapter: CloudAdapter, records: Sequence[RunRecord]) -> Mapping[str, Ran]:
        return {}

    def observe(self, record: RunRecord, value: Ran | None, now: datetime) -> tuple[RunRecord, list[EventPayload]]:
        return record, []

    async def changed(self, repos: RunStore, after: RunRecord) -> None:
        # The last decommission script of an instance has ended: its terminate need not wait any longer.
        if (
            after.ended
            and after.phase == "decommission"
            and not await repos.runs.unended_decommission(after.instance_id)
        ):
            await repos.runs.terminate_when_ready(after.instance_id, 0)


__all__ = ["RunKind", "target_of"]
