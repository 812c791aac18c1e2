"""A launch block as the API answers it."""

from __future__ import annotations

from services.provisioner.blocks.domain import LaunchBlock

__all__ = ["block_out"]


def block_out(block: LaunchBlock) -> dict[str, object]:
    return {
        "budget_id": block.budget_id,
        "budget_name": block.budget_name,
        "scope": block.scope(),
        "period": block.period,
        "reason": block.reason,
        "blocked_at": block.changed_at,
        "unblock": f"Raise the amount of budget {block.budget_name!r} (or remove its block_launches action): "
        "billing lifts the block and launches are allowed again.",
    }
