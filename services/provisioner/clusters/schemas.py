"""The API models of clusters (the gateway serves the same). A member's name is `<cluster>-<role>-<n>`: the name
patterns keep it a valid instance name (63 characters at most)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.provisioner.clusters.limits import MAX_COUNT
from services.provisioner.schemas import PLAIN_PATTERN, CloudId, InputValue, LaunchPreviewOut, RecordId

_PART = r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$"
ClusterName = Annotated[
    str, Field(min_length=1, max_length=32, pattern=_PART, description="Letters, digits and '-'; unique not required")
]
RoleName = Annotated[str, Field(min_length=1, max_length=20, pattern=_PART, description="Letters, digits and '-'")]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
ClusterStateName = Literal["launching", "running", "degraded", "scaling", "terminating", "terminated", "rolled_back"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlacementIn(Strict):
    """The allocator's policy for a role's members (a role names `cloud_id` or this)."""

    strategy: Literal["cheapest", "spread", "pack"] = "cheapest"
    cloud_ids: list[CloudId] = Field(default_factory=list, max_length=32, description="Allowed accounts; none: all")
    zones: list[Annotated[str, Field(min_length=1, max_length=64, pattern=PLAIN_PATTERN)]] = Field(
        default_factory=list, max_length=32
    )
    affinity: Literal["none", "affinity", "anti_affinity"] = Field(
        default="none", description="Among the role's own members"
    )
    anti_affinity_scope: Literal["zone", "cloud"] = "zone"
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="Breaks ties the same way each time")


class RoleIn(Strict):
    name: RoleName
    template_id: RecordId
    template_version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Default: the template's default version, recorded at create"
    )
    count: Count = Field(description=f"Members, 0 to {MAX_COUNT}")
    inputs: dict[Annotated[str, Field(max_length=63)], InputValue] = Field(
        default_factory=dict,
        max_length=64,
        description="Values of the template's inputs for every member (the `cluster` level: above the template's, "
        "below a server's); not a secret's",
    )
    cloud_id: CloudId | None = Field(default=None, description="Where the role's members run")
    placement: PlacementIn | None = None
    depends_on: list[RoleName] = Field(
        default_factory=list, max_length=20, description="Roles whose members all run before this role launches"
    )


class ClusterCreate(Strict):
    name: ClusterName
    roles: list[RoleIn] = Field(min_length=1, max_length=20)
    on_failure: Literal["rollback", "degrade"] = Field(
        default="rollback",
        description="When a member fails during the first launch: `rollback` terminates every member made "
        "(`rolled_back`); `degrade` launches nothing more and leaves the cluster `degraded`, to retry",
    )
    dry_run: bool = Field(
        default=False, description="Answer 200 with each role's placement and cost; nothing is launched or recorded"
    )


class ScaleIn(Strict):
    count: Count


class RoleOut(BaseModel):
    name: str
    template_id: str
    template_version: int | None
    count: int = Field(description="Desired members")
    cloud_id: str | None
    placement: dict[str, Any] | None
    depends_on: list[str]
    inputs: dict[str, Any]


class RoleHealthOut(RoleOut):
    members: int = Field(description="Members counted toward `count` (not leaving)")
    running: int
    health: float = Field(description="running / desired (1 for a role of none)")
    states: dict[str, int] = Field(
        description="Members by state: an instance's state, or `planned` (not launched yet) or `refused` (its "
        "launch was refused)"
    )


class MemberOut(BaseModel):
    role: str
    n: int = Field(description="Never reused in the cluster")
    name: str
    instance_id: str | None = Field(description="Null until its launch is recorded, or when it was refused")
    state: str
    retired: bool = Field(description="Taken out of the cluster: scaled in, replaced, or given up after a failure")
    replaced_by: int | None = Field(description="The `n` of the member replacing it")
    reason: str | None
    created_at: datetime


class ClusterOut(BaseModel):
    id: str
    project_id: str
    name: str
    state: ClusterStateName
    on_failure: Literal["rollback", "degrade"]
    reason: str | None = Field(description="What failed, when degraded or rolled back")
    roles: list[RoleOut]
    created_at: datetime
    updated_at: datetime


class ClusterDetailOut(ClusterOut):
    roles: list[RoleHealthOut]  # type: ignore[assignment]
    members: list[MemberOut] = Field(description="Every member the cluster ever had, oldest first")


class RolePreviewOut(BaseModel):
    role: str
    count: int
    launch: LaunchPreviewOut = Field(description="One member's placement and cost")
    hourly: Decimal | None = Field(description="The role's: `count` members")
    monthly: Decimal | None


class ClusterPreviewOut(BaseModel):
    dry_run: Literal[True] = True
    roles: list[RolePreviewOut]
    currency: str | None = Field(description="Null unless every role is priced, in one currency")
    hourly: Decimal | None
    monthly: Decimal | None


__all__ = [
    "ClusterCreate",
    "ClusterDetailOut",
    "ClusterOut",
    "ClusterPreviewOut",
    "ClusterStateName",
    "MemberOut",
    "PlacementIn",
    "RoleHealthOut",
    "RoleIn",
    "RoleOut",
    "RolePreviewOut",
    "ScaleIn",
]
