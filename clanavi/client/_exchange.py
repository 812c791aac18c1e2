"""One call, start to end: its headers (credentials, project, correlation id, idempotency key), the tries the retry
policy allows, a renewal of the access token, and the typed error of a refusal.

Which failures are tried again:
- 429: always (the gateway's rate limits refuse before anything is done);
- 503: when repeating the request is safe (GET, PUT, DELETE, or a POST with its idempotency key), or when the
  problem says nothing was done (the cloud throttles, `throttled`, or did not answer, `cloud_unavailable`);
- 409 `idempotency_key_in_progress`: the first request with this key is still running;
- no answer: when the request never left (no connection), or when repeating it is safe.
Every try of a POST carries the same `Idempotency-Key`, so the API runs it at most once."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from clanavi.client._calls import Call
from clanavi.client._retry import RetryPolicy
from clanavi.client._session import Session
from clanavi.client._steps import Now, Pause, Plan, Renew, Send
from clanavi.client.errors import ApiError, ConnectionFailed, error_from
from kernel import correlation

__all__ = ["IDEMPOTENCY_HEADER", "PROJECT_HEADER", "Context", "exchange"]

PROJECT_HEADER = "X-Clanavi-Project"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Repeating these has the effect of doing it once (RFC 9110, 9.2.2).
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# 503 codes whose request was not carried out at all.
_NOTHING_DONE = frozenset({"throttled", "cloud_unavailable"})
# Transport failures before the request was sent.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
# What a transport failure is said as: fixed words, most specific first.
_WORDS: tuple[tuple[type[httpx.TransportError], str], ...] = (
    (httpx.ConnectTimeout, "timed out connecting"),
    (httpx.ConnectError, "cannot connect"),
    (httpx.ReadTimeout, "timed out waiting for the answer"),
    (httpx.WriteTimeout, "timed out sending the request"),
    (httpx.PoolTimeout, "timed out waiting for a free connection"),
    (httpx.UnsupportedProtocol, "not an http or https URL"),
    (httpx.RemoteProtocolError, "the server broke the connection"),
    (httpx.TransportError, "the connection failed"),
)


@dataclass(frozen=True, slots=True)
class Context:
    """What a client (or a view of it) sends with every call besides its credentials."""

    project: str | None = None
    correlation_id: str | None = None


def _words(exc: httpx.TransportError) -> str:
    return next(words for kind, words in _WORDS if isinstance(exc, kind))


def _retried(error: ApiError, safe: bool) -> bool:
    if error.status == 429:
        return True
    if error.status == 503:
        return safe or error.code in _NOTHING_DONE
    return error.status == 409 and error.code == "idempotency_key_in_progress" and safe


def exchange(call: Call[Any], context: Context, session: Session, policy: RetryPolicy) -> Plan[httpx.Response]:
    """The plan of one call: answers its success response (2xx), raises its ApiError or ConnectionFailed."""
    headers = {"Accept": call.accept}
    if call.content is not None:
        headers["Content-Type"] = call.content_type
    if context.correlation_id:
        headers[correlation.HEADER] = context.correlation_id
    if not call.public:
        if context.project:
            headers[PROJECT_HEADER] = context.project
        if call.method == "POST":
            headers[IDEMPOTENCY_HEADER] = call.idempotency_key or str(uuid.uuid4())
    safe = call.method in _IDEMPOTENT_METHODS or IDEMPOTENCY_HEADER in headers
    started: float = yield Now()
    attempt, renewed = 0, False
    while True:
        attempt += 1
        if not call.public and session.due(time.time()):
            yield Renew(session.tokens)
        sent_with = session.tokens
        authorization = {} if call.public or not session.authorization else {"Authorization": session.authorization}
        request = Send(call.method, call.path, {**headers, **authorization}, call.params, call.content, call.form)
        try:
            response: httpx.Response = yield request
        except httpx.TransportError as exc:
            url = call.path
            if not (safe or isinstance(exc, _NOT_SENT)):
                raise ConnectionFailed(call.method, url, _words(exc)) from exc
            wait = policy.wait(attempt, (yield Now()) - started, None)
            if wait is None:
                raise ConnectionFailed(call.method, url, _words(exc)) from exc
            yield Pause(wait)
            continue
        if response.is_success:
            return response
        if response.status_code == 401 and not call.public and session.renewable and not renewed:
            # The access token ended early (a restart of the platform, a clock apart): renew once and try again.
            renewed = True
            attempt -= 1
            yield Renew(sent_with)
            continue
        error = error_from(response, now=time.time())
        wait = policy.wait(attempt, (yield Now()) - started, error.retry_after) if _retried(error, safe) else None
        if wait is None:
            raise error
        yield Pause(wait)
