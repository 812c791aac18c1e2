"""The credentials a client sends: an API key, or the tokens of a login, which it renews with the refresh token
before the access token runs out (and once more when the API answers 401)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from clanavi.client._calls import Call, body, model_of, nothing
from clanavi.client._steps import Plan, fetch
from services.gateway.identity.schemas import LogoutIn, TokenOut

__all__ = ["Session", "Tokens", "log_in", "log_out", "renewal"]

GRANT_ROUTE = "/v1/auth/token"
# Renew this long before the access token expires, so that a request is never sent with one about to.
RENEW_MARGIN = 30.0


@dataclass(frozen=True, slots=True)
class Tokens:
    """A bearer token (an access token or an API key), with the refresh token and the Unix time the access token
    expires when it comes from a login. What a program keeps between runs to stay logged in."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None

    @classmethod
    def issued(cls, answer: TokenOut, *, now: float) -> Tokens:
        return cls(answer.access_token, answer.refresh_token, now + answer.expires_in)

    def __repr__(self) -> str:
        # Never shown, not even in a traceback's locals.
        return f"Tokens(expires_at={self.expires_at!r}, renewable={self.refresh_token is not None})"


TokensListener = Callable[[Tokens | None], object]


class Session:
    """The tokens every request of a client (and of its views) is sent with. `on_tokens` hears of every change
    (a login, a renewal, a logout's None): a refresh token works once, so whoever keeps tokens must keep the new."""

    def __init__(self, tokens: Tokens | None = None, on_tokens: TokensListener | None = None) -> None:
        self.tokens = tokens
        self._on_tokens = on_tokens

    @property
    def authorization(self) -> str | None:
        return f"Bearer {self.tokens.access_token}" if self.tokens else None

    @property
    def renewable(self) -> bool:
        return self.tokens is not None and self.tokens.refresh_token is not None

    def due(self, now: float) -> bool:
        """Whether the access token expires within the margin (Unix time `now`) and can be renewed."""
        expires = self.tokens.expires_at if self.tokens else None
        return self.renewable and expires is not None and now >= expires - RENEW_MARGIN

    def adopt(self, tokens: Tokens | None) -> None:
        self.tokens = tokens
        if self._on_tokens is not None:
            self._on_tokens(tokens)


def _grant(**fields: str) -> Call[TokenOut]:
    return Call("POST", GRANT_ROUTE, model_of(TokenOut), form=fields, public=True)


def log_in(session: Session, username: str, password: str) -> Plan[TokenOut]:
    """The OAuth2 password grant; the session then sends the new access token and renews it."""
    answer = yield from fetch(_grant(grant_type="password", username=username, password=password))
    session.adopt(Tokens.issued(answer, now=time.time()))
    return answer


def renewal(session: Session, stale: object, renewal_key: str | None = None) -> Plan[None]:
    """Trade the refresh token for new tokens, unless the session moved on from `stale` meanwhile (another request
    renewed first: a refresh token used twice would end the whole login). With `renewal_key`, the same renewal sent
    again with the same key (by another process holding the same tokens) answers the same new refresh token."""
    tokens = session.tokens
    if tokens is not stale or tokens is None or tokens.refresh_token is None:
        return
    fields = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
    answer = yield from fetch(_grant(**fields, **({"renewal_key": renewal_key} if renewal_key else {})))
    session.adopt(Tokens.issued(answer, now=time.time()))


def log_out(session: Session) -> Plan[None]:
    """End the login on the server (its refresh token and access tokens stop working) and forget the tokens. A
    client with an API key only forgets it: keys are revoked with `api_keys.revoke`."""
    tokens = session.tokens
    if tokens is not None and tokens.refresh_token is not None:
        logout = LogoutIn(refresh_token=tokens.refresh_token)
        yield from fetch(Call("POST", "/v1/auth/logout", nothing, content=body(LogoutIn, logout)))
    session.adopt(None)
