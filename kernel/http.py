"""HTTP plumbing every service app installs: problem JSON errors, correlation ids, metrics, health probes."""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from fastapi.types import DecoratedCallable as Endpoint
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel import correlation, storable_text
from kernel.errors import PROBLEM_SCHEMA, ClanaviError, problem, problem_from_error
from kernel.metrics import HTTP_LATENCY, HTTP_REQUESTS
from kernel.pagination import page_adapter

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# How long a service keeps an idle connection open (uvicorn's default, made explicit): a client that keeps its
# connections to a service longer (the gateway's upstream pool) must drop them first, or it sends requests on
# connections the service is closing, and they fail.
KEEP_ALIVE_SECONDS = 5
# Sent with every answer that holds a secret (tokens, a new API key, a private key): no cache or proxy may keep it.
NO_STORE_HEADERS: Mapping[str, str] = MappingProxyType({"Cache-Control": "no-store", "Pragma": "no-cache"})

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` documenting problem JSON answers with these statuses (a route's own refusals)."""
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {
        status: {"description": "Problem", "content": content, **({"headers": _RETRY_AFTER} if status == 429 else {})}
        for status in statuses
    }


class Declares(Protocol):
    """What declaring a route answers: the decorator that adds the endpoint to the router and hands it back."""

    def __call__(self, endpoint: Endpoint, /) -> Endpoint: ...


class Routes:
    """Declares routes on `router` (under `tag`, when given) in the words every route of every service uses: its path,
    the model it answers (left out: the endpoint's return annotation), its summary, its success status and the
    refusals it documents as problem JSON; any other keyword goes to FastAPI as it is."""

    def __init__(self, router: APIRouter, tag: str | None = None) -> None:
        self.router = router
        self.tag = tag

    def __call__(
        self,
        method: str,
        path: str,
        answer: Any = None,
        summary: str | None = None,
        *,
        status: int | None = None,
        problems: Sequence[int] = (),
        responses: Mapping[int | str, dict[str, Any]] | None = None,
        **declared: Any,
    ) -> Declares:
        if answer is not None:
            declared["response_model"] = answer
        if self.tag is not None:
            declared["tags"] = [self.tag]
        return self.router.api_route(
            path,
            methods=[method],
            status_code=status,
            summary=summary,
            responses={**problem_responses(*problems), **(responses or {})},
            **declared,
        )

    def get(self, path: str, answer: Any = None, summary: str | None = None, **declared: Any) -> Declares:
        return self("GET", path, answer, summary, **declared)

    def post(self, path: str, answer: Any = None, summary: str | None = None, **declared: Any) -> Declares:
        return self("POST", path, answer, summary, **declared)

    def put(self, path: str, answer: Any = None, summary: str | None = None, **declared: Any) -> Declares:
        return self("PUT", path, answer, summary, **declared)

    def patch(self, path: str, answer: Any = None, summary: str | None = None, **declared: Any) -> Declares:
        return self("PATCH", path, answer, summary, **declared)

    def delete(self, path: str, answer: Any = None, summary: str | None = None, **declared: Any) -> Declares:
        return self("DELETE", path, answer, summary, **declared)


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=int(body["status"]), media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        errors.append({"location": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")})
    return errors


# FastAPI's answer to a body it cannot even decode (not UTF-8, say), where undecodable JSON gets a validation error.
_UNPARSABLE_BODY = "There was an error parsing the body"


def _invalid_json(request: Request) -> Response:
    """The same answer as to any other body that is not JSON: one way to tell a client its body is unreadable."""
    return problem_response(
        problem(
            status=422,
            code="validation_failed",
            title="The request is not valid",
            detail="The request body is not valid JSON.",
            instance=request.url.path,
            correlation_id=correlation.current.get(),
            errors=[{"location": "body", "message": "JSON decode error", "type": "json_invalid"}],
        )
    )


def install_problem_handlers(app: FastAPI) -> None:
    async def clanavi_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ClanaviError)
        return problem_response(
            problem_from_error(exc, instance=request.url.path, correlation_id=correlation.current.get())
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        malformed = any(e["type"] == "json_invalid" for e in errors)
        detail = "The request body is not valid JSON." if malformed else "The request has invalid or missing fields."
        return problem_response(
            problem(
                status=422,
                code="validation_failed",
                title="The request is not valid",
                detail=detail,
                instance=request.url.path,
                correlation_id=correlation.current.get(),
                errors=errors,
            )
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            return _invalid_json(request)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return problem_response(
            problem(
                status=exc.status_code,
                code=code,
                title=code.replace("_", " ").capitalize(),
                detail=detail,
                instance=request.url.path,
                correlation_id=correlation.current.get(),
            ),
            headers=dict(exc.headers) if exc.headers else None,
        )

    app.add_exception_handler(ClanaviError, clanavi_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


class HttpMiddleware(ABC):
    """A middleware of the HTTP requests `applies` picks (`handle`); every other request, and every other scope (the
    lifespan), goes on to `app` untouched. Plain ASGI rather than BaseHTTPMiddleware: it adds no task switch to every
    request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def applies(self, scope: Scope) -> bool:
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.applies(scope):
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle an HTTP request this middleware applies to."""


class CorrelationMiddleware(HttpMiddleware):
    """Takes or makes the request's correlation id, echoes it in the response, and records metrics."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-correlation-id":
                incoming = value.decode("latin-1")
                break
        cid = correlation.accept_or_new(incoming)
        token = correlation.current.set(cid)
        started = time.perf_counter()
        status = 500

        async def send_with_header(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-correlation-id", cid.encode())]
            await send(message)

        responded = False

        async def send_tracked(message: Message) -> None:
            nonlocal responded
            responded = responded or message["type"] == "http.response.start"
            await send_with_header(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            # Handled here rather than by an app exception handler: Starlette runs those outside every middleware,
            # where the correlation id is already gone.
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if responded:
                raise
            await send_problem(send_tracked, _internal_error(scope["path"], cid))
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], path, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)
            correlation.current.reset(token)


class RejectUnstorableText(HttpMiddleware):
    """Answers 422 to a request whose path, query or body holds text PostgreSQL cannot store (kernel.storable_text):
    such a request would otherwise fail deep inside a service."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        locations = ["path"] if not storable_text.storable(scope["path"]) else []
        locations += storable_text.query_locations(scope["query_string"], "query")
        if not locations and scope["method"] in _BODY_METHODS:
            kind = _content_type(scope)
            if kind == b"application/json" or kind.endswith(b"+json"):
                body, receive, _ = await buffered_body(receive)
                # NUL and surrogates can only be written escaped in valid JSON: most bodies need no second look.
                if b"\\u" in body:
                    try:
                        locations = list(storable_text.unstorable_locations(json.loads(body)))
                    except (ValueError, RecursionError):
                        pass  # not JSON: the route's own parsing says so
            elif kind == b"application/x-www-form-urlencoded":
                body, receive, _ = await buffered_body(receive)
                locations = storable_text.query_locations(body, "body")
        if not locations:
            await self.app(scope, receive, send)
            return
        where = ", ".join(f"`{location}`" for location in locations[:10])
        await send_problem(
            send,
            problem(
                status=422,
                code="validation_failed",
                title="The request is not valid",
                detail=f"{storable_text.MESSAGE}: {where}.",
                instance=storable_text.printable(scope["path"]),
                correlation_id=correlation.current.get(),
                errors=[
                    {"location": location, "message": storable_text.MESSAGE, "type": "unstorable_text"}
                    for location in locations
                ],
            ),
        )


def _content_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().lower()
    return b""


async def buffered_body(receive: Receive) -> tuple[bytes, Receive, bool]:
    """The whole request body; a receive channel that hands it on again as one message, then goes on with the
    client's; and False when the client went away before sending all of it (the channel then says so too)."""
    chunks: list[bytes] = []
    message = await receive()
    while message["type"] == "http.request":
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
        message = await receive()
    else:
        return b"", _answering(message), False
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay, True


def _answering(message: Message) -> Receive:
    async def receive() -> Message:
        return message

    return receive


def _internal_error(path: str, cid: str) -> dict[str, Any]:
    return problem(
        status=500,
        code="internal_error",
        title="Internal error",
        detail="The server failed to handle the request; it has been logged.",
        instance=path,
        correlation_id=cid,
    )


async def send_problem(send: Send, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer with problem JSON straight from an ASGI middleware (before any route runs)."""
    raw = json.dumps(body).encode()
    start = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(raw)).encode()), *headers]
    await send({"type": "http.response.start", "status": body["status"], "headers": start})
    await send({"type": "http.response.body", "body": raw})


def probes_router(readiness: ReadinessCheck) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: the database and the broker are reachable",
        responses={503: {"description": "Not ready: `checks` names what is unreachable"}},
    )
    async def readyz() -> Response:
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
        )

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def page_answer(model: type[BaseModel], records: Sequence[object], next_cursor: str | None) -> Response:
    """The JSON of a page of `model`s read from the records' attributes, the same bytes a route answering
    `Page[model]` sends. A listing is a service's busiest route: pydantic-core validates and writes the whole page in
    one pass each, where answer models built one by one and then serialised by the route cost twice the CPU."""
    pages = page_adapter(model)
    page = pages.validate_python({"items": records, "next_cursor": next_cursor}, from_attributes=True)
    return Response(pages.dump_json(page, by_alias=True), media_type="application/json")


def answer(model: BaseModel, *, status: int = 200) -> Response:
    """The JSON of an answer model, the same bytes FastAPI sends for a route that returns it: FastAPI dumps a returned
    model to a dict, validates that again and only then writes it, three passes a busy route (one record, a launch)
    does without."""
    return Response(model.model_dump_json(by_alias=True), status_code=status, media_type="application/json")


_NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def create_base_app(
    title: str, readiness: ReadinessCheck, *, middleware: Sequence[Middleware] = (), **kwargs: Any
) -> FastAPI:
    """A service app with problem JSON errors, probes and metrics. `middleware` runs outermost first, inside the
    correlation middleware, so even an early refusal carries the request's correlation id."""
    # The services' telemetry is their Prometheus metrics and correlated logs; FastAPI's own OpenTelemetry hooks
    # would otherwise look up the global providers (reading the environment) on every request.
    app = FastAPI(title=title, telemetry=_NO_OPENTELEMETRY, **kwargs)
    install_problem_handlers(app)
    app.add_middleware(RejectUnstorableText)
    for entry in reversed(middleware):
        app.add_middleware(entry.cls, *entry.args, **entry.kwargs)
    app.add_middleware(CorrelationMiddleware)
    app.include_router(probes_router(readiness))
    generated = app.openapi

    def openapi() -> dict[str, Any]:
        # Routes document their refusals as problem JSON (problem_responses): the schema they refer to is here.
        schema = generated()
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault("Problem", PROBLEM_SCHEMA)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def serve(app: ASGIApp, *, host: str, port: int) -> None:
    """Run `app` as every service runs: uvloop and httptools (refusing what it cannot parse in problem JSON), one
    worker, no access log (logs carry the requests' correlation ids instead), ten seconds to finish requests at
    shutdown, and what the app holds once started frozen out of the garbage collector's full passes
    (`kernel.heap`)."""
    import uvicorn  # a server dependency only where a server runs

    from kernel.heap import FrozenAfterStartup
    from kernel.raw_http import ProblemHttpTools

    uvicorn.run(
        FrozenAfterStartup(app),
        host=host,
        port=port,
        log_config=None,
        loop="uvloop",
        http=ProblemHttpTools,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # Client addresses come from the peer and CLANAVI_GATEWAY_TRUSTED_PROXIES alone (the gateway's rate limits
        # key on them). uvicorn's own handling would replace the peer with any X-Forwarded-For sent from loopback
        # (or from whatever FORWARDED_ALLOW_IPS names) before the gateway sees the request.
        proxy_headers=False,
        forwarded_allow_ips="",
    )
