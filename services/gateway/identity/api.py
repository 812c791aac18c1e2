"""The identity API: logging in, who am I, users, projects, the current project's members and API keys.

The current project is the one the `X-Clanavi-Project` header names (the Authentication middleware chose it, and put
who authenticated in the request state).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from kernel import correlation
from kernel.authz import Admin, Anyone, Manager, Reader
from kernel.errors import Unauthenticated, ValidationFailed
from kernel.http import NO_STORE_HEADERS, Routes, problem_responses
from kernel.identity import Identity, Role
from kernel.pagination import Page
from services.gateway.identity.domain import Subject
from services.gateway.identity.handlers import Actor, IdentityService
from services.gateway.identity.listing import ApiKeyPaging, MemberPaging, ProjectPaging, UserPaging
from services.gateway.identity.schemas import (
    EMAIL_PATTERN,
    ApiKeyCreate,
    ApiKeyCreatedOut,
    ApiKeyOut,
    LogoutIn,
    MemberOut,
    MemberPut,
    MeOut,
    MeProject,
    ProjectCreate,
    ProjectOut,
    TokenForm,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from services.gateway.identity.sessions import RENEWAL_GRACE, Sessions, TokenPair

__all__ = ["router"]


async def identity_service(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


async def sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.sessions
    return found


async def current_subject(request: Request) -> Subject:
    """Who authenticated the request."""
    subject: Subject | None = getattr(request.state, "subject", None)
    if subject is None:
        raise Unauthenticated("Send `Authorization: Bearer <token>`.")
    return subject


Service = Annotated[IdentityService, Depends(identity_service)]
SessionsDep = Annotated[Sessions, Depends(sessions)]
CurrentSubject = Annotated[Subject, Depends(current_subject)]

router = APIRouter(prefix="/v1", responses=problem_responses(401, 413, 422, 429, 503))
_PUBLIC: dict[str, object] = {"security": []}
auth, users, projects = Routes(router, "auth"), Routes(router, "users"), Routes(router, "projects")
members, api_keys = Routes(router, "members"), Routes(router, "api keys")


def actor(identity: Identity) -> Actor:
    return Actor(identity.principal, correlation.current.get() or str(uuid.uuid4()))


# --- login -----------------------------------------------------------------------------------------------------


def _tokens(pair: TokenPair, response: Response) -> TokenOut:
    response.headers.update(NO_STORE_HEADERS)
    return TokenOut(access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token)


@auth.post(
    "/auth/token",
    TokenOut,
    "Log in (OAuth2 password grant) or refresh (refresh_token grant)",
    description="Form-encoded. `grant_type=password&username=<email>&password=...` or "
    "`grant_type=refresh_token&refresh_token=...`. A refresh token works once: the answer holds its successor, and "
    "a refresh token used a second time ends that login altogether; except the same renewal sent again with the same "
    f"`renewal_key` within {RENEWAL_GRACE:g} seconds, which answers the same successor (with a new access token).",
    openapi_extra=_PUBLIC,
)
async def issue_token(form: Annotated[TokenForm, Form()], service: SessionsDep, response: Response) -> TokenOut:
    if form.grant_type == "password":
        if not form.username or form.password is None:
            raise ValidationFailed(
                "The password grant needs `username` (the email) and `password`.",
                errors=[{"location": "body.username"}, {"location": "body.password"}],
            )
        return _tokens(await service.login(form.username, form.password), response)
    if not form.refresh_token:
        raise ValidationFailed(
            "The refresh_token grant needs `refresh_token`.", errors=[{"location": "body.refresh_token"}]
        )
    return _tokens(await service.refresh(form.refresh_token, form.renewal_key), response)


@auth.post(
    "/auth/logout",
    summary="End one of the caller's logins: its refresh token (and every one rotated from it) stops working",
    status=204,
    description="Someone else's refresh token, or an unknown one, changes nothing.",
)
async def logout(body: LogoutIn, caller: Anyone, subject: CurrentSubject, service: SessionsDep) -> Response:
    await service.logout(subject, body.refresh_token)
    return Response(status_code=204)


@auth.get("/me", MeOut, "Who the caller is, and its projects")
async def me(caller: Anyone, subject: CurrentSubject, service: Service) -> MeOut:
    found = await service.me(subject, caller)
    return MeOut(
        principal=subject.principal,
        kind="api_key" if subject.key_id else "user",
        admin=subject.admin,
        project_id=caller.project_id if caller else None,
        role=caller.role if caller else None,
        user=UserOut.model_validate(found.user) if found.user else None,
        api_key=ApiKeyOut.model_validate(found.api_key) if found.api_key else None,
        projects=[MeProject(id=p.id, name=p.name, role=role) for p, role in found.projects],
    )


# --- users -----------------------------------------------------------------------------------------------------


@users.post("/users", UserOut, "Create a user (admins)", status=201, problems=(403, 409))
async def create_user(body: UserCreate, caller: Admin, service: Service) -> UserOut:
    user = await service.create_user(
        actor(caller), email=body.email, name=body.name, password=body.password, admin=body.admin
    )
    return UserOut.model_validate(user)


@users.get("/users", Page[UserOut], "List users (admins)", problems=(403,))
async def list_users(
    caller: Admin,
    service: Service,
    paging: UserPaging,
    email: Annotated[
        str | None, Query(description="Exact email, in any case", max_length=254, pattern=EMAIL_PATTERN)
    ] = None,
    admin: bool | None = None,
    disabled: bool | None = None,
) -> Page[UserOut]:
    users, next_cursor = await service.list_users(email=email, admin=admin, disabled=disabled, paging=paging)
    return Page(items=[UserOut.model_validate(u) for u in users], next_cursor=next_cursor)


@users.get("/users/{user_id}", UserOut, "One user (admins)", problems=(403, 404))
async def get_user(user_id: str, caller: Admin, service: Service) -> UserOut:
    return UserOut.model_validate(await service.get_user(user_id))


@users.patch(
    "/users/{user_id}",
    UserOut,
    "Change a user (admins): name, password, admin, disabled",
    problems=(403, 404, 409),
    description="Disabling a user, or changing its password, ends its logins; a disabled user's API keys fail.",
)
async def update_user(user_id: str, body: UserUpdate, caller: Admin, service: Service) -> UserOut:
    user = await service.update_user(
        actor(caller), user_id, name=body.name, password=body.password, admin=body.admin, disabled=body.disabled
    )
    return UserOut.model_validate(user)


# --- projects --------------------------------------------------------------------------------------------------


@projects.post("/projects", ProjectOut, "Create a project (admins)", status=201, problems=(403, 409))
async def create_project(body: ProjectCreate, caller: Admin, service: Service) -> ProjectOut:
    project = await service.create_project(actor(caller), body.id, body.name)
    return ProjectOut.of(project, Role.OWNER)


@projects.get("/projects", Page[ProjectOut], "The caller's projects (admins: every project)")
async def list_projects(
    caller: Anyone, subject: CurrentSubject, service: Service, paging: ProjectPaging
) -> Page[ProjectOut]:
    pairs, next_cursor = await service.list_projects(subject, paging=paging)
    return Page(items=[ProjectOut.of(p, role) for p, role in pairs], next_cursor=next_cursor)


@projects.get("/projects/{project_id}", ProjectOut, "One of the caller's projects", problems=(404,))
async def get_project(project_id: str, caller: Reader, subject: CurrentSubject, service: Service) -> ProjectOut:
    project, role = await service.get_project(caller, subject, project_id)
    return ProjectOut.of(project, role)


# --- members of the current project ----------------------------------------------------------------------------


@members.get("/members", Page[MemberOut], "The current project's members")
async def list_members(
    caller: Reader, service: Service, paging: MemberPaging, role: Role | None = None
) -> Page[MemberOut]:
    members, next_cursor = await service.list_members(caller.project_id, role=role, paging=paging)
    return Page(items=[MemberOut.model_validate(m) for m in members], next_cursor=next_cursor)


@members.get("/members/{user_id}", MemberOut, "One member of the current project", problems=(404,))
async def get_member(user_id: str, caller: Reader, service: Service) -> MemberOut:
    return MemberOut.model_validate(await service.get_member(caller.project_id, user_id))


@members.delete(
    "/members/{user_id}",
    summary="Remove a member from the current project (never its last owner)",
    status=204,
    problems=(403, 404, 409),
)
async def remove_member(user_id: str, caller: Manager, service: Service) -> Response:
    await service.remove_member(actor(caller), caller.project_id, user_id)
    return Response(status_code=204)


@members.put(
    "/members/{user_id}",
    MemberOut,
    "Add an existing user to the current project (201), or change its role (200)",
    problems=(403, 404, 409),
    responses={201: {"description": "Added", "model": MemberOut}},
    description="Owners add users they already share a project with (an API key: members of its own project); any "
    "other user is 404 like an id nobody has. Platform admins add any user.",
)
async def put_member(
    user_id: str, body: MemberPut, caller: Manager, subject: CurrentSubject, service: Service, response: Response
) -> MemberOut:
    member, added = await service.put_member(actor(caller), caller, subject, user_id, body.role)
    if added:
        response.status_code = 201
    return MemberOut.model_validate(member)


# --- API keys of the current project ---------------------------------------------------------------------------


@api_keys.post(
    "/api-keys",
    ApiKeyCreatedOut,
    "Create an API key for the current project; the answer holds the key, shown this once",
    status=201,
    problems=(403,),
)
async def create_api_key(
    body: ApiKeyCreate, caller: Manager, subject: CurrentSubject, service: Service, response: Response
) -> ApiKeyCreatedOut:
    created = await service.create_api_key(
        actor(caller),
        caller,
        subject,
        name=body.name,
        role=body.role,
        expires_in_days=body.expires_in_days,
        admin=body.admin,
    )
    response.headers.update(NO_STORE_HEADERS)
    return ApiKeyCreatedOut.issued(created.record, created.key)


@api_keys.get("/api-keys", Page[ApiKeyOut], "The current project's API keys", problems=(403,))
async def list_api_keys(
    caller: Manager,
    service: Service,
    paging: ApiKeyPaging,
    user_id: Annotated[str | None, Query(description="Keys owned by this user")] = None,
    revoked: bool | None = None,
    admin: Annotated[bool, Query(description="Admin keys (bound to no project) instead; admins only")] = False,
) -> Page[ApiKeyOut]:
    keys, next_cursor = await service.list_api_keys(
        caller, admin_keys=admin, user_id=user_id, revoked=revoked, paging=paging
    )
    return Page(items=[ApiKeyOut.model_validate(k) for k in keys], next_cursor=next_cursor)


@api_keys.get("/api-keys/{key_id}", ApiKeyOut, "One API key (never the key itself)", problems=(403, 404))
async def get_api_key(key_id: str, caller: Manager, service: Service) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await service.get_api_key(caller, key_id))


@api_keys.delete("/api-keys/{key_id}", ApiKeyOut, "Revoke an API key; repeating it is harmless", problems=(403, 404))
async def revoke_api_key(key_id: str, caller: Manager, service: Service) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await service.revoke_api_key(actor(caller), caller, key_id))
