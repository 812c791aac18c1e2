"""What every paginated listing takes besides its filters."""

from __future__ import annotations

from typing import Literal

__all__ = ["Order"]

# `asc` (smallest or oldest first) or `desc`; a listing's default is its own (`asc`, but for sync runs).
Order = Literal["asc", "desc"]
