"""The failover service's refusals, in the words a user reads."""

from __future__ import annotations

from kernel.errors import Conflict, NotFound


def policy_not_found(policy_id: str) -> NotFound:
    return NotFound(f"No health policy {policy_id} in this project.")


def refresh_not_found(refresh_id: str) -> NotFound:
    return NotFound(f"No instance refresh {refresh_id} in this project.")


def name_taken(name: str) -> Conflict:
    return Conflict(f"The project already has a health policy named {name}.")


__all__ = ["name_taken", "policy_not_found", "refresh_not_found"]
