"""One API call described without doing it (a `Call`: method, path, query, body, how to read the answer), and the
helpers the operations build calls with. The drivers carry calls out; nothing here does I/O."""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from clanavi.client.errors import InvalidAnswer
from kernel.pagination import Page
from services.provisioner.schemas import ListOf

T = TypeVar("T")
B = TypeVar("B", bound=BaseModel)

Query = tuple[tuple[str, str], ...]
Answer = Callable[[httpx.Response], T]

__all__ = [
    "Answer",
    "Call",
    "Query",
    "body",
    "items_of",
    "model_of",
    "nothing",
    "page_of",
    "path",
    "query",
    "text",
]


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """An API call: `answer` reads its success answer. A POST carries an `Idempotency-Key`: `idempotency_key`, or
    one the client makes; `public` calls (logging in) carry neither credentials nor a key."""

    method: str
    path: str
    answer: Answer[T]
    params: Query = ()
    content: bytes | None = None
    # The media type of `content` (a price file goes as CSV or as JSON).
    content_type: str = "application/json"
    form: Mapping[str, str] | None = None
    idempotency_key: str | None = None
    public: bool = False
    accept: str = "application/json, application/problem+json"


def path(template: str, *ids: str) -> str:
    """`template` with each `{}` replaced by an id, quoted whole (an id never reaches another route)."""
    for value in ids:
        if not isinstance(value, str) or not value:
            raise ValueError(f"an id must be a non-empty string, not {value!r}")
    return template.format(*(quote(value, safe="") for value in ids))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def query(**values: object) -> Query:
    """Query parameters: None leaves a parameter out, a collection (not a string) repeats it."""
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, Collection) and not isinstance(value, str | bytes):
            pairs += [(name, _text(one)) for one in value]
        else:
            pairs.append((name, _text(value)))
    return tuple(pairs)


def body(model: type[B], value: B | Mapping[str, Any]) -> bytes:
    """The JSON of a request body: the model itself, or a mapping read as the model (so a bad field is refused here,
    with pydantic's ValidationError, before anything is sent). Fields never set are left out: the API applies its
    defaults, and an update changes only what it names."""
    if isinstance(value, Mapping):
        value = model.model_validate(value)
    if not isinstance(value, model):
        raise TypeError(f"expected {model.__name__} or a mapping, not {type(value).__name__}")
    return value.model_dump_json(exclude_unset=True, by_alias=True).encode()


def _read(response: httpx.Response, read: Callable[[bytes], T]) -> T:
    try:
        return read(response.content)
    except (ValidationError, ValueError) as exc:
        request = response.request
        raise InvalidAnswer(request.method, str(request.url.path), response.status_code) from exc


def model_of(model: type[B]) -> Answer[B]:
    return lambda response: _read(response, model.model_validate_json)


def page_of(model: type[B]) -> Answer[Page[B]]:
    page: type[Page[B]] = Page[model]  # type: ignore[valid-type]
    return lambda response: _read(response, page.model_validate_json)


def items_of(model: type[B]) -> Answer[list[B]]:
    listing: type[ListOf[B]] = ListOf[model]  # type: ignore[valid-type]
    return lambda response: _read(response, lambda content: listing.model_validate_json(content).items)


def text(response: httpx.Response) -> str:
    return response.text


def nothing(response: httpx.Response) -> None:
    return None
