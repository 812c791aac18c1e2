"""Client tokens for tests that create resources through an adapter directly."""

from __future__ import annotations

import uuid


def new_token() -> str:
    """A client token no other call uses."""
    return uuid.uuid4().hex
