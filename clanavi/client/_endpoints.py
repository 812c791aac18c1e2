"""How an operation is declared once and served by both clients.

An operation is a method of a namespace (`Instances`, `Volumes`...) that builds what to do: a `Call`, a `Plan`, a
`Listing` or a `Stream`. Decorated with `operation`, `procedure`, `listing` or `stream`, it becomes a descriptor that
hands what was built to the namespace's driver: on a namespace of `AsyncClient` (`Namespace[Async]`) the method
answers a coroutine (or an async iterator), on one of `Client` (`Namespace[Sync]`) the result itself. The types say
so, to mypy and to editors: `await client.instances.get(id)` is an `InstanceOut` there, `client.instances.get(id)`
one here."""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Protocol, Self, TypeVar, overload

from pydantic import BaseModel

from clanavi.client._calls import Call
from clanavi.client._exchange import Context
from clanavi.client._pages import Listing
from clanavi.client._steps import Plan, Stream, fetch

if TYPE_CHECKING:
    from clanavi.client._drivers import AsyncPages, Pages

P = ParamSpec("P")
T = TypeVar("T")
X = TypeVar("X")
B = TypeVar("B", bound=BaseModel)

__all__ = ["Async", "Namespace", "Sync", "listing", "operation", "procedure", "stream"]


class Async:
    """The mode of `AsyncClient`'s namespaces: operations answer coroutines."""


class Sync:
    """The mode of `Client`'s namespaces: operations answer their results."""


M = TypeVar("M", Async, Sync)


class Driver(Protocol):
    def run(self, plan: Plan[Any], context: Context) -> Any: ...
    def stream(self, plan: Stream[Any], context: Context) -> Any: ...
    def pages(self, listing: Listing[Any], context: Context) -> Any: ...


class Namespace(Generic[M]):
    """Operations on one part of the API, carried out by `driver` in `context` (the project, the correlation id)."""

    def __init__(self, driver: Driver, context: Context) -> None:
        self._driver = driver
        self._context = context


class _Declared(ABC, Generic[P, T]):
    """An operation's builder, and what to do with what it builds (`_carry`)."""

    def __init__(self, build: Callable[Concatenate[Any, P], T]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__

    @abstractmethod
    def _carry(self, namespace: Namespace[Any], built: T) -> Any: ...

    def _bound(self, namespace: Namespace[Any]) -> Callable[..., Any]:
        build = self.build

        @functools.wraps(build)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return self._carry(namespace, build(namespace, *args, **kwargs))

        # Shown without `self`, and without what the builder answers (help(), editors, a command line reading
        # signatures): the namespace's mode decides what the caller gets.
        signature = inspect.signature(build)
        bound.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=list(signature.parameters.values())[1:], return_annotation=inspect.Signature.empty
        )
        return bound


class _Run(_Declared[P, X], Generic[P, X, T]):
    """An operation the driver runs to its result `T`: awaited on `AsyncClient`, as is on `Client`."""

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: Namespace[Async], owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, obj: Namespace[Sync], owner: type[Any]) -> Callable[P, T]: ...
    def __get__(self, obj: Namespace[Any] | None, owner: type[Any]) -> Any:
        return self if obj is None else self._bound(obj)


class _Operation(_Run[P, Call[T], T]):
    def _carry(self, namespace: Namespace[Any], built: Call[T]) -> Any:
        return namespace._driver.run(fetch(built), namespace._context)


class _Procedure(_Run[P, Plan[T], T]):
    def _carry(self, namespace: Namespace[Any], built: Plan[T]) -> Any:
        return namespace._driver.run(built, namespace._context)


class _Listing(_Declared[P, Listing[B]]):
    def _carry(self, namespace: Namespace[Any], built: Listing[B]) -> Any:
        return namespace._driver.pages(built, namespace._context)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Listing[P, B]: ...
    @overload
    def __get__(self, obj: Namespace[Async], owner: type[Any]) -> Callable[P, AsyncPages[B]]: ...
    @overload
    def __get__(self, obj: Namespace[Sync], owner: type[Any]) -> Callable[P, Pages[B]]: ...
    def __get__(self, obj: Namespace[Any] | None, owner: type[Any]) -> Any:
        return self if obj is None else self._bound(obj)


class _Stream(_Declared[P, Stream[T]]):
    def _carry(self, namespace: Namespace[Any], built: Stream[T]) -> Any:
        return namespace._driver.stream(built, namespace._context)

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Stream[P, T]: ...
    @overload
    def __get__(self, obj: Namespace[Async], owner: type[Any]) -> Callable[P, AsyncIterator[T]]: ...
    @overload
    def __get__(self, obj: Namespace[Sync], owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    def __get__(self, obj: Namespace[Any] | None, owner: type[Any]) -> Any:
        return self if obj is None else self._bound(obj)


def operation(build: Callable[Concatenate[Any, P], Call[T]]) -> _Operation[P, T]:
    """One API call: the method builds its `Call`."""
    return _Operation(build)


def procedure(build: Callable[Concatenate[Any, P], Plan[T]]) -> _Procedure[P, T]:
    """Several calls: the method builds the plan (waiting for a state, logging in)."""
    return _Procedure(build)


def listing(build: Callable[Concatenate[Any, P], Listing[B]]) -> _Listing[P, B]:
    """A paginated list: the method builds its `Listing`, the client answers its pages to iterate over."""
    return _Listing(build)


def stream(build: Callable[Concatenate[Any, P], Stream[T]]) -> _Stream[P, T]:
    """Items as they come (following the audit): the method builds the stream, the client iterates over it."""
    return _Stream(build)
