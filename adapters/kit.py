"""The adapter kit: what adapters are built of beside the contract (`base`, whose `AdapterBase` calls the cloud), so
that an adapter's own modules hold only what is its cloud's.

- `Words` and `Unanswered`: how an adapter tells of a failed call in words of its own, never the other side's, and
  `kinds_by_code`, the one table from an SDK's error codes to the contract's error types.
- `FlavorConfig`, `FlavorLimits` and `Flavors`: the sizes an account offers on a hypervisor that has no flavors of its
  own (libvirt, XAPI), checked against that hypervisor's limits.
- `token_digest` and `made_by_token`: what the creates that honour a client token share (see `base.CloudAdapter`).

Every adapter package has the same files: `__init__.py` (its public names: the adapter class and its config),
`adapter.py` (the adapter class: what it declares, `features`, `config_model`, `secret_fields`, and its `open`, which
`AdapterBase.connect` calls with the validated settings), `config.py` (the account's settings), `_errors.py` (the
SDK's errors as the contract's: `SDK_ERRORS`, `translate`) and `_mapping.py` (the cloud's states and records as the
contract's values, no I/O); what only it needs (an SDK's door, a throttle) stands beside them in private modules.
SimCloud, which is its own cloud, has no SDK to translate: its store is split by concept (instances, volumes, ...),
each module turning its rows into the contract's values.
"""

from __future__ import annotations

import enum
import hashlib
import http.client
import ssl
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import CloudError, CloudNotFound, CloudUnavailable, Flavor, InvalidCloudRequest

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


# --- flavors ---------------------------------------------------------------------------------------------------


class FlavorConfig(BaseModel):
    """A size offered on a hypervisor that has no flavors of its own; its `FlavorLimits` say what it allows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    vcpus: int = Field(ge=1)
    ram_mb: int = Field(ge=64, le=16 * 1024 * 1024)
    disk_gb: int = Field(ge=0, le=64 * 1024)


@dataclass(frozen=True)
class FlavorLimits:
    """What one hypervisor allows of the flavors an account offers on it."""

    max_vcpus: int
    # 0 where a flavor may keep its image's own disk size.
    min_disk_gb: int

    def check(self, flavors: tuple[FlavorConfig, ...]) -> tuple[FlavorConfig, ...]:
        """`flavors`, when they are some, with unique ids, each within the limits (pydantic reports the ValueError)."""
        if not flavors:
            raise ValueError("at least one flavor is needed")
        ids = [f.id for f in flavors]
        if len(set(ids)) != len(ids):
            raise ValueError("flavor ids must be unique")
        for flavor in flavors:
            if flavor.vcpus > self.max_vcpus:
                raise ValueError(f"flavor {flavor.id}: at most {self.max_vcpus} vCPUs on this hypervisor")
            if flavor.disk_gb < self.min_disk_gb:
                raise ValueError(f"flavor {flavor.id}: a disk of at least {self.min_disk_gb} GB")
        return flavors

    @staticmethod
    def defaults(prefix: str) -> tuple[FlavorConfig, ...]:
        """Three sizes, their ids under `prefix`, for an account that names none."""
        return (
            FlavorConfig(id=f"{prefix}.small", name="small", vcpus=1, ram_mb=1024, disk_gb=10),
            FlavorConfig(id=f"{prefix}.medium", name="medium", vcpus=2, ram_mb=4096, disk_gb=20),
            FlavorConfig(id=f"{prefix}.large", name="large", vcpus=4, ram_mb=8192, disk_gb=40),
        )


class Flavors:
    """The flavors of an account's settings, as the contract lists and finds them."""

    def __init__(self, configured: Iterable[FlavorConfig]) -> None:
        self._by_id = {f.id: Flavor(f.id, f.name, f.vcpus, f.ram_mb, f.disk_gb) for f in configured}

    def all(self) -> list[Flavor]:
        return list(self._by_id.values())

    def get(self, flavor_id: str) -> Flavor:
        try:
            return self._by_id[flavor_id]
        except KeyError:
            raise CloudNotFound(f"flavor {flavor_id} does not exist") from None


# --- client tokens ---------------------------------------------------------------------------------------------


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Identified)


def token_digest(account_id: str, client_token: str) -> str:
    """A client token of an account as 16 hex digits: for a cloud that can keep a token only in a name, where it
    must be short, of few characters, and not another account's (64 bits: no two tokens of an account meet)."""
    return hashlib.sha256(f"{account_id}\n{client_token}".encode()).hexdigest()[:16]


def made_by_token(kind: str, found: R, **asked: object) -> R:
    """The answer to a create whose client token made `found` before: `found`, when it was made as `asked` now
    (each keyword names one of its fields); a token reused for another request is refused."""
    differs = sorted(name for name, value in asked.items() if getattr(found, name) != value)
    if differs:
        raise InvalidCloudRequest(
            f"the client token was used for {kind} {found.id}, which differs in {', '.join(differs)}"
        )
    return found


__all__ = [
    "AUTH_FAILED",
    "FlavorConfig",
    "FlavorLimits",
    "Flavors",
    "Unanswered",
    "Words",
    "kinds_by_code",
    "made_by_token",
    "token_digest",
]
