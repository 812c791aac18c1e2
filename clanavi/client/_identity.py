"""Who may call the API: projects, the current project's members and API keys, and users (platform admins)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clanavi.client._calls import Call, body, model_of, nothing, page_of, path, query
from clanavi.client._endpoints import M, Namespace, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from kernel.roles import Role
from services.gateway.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreatedOut,
    ApiKeyOut,
    MemberOut,
    MemberPut,
    ProjectCreate,
    ProjectOut,
    UserCreate,
    UserOut,
    UserUpdate,
)

__all__ = ["ApiKeys", "Members", "Projects", "Users"]

Body = Mapping[str, Any]


class Projects(Namespace[M]):
    @listing
    def list(
        self, *, sort: str | None = None, order: Order | None = None, limit: int | None = None
    ) -> Listing[ProjectOut]:
        """The caller's projects with its role in each (platform admins: every project), by `created_at` or
        `name`."""
        return Listing("/v1/projects", page_of(ProjectOut), (), query(sort=sort, order=order), limit)

    @operation
    def get(self, project_id: str) -> Call[ProjectOut]:
        return Call("GET", path("/v1/projects/{}", project_id), model_of(ProjectOut))

    @operation
    def create(self, project: ProjectCreate | Body, *, idempotency_key: str | None = None) -> Call[ProjectOut]:
        """Create a project (platform admins)."""
        content = body(ProjectCreate, project)
        return Call("POST", "/v1/projects", model_of(ProjectOut), content=content, idempotency_key=idempotency_key)


class Members(Namespace[M]):
    """The members of the current project (the client's `project`) and their roles; owners manage them."""

    @listing
    def list(
        self,
        *,
        role: Role | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[MemberOut]:
        """Sorted by `created_at`, `email`, `name` or `role`."""
        return Listing("/v1/members", page_of(MemberOut), query(role=role), query(sort=sort, order=order), limit)

    @operation
    def get(self, user_id: str) -> Call[MemberOut]:
        return Call("GET", path("/v1/members/{}", user_id), model_of(MemberOut))

    @operation
    def put(self, user_id: str, membership: MemberPut | Body) -> Call[MemberOut]:
        """Add a user to the project with a role, or change its role. Owners add only users they already share a
        project with; any other is NotFound, as an id nobody has."""
        route = path("/v1/members/{}", user_id)
        return Call("PUT", route, model_of(MemberOut), content=body(MemberPut, membership))

    @operation
    def remove(self, user_id: str) -> Call[None]:
        """Remove a member (never the project's last owner)."""
        return Call("DELETE", path("/v1/members/{}", user_id), nothing)


class ApiKeys(Namespace[M]):
    """The current project's API keys (owners)."""

    @listing
    def list(
        self,
        *,
        user_id: str | None = None,
        revoked: bool | None = None,
        admin: bool | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[ApiKeyOut]:
        """`admin=True`: the platform admin keys instead (admins only). Sorted by `created_at` or `name`."""
        filters = query(user_id=user_id, revoked=revoked, admin=admin)
        return Listing("/v1/api-keys", page_of(ApiKeyOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, key_id: str) -> Call[ApiKeyOut]:
        """One key's record (never the key itself)."""
        return Call("GET", path("/v1/api-keys/{}", key_id), model_of(ApiKeyOut))

    @operation
    def create(self, key: ApiKeyCreate | Body, *, idempotency_key: str | None = None) -> Call[ApiKeyCreatedOut]:
        """A new key: the answer's `key` is shown this once."""
        content = body(ApiKeyCreate, key)
        return Call(
            "POST", "/v1/api-keys", model_of(ApiKeyCreatedOut), content=content, idempotency_key=idempotency_key
        )

    @operation
    def revoke(self, key_id: str) -> Call[ApiKeyOut]:
        """Revoke a key; repeating it is harmless."""
        return Call("DELETE", path("/v1/api-keys/{}", key_id), model_of(ApiKeyOut))


class Users(Namespace[M]):
    """Users (platform admins)."""

    @listing
    def list(
        self,
        *,
        email: str | None = None,
        admin: bool | None = None,
        disabled: bool | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[UserOut]:
        """Sorted by `created_at`, `email` or `name`."""
        filters = query(email=email, admin=admin, disabled=disabled)
        return Listing("/v1/users", page_of(UserOut), filters, query(sort=sort, order=order), limit)

    @operation
    def get(self, user_id: str) -> Call[UserOut]:
        return Call("GET", path("/v1/users/{}", user_id), model_of(UserOut))

    @operation
    def create(self, user: UserCreate | Body, *, idempotency_key: str | None = None) -> Call[UserOut]:
        content = body(UserCreate, user)
        return Call("POST", "/v1/users", model_of(UserOut), content=content, idempotency_key=idempotency_key)

    @operation
    def update(self, user_id: str, change: UserUpdate | Body) -> Call[UserOut]:
        """Rename, set a password, `admin`, `disabled`; disabling a user or changing its password ends its
        logins."""
        return Call("PATCH", path("/v1/users/{}", user_id), model_of(UserOut), content=body(UserUpdate, change))
