"""v1 script run events, published by the provisioner: an operational or decommission script run over SSH on one
instance. They name the script version and the outcome, never the body, an input value or the output (any of them
may hold a secret)."""

from __future__ import annotations

from typing import Literal

from kernel.events.envelope import EventPayload


class _RunEvent(EventPayload):
    run_id: str
    instance_id: str
    script_id: str
    script_version: int
    phase: Literal["operational", "decommission"]

    SUBJECT = "run_id"


class ScriptRunQueued(_RunEvent):
    """A run was asked for; `batch_id` names the runs asked for together (a bulk run, a terminate's decommission)."""

    TYPE = "script_run.queued"
    batch_id: str | None = None


class ScriptRunStarted(_RunEvent):
    """The worker logged in (the host key matched the one pinned from the console) and started the script."""

    TYPE = "script_run.started"
    host_key: str


class ScriptRunSucceeded(_RunEvent):
    TYPE = "script_run.succeeded"
    exit_code: int


class ScriptRunFailed(_RunEvent):
    """The script exited non-zero (`exit_code`), or never ran (`exit_code` None; `problem` says why)."""

    TYPE = "script_run.failed"
    exit_code: int | None
    problem: str
    reason: str


class ScriptRunTimedOut(_RunEvent):
    TYPE = "script_run.timed_out"
    timeout_seconds: int
