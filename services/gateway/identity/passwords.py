"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile).

Hashing and verifying take tens of milliseconds of CPU on purpose, so the async callers run them in a thread.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["PasswordHashing"]


class PasswordHashing:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def verify_nothing(self, password: str) -> None:
        """Spend what a real verification spends, so an unknown email answers as slowly as a wrong password."""
        if self._dummy is None:
            self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        self.verify(self._dummy, password)

    async def hash_async(self, password: str) -> str:
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; with no stored hash, False after the same work."""
        if stored is None:
            await asyncio.to_thread(self.verify_nothing, password)
            return False
        return await asyncio.to_thread(self.verify, stored, password)
