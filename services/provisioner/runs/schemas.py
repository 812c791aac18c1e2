"""The run routes' request and answer models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.provisioner.runs.limits import OUTPUT_LIMIT

_INPUTS = "Values of the script's inputs (the server's level): a secret given here is masked in the run's output"


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script_id: str = Field(min_length=1, max_length=64)
    script_version: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Default: the script's latest")
    inputs: dict[str, Any] = Field(default_factory=dict, max_length=200, description=_INPUTS)


class RunFilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud_id: str | None = Field(default=None, max_length=64)
    template_id: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=255)


class BulkRunIn(RunIn):
    instance_ids: list[str] = Field(default_factory=list, max_length=1000)
    filter: RunFilterIn | None = Field(default=None, description="The project's running instances that match it")
    concurrency: int = Field(default=10, ge=1, le=100, description="Runs of this request under way at once, at most")


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    instance_id: str
    cloud_id: str
    script_id: str
    script_version: int
    name: str
    phase: Literal["operational", "decommission"]
    state: Literal["queued", "running", "succeeded", "failed", "timed_out"]
    exit_code: int | None
    problem: str | None = Field(description="Why it failed without an exit code (`host_key_mismatch`, ...)")
    reason: str | None
    timeout_seconds: int
    inputs: dict[str, Any]
    host_key: str | None = Field(description="SHA256 fingerprint of the host key the run accepted")
    batch_id: str | None
    output_bytes: int
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class RunBatchOut(BaseModel):
    batch_id: str | None
    items: list[RunOut]


class RunOutputOut(BaseModel):
    run_id: str
    offset: int = Field(
        description=f"Where `text` starts in all the run wrote (the last {OUTPUT_LIMIT} bytes are kept)"
    )
    next_offset: int = Field(description="Ask from here for what follows")
    text: str
    ended: bool = Field(description="The run has ended and nothing follows")
    state: str


class ProjectKeyOut(BaseModel):
    public_key: str = Field(description="Runs log in with this key; instances launched from templates get it")
