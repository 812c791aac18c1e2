"""A fake of the network under an httpx client (for `httpx.MockTransport`): it answers each request with the next of
the answers it was given, or with what a function of the request says, and keeps every request it saw. Answers
are built as the platform builds them: problem JSON with `kernel.errors.problem`, bodies from the services' models."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel

from kernel.errors import problem

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]
PROBLEM_JSON = "application/problem+json"


class Network:
    def __init__(self, *answers: Answer) -> None:
        self.answers: deque[Answer] = deque(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError(f"no answer left for {request.method} {request.url}")
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


def ok(model: BaseModel | dict[str, Any] | list[Any], status: int = 200, **headers: str) -> httpx.Response:
    content = model.model_dump_json() if isinstance(model, BaseModel) else json.dumps(model)
    return httpx.Response(status, content=content, headers={"Content-Type": "application/json", **headers})


def refused(
    status: int, code: str, detail: str = "Refused.", headers: dict[str, str] | None = None, **extensions: Any
) -> httpx.Response:
    body = problem(
        status=status,
        code=code,
        title=code.replace("_", " ").capitalize(),
        detail=detail,
        instance="/v1/somewhere",
        correlation_id="cid-1",
        **extensions,
    )
    return httpx.Response(status, content=json.dumps(body), headers={"Content-Type": PROBLEM_JSON, **(headers or {})})
