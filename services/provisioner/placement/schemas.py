"""The API models of placement (the gateway serves the same): a policy and requirements as a request gives them, and
the allocator's answer, amounts as decimal strings like every price."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.provisioner.placement.domain import PlacementPolicy
from services.provisioner.templates.domain import Requirements

_PLAIN = r"^[^\x00-\x1f]+$"
_Id = Annotated[str, Field(min_length=1, max_length=64, pattern=_PLAIN)]


class PlacementPolicyIn(BaseModel):
    """How the allocator places the server (see `PlacementOut` for what it answers)."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["cheapest", "spread", "pack"] = Field(
        default="cheapest",
        description="cheapest: the lowest hourly price in force; spread: the cloud and zone with the fewest of the "
        "project's (or the group's) servers; pack: the most. The smallest sufficient flavor breaks near ties",
    )
    cloud_ids: list[_Id] = Field(
        default_factory=list, max_length=50, description="Allowed clouds; empty: every cloud of the project"
    )
    zones: list[_Id] = Field(default_factory=list, max_length=50, description="Allowed zones; empty: any")
    group: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=_PLAIN,
        description="The set of servers affinity refers to (kept with each server placed in it)",
    )
    affinity: Literal["none", "affinity", "anti_affinity"] = Field(
        default="none", description="affinity: where the group's members are; anti_affinity: never beside one"
    )
    anti_affinity_scope: Literal["zone", "cloud"] = Field(
        default="zone", description="What together or apart means for (anti-)affinity"
    )
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Breaks ties the same way every time; default: at random"
    )

    def policy(self) -> PlacementPolicy:
        return PlacementPolicy(
            strategy=self.strategy,
            cloud_ids=tuple(self.cloud_ids),
            zones=tuple(self.zones),
            group=self.group,
            affinity=self.affinity,
            anti_affinity_scope=self.anti_affinity_scope,
            seed=self.seed,
        )


class RequirementsIn(BaseModel):
    """What the server needs in place of a flavor: every flavor with at least this much is a candidate."""

    model_config = ConfigDict(extra="forbid")

    vcpus: int = Field(default=1, ge=1, le=1024)
    ram_mb: int = Field(default=0, ge=0, le=16 * 1024 * 1024)
    disk_gb: int = Field(default=0, ge=0, le=64 * 1024)
    image_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=_PLAIN,
        description="Boot the image of this name in each cloud (in place of `image_id`, which is one cloud's)",
    )

    def requirements(self) -> Requirements:
        return Requirements(
            image_name=self.image_name or "", min_vcpus=self.vcpus, min_ram_mb=self.ram_mb, min_disk_gb=self.disk_gb
        )


class PlacedOut(BaseModel):
    """Where one server goes."""

    cloud_id: str
    region: str | None
    zone: str | None
    flavor_id: str
    image_id: str | None
    currency: str | None
    hourly: Decimal | None
    monthly: Decimal | None = Field(description="`hourly` x 730 hours")
    score: float


class CandidateOut(BaseModel):
    """One place the allocator weighed: its score in the first choice, or why it was rejected."""

    cloud_id: str
    region: str | None
    zone: str | None
    flavor_id: str
    image_id: str | None
    hourly: Decimal | None
    currency: str | None
    score: float | None = Field(description="Higher is better; null when rejected")
    rejected: str | None = Field(description="Why it cannot take the server")
    placed: int = Field(description="How many of the servers it takes")
    note: str | None = Field(description="What the decision did not know (a cloud that reports no capacity)")


class PlacementOut(BaseModel):
    strategy: Literal["cheapest", "spread", "pack"]
    count: int
    currency: str | None = Field(description="The currency prices were compared in (cheapest)")
    placed: list[PlacedOut]
    candidates: list[CandidateOut] = Field(description="The placed first, then by score, then the rejected")
    candidate_count: int = Field(description="Every candidate weighed; `candidates` lists 200 at most")


__all__ = ["CandidateOut", "PlacedOut", "PlacementOut", "PlacementPolicyIn", "RequirementsIn"]
