"""The adapter kit: what adapters are built of beside the contract (`base`, whose `AdapterBase` calls the cloud), so
that an adapter's own modules hold only what is its cloud's.

- `Words` and `Unanswered`: how an adapter tells of a failed call in words of its own, never the other side's, and
  `kinds_by_code`, the one table from an SDK's error codes to the contract's error types.
"""

from __future__ import annotations

import enum
import http.client
import ssl
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from adapters.base import CloudError, CloudUnavailable

K = TypeVar("K", bound=Hashable)

AUTH_FAILED = "authentication failed"


class Unanswered(enum.Enum):
    """What became of a request that got no answer of the cloud's. Whatever came back instead (a banner, a page, a
    proxy's error) may be anyone's, so it is told in these fixed words and never repeated."""

    TIMED_OUT = "timed out"
    TLS = "TLS failure (handshake or certificate)"
    PROXY = "cannot connect to the proxy"
    CONNECT = "cannot connect to the endpoint"
    CLOSED = "the connection closed before an answer"
    # Something answered, but not the cloud's API.
    UNEXPECTED = "unexpected answer"
    NOT_HTTP = "the answer is not HTTP"


# Standard library exceptions that reach an adapter through its SDK, checked after the SDK's own.
_STANDARD: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Unanswered], ...] = (
    (TimeoutError, Unanswered.TIMED_OUT),
    (ssl.SSLError, Unanswered.TLS),
    (http.client.RemoteDisconnected, Unanswered.CLOSED),
    (http.client.HTTPException, Unanswered.NOT_HTTP),
    (OSError, Unanswered.CONNECT),
)

ExceptionKinds = type[BaseException] | tuple[type[BaseException], ...]


@dataclass(frozen=True)
class Words:
    """How one adapter words its errors: "<service> <call>: <words>", where the words are fixed, or an error code
    or HTTP status of the cloud's, never text the other side sent."""

    service: str
    # The SDK's exceptions for a request that got no answer of the cloud's, most specific first, with what to say
    # of each: an `Unanswered`, or fixed words of the adapter's own.
    unanswered: Sequence[tuple[ExceptionKinds, Unanswered | str]] = ()

    def error(self, kind: type[CloudError], call: str, words: str) -> CloudError:
        return kind(f"{self.service} {call}: {words}")

    def said(self, what: Unanswered, detail: str | None = None) -> str:
        """`what` in words; an answer that is not the cloud's names the service it is not."""
        words = what.value if detail is None else f"{what.value}, {detail}"
        if what in (Unanswered.UNEXPECTED, Unanswered.NOT_HTTP):
            return f"not an {self.service} endpoint ({words})"
        return words

    def failure(self, exc: BaseException, *wrapped: BaseException | None) -> str:
        """What became of the request `exc` (or, failing that, the SDK errors it wraps) tells of."""
        known = (*self.unanswered, *_STANDARD)
        for candidate in (exc, *wrapped):
            for kinds, what in known:
                if candidate is not None and isinstance(candidate, kinds):
                    return self.said(what) if isinstance(what, Unanswered) else what
        return f"the request failed ({type(exc).__name__})"

    def no_answer(self, call: str, exc: BaseException, *wrapped: BaseException | None) -> CloudError:
        """The error of a call that got no answer of the cloud's: trying again later may work."""
        return self.error(CloudUnavailable, call, self.failure(exc, *wrapped))


def kinds_by_code(groups: Mapping[type[CloudError], Iterable[K]]) -> dict[K, type[CloudError]]:
    """The error type of each code, from the codes of each type; a code in two groups is a mistake."""
    table: dict[K, type[CloudError]] = {}
    for kind, codes in groups.items():
        for code in codes:
            if code in table:
                raise ValueError(f"{code!r} is both {table[code].__name__} and {kind.__name__}")
            table[code] = kind
    return table


__all__ = ["AUTH_FAILED", "Unanswered", "Words", "kinds_by_code"]
