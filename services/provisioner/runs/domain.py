"""Script runs: their records, their states and the rules of their output; no I/O.

A run is `queued` when asked for, `running` once the worker has logged in (the host key matched the one pinned from
the console) and started the script, then `succeeded` (exit code 0), `failed` (another exit code, or it never ran:
`problem` says why) or `timed_out` (the script version's timeout passed; the session is closed). A run is the engine's
pending action (`pending_action` "run") until it ends. A run found `running` when a worker claims it again was
interrupted by a provisioner that stopped: it is not run twice, it fails.

Output is stdout and stderr together, as a terminal shows them; the last `OUTPUT_LIMIT` bytes are kept, and offsets
count every byte ever written, so a reader following it knows what it missed. Every secret value the script was given
is replaced by `********` before anything is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from kernel.events import (
    EventPayload,
    ScriptRunFailed,
    ScriptRunQueued,
    ScriptRunStarted,
    ScriptRunSucceeded,
    ScriptRunTimedOut,
)
from services.provisioner.runs.limits import OUTPUT_LIMIT
from services.provisioner.templates.inputs import MASK

RunState = Literal["queued", "running", "succeeded", "failed", "timed_out"]
RunPhase = Literal["operational", "decommission"]
ENDED: frozenset[str] = frozenset({"succeeded", "failed", "timed_out"})
# Runs asked for together run at most this many at a time unless the request says otherwise.
DEFAULT_CONCURRENCY = 10
# The account Clanavi's cloud-config makes on instances launched from templates, which runs log in as (an adapter
# may name another, as SimCloud's guest SSH server does).
LOGIN_USER = "clanavi"
# Problems of a run that never ran (`problem`), and of one the provisioner lost.
INTERRUPTED = "interrupted"
NOT_RUNNING = "instance_not_running"
HOST_KEY_MISMATCH = "host_key_mismatch"
UNREACHABLE = "unreachable"
LOGIN_REFUSED = "login_refused"


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    project_id: str
    cloud_id: str
    # The script's name, when the run was asked for.
    name: str
    instance_id: str
    provider_id: str | None
    script_id: str
    script_version: int
    phase: RunPhase
    timeout_seconds: int
    state: str
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    # Each input's value and level, as a launch records them (secrets masked).
    inputs: Mapping[str, Any] = field(default_factory=dict)
    pending_action: str | None = "run"
    attempts: int = 0
    throttled: int = 0
    pending_since: datetime | None = None
    reason: str | None = None
    problem: str | None = None
    exit_code: int | None = None
    # The SHA256 fingerprint of the host key the run accepted.
    host_key: str | None = None
    batch_id: str | None = None
    batch_limit: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    output_bytes: int = 0
    last_event_id: str | None = None
    # The worker's claim on it while it runs (its output is written under it).
    claim_token: str | None = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def _facts(self) -> dict[str, Any]:
        return {
            "run_id": self.id,
            "instance_id": self.instance_id,
            "script_id": self.script_id,
            "script_version": self.script_version,
            "phase": self.phase,
        }

    def queued(self) -> EventPayload:
        return ScriptRunQueued(**self._facts(), batch_id=self.batch_id)

    def started(self, host_key: str) -> tuple[RunRecord, EventPayload]:
        after = replace(self, state="running", host_key=host_key, started_at=datetime.now(UTC))
        return after, ScriptRunStarted(**self._facts(), host_key=host_key)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended: `state` one of ENDED; `problem` and `reason` when it failed without an exit code."""

    state: Literal["succeeded", "failed", "timed_out"]
    exit_code: int | None = None
    problem: str | None = None
    reason: str | None = None


def ended(record: RunRecord, outcome: Outcome) -> tuple[RunRecord, list[EventPayload]]:
    """The record once its run has ended, and the event that says how."""
    after = replace(
        record,
        state=outcome.state,
        pending_action=None,
        exit_code=outcome.exit_code,
        problem=outcome.problem,
        reason=outcome.reason,
        ended_at=datetime.now(UTC),
    )
    facts = record._facts()
    event: EventPayload
    if outcome.state == "succeeded":
        event = ScriptRunSucceeded(**facts, exit_code=outcome.exit_code or 0)
    elif outcome.state == "timed_out":
        event = ScriptRunTimedOut(**facts, timeout_seconds=record.timeout_seconds)
    else:
        reason = outcome.reason or f"the script exited with {outcome.exit_code}"
        after = replace(after, reason=reason, problem=outcome.problem or "script_failed")
        event = ScriptRunFailed(**facts, exit_code=outcome.exit_code, problem=after.problem or "", reason=reason)
    return after, [event]


def exited(code: int | None) -> Outcome:
    if code == 0:
        return Outcome("succeeded", exit_code=0)
    return Outcome("failed", exit_code=code, problem="script_failed", reason=f"the script exited with {code}")


def never_ran(problem: str, reason: str) -> Outcome:
    return Outcome("failed", problem=problem, reason=reason)


class Masker:
    """Output with every secret replaced by `MASK`, written as it comes: the last bytes that could begin a secret
    are held back until what follows shows whether they do."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._secrets = sorted({s.encode() for s in secrets if s}, key=len, reverse=True)
        self._hold = max((len(s) for s in self._secrets), default=1) - 1
        self._pending = b""

    def _masked(self, data: bytes) -> bytes:
        for secret in self._secrets:
            data = data.replace(secret, MASK.encode())
        return data

    def feed(self, data: bytes) -> bytes:
        """What can be kept of the output so far."""
        data = self._masked(self._pending + data)
        if self._hold == 0 or len(data) <= self._hold:
            self._pending = data if self._hold else b""
            return b"" if self._hold else data
        self._pending = data[-self._hold :]
        return data[: -self._hold]

    def end(self) -> bytes:
        rest, self._pending = self._masked(self._pending), b""
        return rest


def complete_utf8(data: bytes) -> bytes:
    """`data` without a last UTF-8 character cut in two (a reader gets it whole with what follows)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for the lead
        if byte & 0x80 == 0:
            return data
        length = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
        return data if back >= length else data[:-back]
    return data


__all__ = [
    "DEFAULT_CONCURRENCY",
    "ENDED",
    "HOST_KEY_MISMATCH",
    "INTERRUPTED",
    "LOGIN_REFUSED",
    "LOGIN_USER",
    "NOT_RUNNING",
    "OUTPUT_LIMIT",
    "UNREACHABLE",
    "Masker",
    "Outcome",
    "RunPhase",
    "RunRecord",
    "RunState",
    "complete_utf8",
    "ended",
    "exited",
    "never_ran",
]
