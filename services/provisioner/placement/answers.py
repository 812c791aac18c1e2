"""The allocator's decisions as the API answers them. Apart from the schemas, so that the models (which the client
and the command line import) do not bring the allocator and the provisioner's machinery with them."""

from __future__ import annotations

from services.provisioner.placement.handlers import Placement, verdict_json
from services.provisioner.placement.schemas import CandidateOut, PlacedOut, PlacementOut
from services.provisioner.prices.domain import HOURS_A_MONTH


def placement_out(found: Placement) -> PlacementOut:
    """The allocator's answer: each server placed, and the candidates it weighed (capped)."""
    placed = [
        PlacedOut(
            cloud_id=c.cloud_id,
            region=c.region,
            zone=c.zone,
            flavor_id=c.flavor_id,
            image_id=c.image_id,
            currency=c.currency,
            hourly=c.hourly,
            monthly=None if c.hourly is None else c.hourly * HOURS_A_MONTH,
            score=round(score, 6),
        )
        for c, score in found.chosen()
    ]
    return PlacementOut(
        strategy=found.policy.strategy,
        count=found.count,
        currency=found.decision.currency,
        placed=placed,
        # Built by the allocator itself, not from input: constructed without validating each of up to 200 again.
        candidates=[CandidateOut.model_construct(**verdict_json(v, decimals=True)) for v in found.listed()],
        candidate_count=len(found.candidates),
    )


__all__ = ["placement_out"]
