"""The client covers the public API, all of it and nothing else: every operation of the gateway's OpenAPI document
is one of the client's, and every call the client builds is an operation of the document. Read from the client's
own declarations (each built with placeholder arguments, nothing sent) and from the gateway app, built offline."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from clanavi.client import Client, Tokens
from clanavi.client._calls import Call
from clanavi.client._endpoints import Namespace, _Declared
from clanavi.client._pages import Listing
from clanavi.client._steps import Fetch, FetchAll, Now
from tests.offline import gateway_app

Operation = tuple[str, str]


@pytest.fixture(scope="module")
def documented() -> set[Operation]:
    app: FastAPI = gateway_app()
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }


def _placeholder(annotation: Any) -> Any:
    """A value of the parameter's type: a model built without its fields, a number (a version), an id, a list of
    ids."""
    if annotation is int:
        return 1
    for arm in typing.get_args(annotation) or (annotation,):
        if inspect.isclass(arm) and issubclass(arm, BaseModel):
            return arm.model_construct()
    if typing.get_origin(annotation) is not None and str in typing.get_args(annotation):
        return ["x"]
    return "x"


def _built(namespace: Namespace[Any], declared: _Declared[Any, Any]) -> Iterator[Call[Any]]:
    """The calls an operation makes first: its own, or those its plan asks for before it needs an answer."""
    hints = typing.get_type_hints(declared.build)
    required = [
        p
        for p in list(inspect.signature(declared.build).parameters.values())[1:]
        if p.default is inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    built = declared.build(namespace, *(_placeholder(hints[p.name]) for p in required))
    if isinstance(built, Call):
        yield built
    elif isinstance(built, Listing):
        yield built.call()
    else:
        step = next(built)
        while isinstance(step, Now):
            step = built.send(0.0)
        if isinstance(step, Fetch):
            yield step.call
        elif isinstance(step, FetchAll):
            yield from step.calls
        built.close()


def client_calls() -> list[tuple[str, str, str]]:
    """(operation, method, path) of every call the client's operations make."""
    client = Client("http://clanavi.test", tokens=Tokens("access", "refresh"))
    namespaces = [client, *(v for v in vars(client).values() if isinstance(v, Namespace))]
    calls = []
    for namespace in namespaces:
        for kind in type(namespace).__mro__:
            for name, declared in vars(kind).items():
                if isinstance(declared, _Declared):
                    label = f"{type(namespace).__name__}.{name}"
                    calls += [(label, call.method, call.path) for call in _built(namespace, declared)]
    client.close()
    return calls


def _operation_of(method: str, path: str, documented: set[Operation]) -> Operation | None:
    if (method, path) in documented:
        return method, path
    for known_method, template in documented:
        pattern = "^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$"
        if known_method == method and re.match(pattern, path):
            return known_method, template
    return None


def test_every_call_of_the_client_is_an_operation_of_the_api(documented: set[Operation]) -> None:
    unknown = [(label, m, p) for label, m, p in client_calls() if _operation_of(m, p, documented) is None]
    assert unknown == []


def test_every_operation_of_the_api_is_one_of_the_clients(documented: set[Operation]) -> None:
    covered = {_operation_of(m, p, documented) for _, m, p in client_calls()}
    assert sorted(documented - covered) == []
