"""A console login, kept in the browser as one cookie: the API's tokens (the access token and the refresh token),
the project chosen and the login's CSRF token, sealed with the gateway's keyring (AES-GCM under a key of its own
purpose), so that the browser holds them but can neither read nor change them. The cookie is `HttpOnly` (no script
reads it), `SameSite=Strict` (no other site's page sends it) and `Secure` unless the console is reached on the
loopback host; nothing goes to the browser's storage.

A refresh token works once: two requests renewing with the same one would end the whole login. Renewals therefore go
through `Renewals`, which lets one request of a login renew and hands its outcome to the others for a while, in this
process; and each renewal carries a renewal key (`SessionCookies.renewal_key`, derived from the refresh token by the
key every replica shares), so that the API answers a second replica renewing the same session at once the same new
tokens instead of ending the login."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace

from starlette.requests import Request
from starlette.responses import Response

from clanavi.client import Tokens
from kernel.crypto import CryptoError, Keyring, Sealed

__all__ = ["COOKIE", "LOGIN_COOKIE", "SEALING_PURPOSE", "ConsoleSession", "Renewals", "SessionCookies"]

COOKIE = "clanavi_console"
# Before a login there is no session to hold a CSRF token: the login form's token is checked against this cookie.
LOGIN_COOKIE = "clanavi_console_login"
SEALING_PURPOSE = "gateway console sessions"
_RECORD = "console session"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# Renew this long before the access token runs out, so that no API call of a page is sent with one about to.
RENEW_MARGIN = 30.0


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    access_token: str
    refresh_token: str
    expires_at: float
    csrf: str
    project: str | None = None

    @classmethod
    def started(cls, tokens: Tokens, project: str | None = None) -> ConsoleSession:
        assert tokens.refresh_token is not None and tokens.expires_at is not None
        return cls(tokens.access_token, tokens.refresh_token, tokens.expires_at, secrets.token_urlsafe(32), project)

    @property
    def tokens(self) -> Tokens:
        return Tokens(self.access_token, self.refresh_token, self.expires_at)

    def due(self, now: float) -> bool:
        return now >= self.expires_at - RENEW_MARGIN

    def renewed(self, tokens: Tokens) -> ConsoleSession:
        assert tokens.refresh_token is not None and tokens.expires_at is not None
        return replace(
            self, access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_at=tokens.expires_at
        )

    def __repr__(self) -> str:
        return f"ConsoleSession(project={self.project!r}, expires_at={self.expires_at!r})"


def _secure(request: Request) -> bool:
    return (request.url.hostname or "") not in _LOOPBACK


class SessionCookies:
    """Reads and writes the sealed session cookie, and the login form's CSRF cookie."""

    def __init__(self, keyring: Keyring, path: str, max_age: int) -> None:
        self._keyring, self._path, self._max_age = keyring, path, max_age

    def read(self, request: Request) -> ConsoleSession | None:
        value = request.cookies.get(COOKIE)
        if not value:
            return None
        try:
            sealed = Sealed.from_bytes(base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4)))
            fields = json.loads(self._keyring.open(sealed, record_id=_RECORD))
            return ConsoleSession(**fields)
        except (CryptoError, binascii.Error, UnicodeError, ValueError, TypeError):
            return None  # altered, sealed with a key that is gone, or of an older shape: not logged in

    def write(self, response: Response, request: Request, session: ConsoleSession) -> None:
        plain = json.dumps(asdict(session)).encode()
        sealed = self._keyring.seal(plain, record_id=_RECORD).to_bytes()
        value = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")
        self._set(response, request, COOKIE, value, self._max_age)

    def renewal_key(self, refresh_token: str) -> str:
        """What every replica sends along when renewing with `refresh_token`: the same for all of them, and made
        with the gateway's secret key, so that whoever holds only the refresh token cannot make it."""
        digest = self._keyring.digests(b"console renewal\0" + refresh_token.encode())[0]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def clear(self, response: Response, request: Request) -> None:
        self._set(response, request, COOKIE, "", 0)

    def login_token(self, request: Request) -> tuple[str, bool]:
        """The login form's CSRF token: the browser's own when it has one, else a new one (True: to be set)."""
        token = request.cookies.get(LOGIN_COOKIE)
        if token and len(token) >= 32:
            return token, False
        return secrets.token_urlsafe(32), True

    def set_login_token(self, response: Response, request: Request, token: str) -> None:
        self._set(response, request, LOGIN_COOKIE, token, 3600)

    def _set(self, response: Response, request: Request, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=self._path,
            secure=_secure(request),
            httponly=True,
            samesite="strict",
        )


class Renewals:
    """One renewal at a time per login (in this gateway process); the new tokens are handed to the requests that
    arrive with the old refresh token during `keep` seconds."""

    def __init__(self, keep: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._keep, self._clock = keep, clock
        self._done: dict[str, tuple[float, Tokens]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def renew(self, refresh_token: str, trade: Callable[[], Awaitable[Tokens]]) -> Tokens:
        key = hashlib.sha256(refresh_token.encode()).hexdigest()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            now = self._clock()
            self._done = {k: v for k, v in self._done.items() if now - v[0] < self._keep}
            if key in self._done:
                return self._done[key][1]
            try:
                tokens = await trade()
            finally:
                self._locks.pop(key, None)
            self._done[key] = (now, tokens)
            return tokens
