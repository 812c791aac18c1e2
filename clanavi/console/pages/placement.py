"""What the launch forms share about placement: who chooses the cloud (the one picked, or the allocator by a
strategy), and the preview a form asks for (its launch as a dry run: where it would go, its cost, and the candidates
the allocator weighed), shown in the form by htmx, or in the whole page without JavaScript."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request

from clanavi.client import ApiError
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit

__all__ = ["STRATEGIES", "asked_htmx", "placed", "preview", "status_of"]

STRATEGIES = [
    ("cheapest", "Any of the project's clouds: the cheapest"),
    ("spread", "Any of the project's clouds: spread across clouds and zones"),
    ("pack", "Any of the project's clouds: packed where servers are"),
]


def placed(form: Form, body: dict[str, Any]) -> dict[str, Any]:
    """The launch `body`, placed by the allocator when the form chose a strategy (the cloud picked then limits
    nothing: the allocator looks among every cloud of the project)."""
    strategy = form.optional("strategy")
    if strategy is None:
        return body
    return {**{k: v for k, v in body.items() if k != "cloud_id"}, "placement": {"strategy": strategy}}


async def preview(current: Visit, body: dict[str, Any], field_of: Any = None) -> dict[str, Any]:
    """The preview of a launch: what its dry run answered, or its refusal (with the candidates, when none fit)."""
    try:
        seen = await current.api.instances.preview(body)
    except (ApiError, ValidationError) as error:
        problem = Problem.of(error) if field_of is None else Problem.of(error, field_of)
        found = error.extensions.get("candidates", []) if isinstance(error, ApiError) else []
        count = error.extensions.get("candidate_count", 0) if isinstance(error, ApiError) else 0
        strategy = (body.get("placement") or {}).get("strategy")
        return {"problem": problem, "candidates": found, "candidate_count": count, "strategy": strategy}
    placement = seen.placement
    return {
        "seen": seen,
        "problem": None,
        "candidates": [c.model_dump() for c in placement.candidates] if placement else [],
        "candidate_count": placement.candidate_count if placement else 0,
        "strategy": placement.strategy if placement else None,
    }


def status_of(seen: dict[str, Any]) -> int:
    """A preview's status: a refusal of the caller (401, 403) as such; any other refusal is the preview's answer,
    shown in the form (htmx swaps only a success)."""
    problem = seen.get("problem")
    return problem.status if isinstance(problem, Problem) and problem.status in (401, 403) else 200


def asked_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"
