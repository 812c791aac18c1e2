"""The identity API's bodies and answers. No answer ever holds a password, a hash or a refresh token other than the
one just issued; an API key appears once, in the answer that creates it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kernel.roles import Role
from services.gateway.identity.domain import MIN_PASSWORD_LENGTH, PROJECT_ID_PATTERN, ApiKey, Project

__all__ = [
    "EMAIL_PATTERN",
    "ApiKeyCreate",
    "ApiKeyCreatedOut",
    "ApiKeyOut",
    "LogoutIn",
    "MeOut",
    "MemberOut",
    "MemberPut",
    "ProjectCreate",
    "ProjectOut",
    "TokenForm",
    "TokenOut",
    "UserCreate",
    "UserOut",
    "UserUpdate",
]

# No control characters (PostgreSQL refuses NUL in text, and none belongs in a name or an address).
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"
_PASSWORD = f"At least {MIN_PASSWORD_LENGTH} characters"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    """An answer read from the attributes of the record it shows (`model_validate(record)`)."""

    model_config = ConfigDict(from_attributes=True)


class TokenForm(_In):
    """An OAuth2 token request (form-encoded): a password grant or a refresh token grant."""

    grant_type: Literal["password", "refresh_token"]
    username: str | None = Field(
        default=None, max_length=254, pattern=EMAIL_PATTERN, description="The user's email (password grant)"
    )
    password: str | None = Field(default=None, max_length=1024)
    refresh_token: str | None = Field(default=None, max_length=256)
    renewal_key: str | None = Field(
        default=None,
        min_length=32,
        max_length=256,
        description="Refresh grant, optional: a secret the client derives from the refresh token, so that the same "
        "renewal sent twice at once (by two replicas of one client) answers the same successor instead of ending the "
        "login",
    )
    # Sent by generic OAuth2 clients (Swagger UI among them); Clanavi has no scopes and no registered clients.
    scope: str = ""
    client_id: str | None = None
    client_secret: str | None = None


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="Seconds the access token is valid for")
    refresh_token: str = Field(description="Use once with grant_type=refresh_token; the answer holds its successor")


class LogoutIn(_In):
    refresh_token: str = Field(max_length=256)


class UserCreate(_In):
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024, description=_PASSWORD)
    admin: bool = False


class UserUpdate(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH, max_length=1024, description=_PASSWORD)
    admin: bool | None = None
    disabled: bool | None = Field(default=None, description="A disabled user cannot log in, and its keys fail")


class UserOut(_Out):
    id: str
    email: str
    name: str
    admin: bool
    disabled: bool
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ProjectCreate(_In):
    id: str = Field(pattern=PROJECT_ID_PATTERN, description="Lower-case letters, digits and dashes; 2 to 63")
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)


class ProjectOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    role: Role = Field(description="The caller's role in the project (platform admins: owner)")

    @classmethod
    def of(cls, project: Project, role: Role) -> ProjectOut:
        return cls(id=project.id, name=project.name, created_at=project.created_at, role=role)


class MemberPut(_In):
    role: Role


class MemberOut(_Out):
    user_id: str
    email: str
    name: str
    role: Role
    created_at: datetime


class ApiKeyCreate(_In):
    name: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN)
    role: Role | None = Field(default=None, description="Default: your role; never more than it")
    expires_in_days: int = Field(default=90, ge=1, le=365)
    admin: bool = Field(default=False, description="A platform admin key, bound to no project (admins only)")


class ApiKeyOut(_Out):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    user_id: str | None
    project_id: str | None = Field(description="The project the key is bound to; null for an admin key")
    role: Role
    admin: bool
    state: Literal["active", "expired", "revoked"]
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The key itself, shown this once: send it as `Authorization: Bearer <key>`")

    @classmethod
    def issued(cls, key: ApiKey, secret: str) -> ApiKeyCreatedOut:
        return cls(**ApiKeyOut.model_validate(key).model_dump(), key=secret)


class MeProject(BaseModel):
    id: str
    name: str
    role: Role


class MeOut(BaseModel):
    principal: str
    kind: Literal["user", "api_key"]
    admin: bool
    project_id: str | None = Field(
        description="The project this request acts in; null when none could be chosen (name one with the "
        "X-Clanavi-Project header)"
    )
    role: Role | None = Field(description="The role in that project")
    user: UserOut | None
    api_key: ApiKeyOut | None
    projects: list[MeProject] = Field(description="The projects the caller is a member of, with its role in each")
