"""The gateway's authentication middleware: who may reach `/v1`, and the identity the routes see."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.middleware import Middleware
from starlette.types import Message

from kernel.errors import Unauthenticated
from kernel.http import PROBLEM_JSON, create_base_app
from kernel.identity import Identity, Role
from services.gateway.identity.authenticator import bearer_token
from services.gateway.identity.domain import KeyGrant, Subject, UserGrant, key_subject, select_project, user_subject
from services.gateway.middleware.authentication import PUBLIC_PATHS, Authentication

VIEWER_TOKEN = "clk_viewer"
ADMIN_TOKEN = "clk_admin"
ROAMER_TOKEN = "clk_roamer"  # a user of two projects, neither of them `default`


class Directory:
    """Subjects by token, found as the real authenticator finds them, chosen between projects by the real rules."""

    def __init__(self) -> None:
        self.projects = {"default", "p1", "p2"}
        self.subjects: dict[str, Subject] = {
            VIEWER_TOKEN: key_subject(
                KeyGrant("k1", "u1", "p1", Role.OWNER, False, None), UserGrant("u1", False, {"p1": Role.VIEWER})
            ),
            ADMIN_TOKEN: key_subject(KeyGrant("k2", None, None, Role.OWNER, True, None), None),
            ROAMER_TOKEN: user_subject(UserGrant("u2", False, {"p1": Role.OWNER, "p2": Role.OPERATOR})),
        }

    async def subject(self, authorization: str | None) -> Subject:
        subject = self.subjects.get(bearer_token(authorization))
        if subject is None:
            raise Unauthenticated("The token is not valid.")
        return subject

    async def authenticate(self, authorization: str | None, project: str | None) -> tuple[Subject, Identity]:
        subject = await self.subject(authorization)
        return subject, select_project(subject, project, requested_exists=project in self.projects)


def make_app() -> FastAPI:
    async def readiness() -> dict[str, bool]:
        return {}

    app = create_base_app("gw", readiness, middleware=[Middleware(Authentication, authenticator=Directory())])

    @app.get("/v1/whoami")
    async def whoami(request: Request) -> dict[str, object]:
        identity: Identity = request.state.identity
        return {
            "principal": identity.principal,
            "project": identity.project_id,
            "role": identity.role.value,
            "admin": identity.admin,
            "subject": request.state.subject.principal,
        }

    @app.get("/v1/me")
    async def me(request: Request) -> dict[str, object]:
        identity: Identity | None = getattr(request.state, "identity", None)
        return {"subject": request.state.subject.principal, "project": identity.project_id if identity else None}

    @app.post("/v1/auth/token")
    async def login() -> dict[str, str]:
        return {"reached": "yes"}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(make_app()), base_url="http://testserver") as client:
        yield client


def bearer(token: str, project: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if project is not None:
        headers["X-Clanavi-Project"] = project
    return headers


async def test_the_route_sees_the_identity_the_project_rules_give(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/whoami", headers=bearer(VIEWER_TOKEN))

    assert response.status_code == 200
    assert response.json() == {
        "principal": "key:k1",
        "project": "p1",
        "role": "viewer",
        "admin": False,
        "subject": "key:k1",
    }


async def test_the_header_selects_the_project(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/whoami", headers=bearer(ROAMER_TOKEN, "p2"))).json()["role"] == "operator"
    admin = (await client.get("/v1/whoami", headers=bearer(ADMIN_TOKEN, "p2"))).json()
    assert admin["project"] == "p2" and admin["admin"] is True and admin["role"] == "owner"
    assert (await client.get("/v1/whoami", headers=bearer(ADMIN_TOKEN))).json()["project"] == "default"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {VIEWER_TOKEN}"}, {"Authorization": VIEWER_TOKEN}],
)
async def test_api_call_without_a_valid_token_is_a_401_problem(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/v1/whoami", headers={**headers, "X-Correlation-ID": "cid-401"})

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"] == 'Bearer realm="clanavi"'
    assert response.headers["X-Correlation-ID"] == "cid-401"
    body = response.json()
    assert body["code"] == "unauthenticated"
    assert body["instance"] == "/v1/whoami"
    assert body["correlation_id"] == "cid-401"


@pytest.mark.parametrize(("token", "project"), [(VIEWER_TOKEN, "p2"), (ROAMER_TOKEN, "default"), (ADMIN_TOKEN, "p404")])
async def test_a_project_out_of_reach_is_not_found_like_a_missing_one(
    client: httpx.AsyncClient, token: str, project: str
) -> None:
    response = await client.get("/v1/whoami", headers=bearer(token, project))
    missing = await client.get("/v1/whoami", headers=bearer(token, "does-not-exist"))

    assert response.status_code == missing.status_code == 404
    assert "www-authenticate" not in response.headers
    body, other = response.json(), missing.json()
    assert body["code"] == other["code"] == "not_found"
    assert body["detail"] == f"Project {project} not found."
    assert body["detail"].replace(project, "X") == other["detail"].replace("does-not-exist", "X")


async def test_a_user_of_several_projects_must_name_one(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/whoami", headers=bearer(ROAMER_TOKEN))

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request" and response.json()["projects"] == ["p1", "p2"]


async def test_unknown_api_path_is_refused_before_routing(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/does-not-exist")).status_code == 401


async def test_probes_and_login_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.post("/v1/auth/token")).json() == {"reached": "yes"}
    assert PUBLIC_PATHS == {"/v1/auth/token"}
    assert (await client.post("/v1/auth/logout")).status_code == 401
    assert (await client.post("/v1/auth/token/")).status_code == 401, "only the exact public paths are public"


@pytest.mark.parametrize(("token", "status"), [("nope", 401), (VIEWER_TOKEN, 404)])
async def test_a_refused_request_body_is_never_read(token: str, status: int) -> None:
    reached = False

    async def app(scope: object, receive: object, send: object) -> None:
        nonlocal reached
        reached = True

    async def receive() -> Message:
        raise AssertionError("the body of a refused request was read")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = Authentication(app, Directory())
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/instances",
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"x-clanavi-project", b"p2")],
    }
    await middleware(scope, receive, send)

    assert not reached
    assert sent[0]["status"] == status


async def test_a_caller_without_a_chosen_project_still_reaches_the_routes_about_itself(
    client: httpx.AsyncClient,
) -> None:
    # A member of two projects who names none: project routes ask for the header...
    refused = await client.get("/v1/whoami", headers=bearer(ROAMER_TOKEN))
    assert refused.status_code == 400 and refused.json()["code"] == "bad_request"
    # ...while the caller can still see who it is (and so where it belongs), without acting in any project.
    me = await client.get("/v1/me", headers=bearer(ROAMER_TOKEN))
    assert me.status_code == 200 and me.json() == {"subject": "user:u2", "project": None}
    # A project named but out of reach is refused there too, and a bad token is still 401.
    assert (await client.get("/v1/me", headers=bearer(ROAMER_TOKEN, "nowhere"))).status_code == 404
    assert (await client.get("/v1/me", headers=bearer("wrong-token"))).status_code == 401
