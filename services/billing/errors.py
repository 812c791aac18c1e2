"""The billing service's refusals, in the words a user reads."""

from __future__ import annotations

from kernel.errors import Conflict, NotFound


def budget_not_found(budget_id: str) -> NotFound:
    return NotFound(f"No budget {budget_id} in this project.")


def budget_name_taken(name: str) -> Conflict:
    return Conflict(f"The project already has a budget named {name}.")


__all__ = ["budget_name_taken", "budget_not_found"]
