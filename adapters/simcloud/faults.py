"""Which launches fail: decided by the client token alone, so a launch retried with its token fails alike."""

from __future__ import annotations

import hashlib

REASON = "simulated hardware failure: the host lost power while the instance was booting"


def token_fraction(client_token: str) -> float:
    """A number in [0, 1) that depends only on the token, spread evenly over tokens."""
    digest = hashlib.sha256(b"simcloud-launch:" + client_token.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def launch_fails(client_token: str, rate: float) -> bool:
    return token_fraction(client_token) < rate
