"""The identity use cases: users, projects, members, API keys, login, refresh and logout.

Every change commits together with its event in the gateway's outbox, and drops what this replica's authenticator
has cached (other replicas notice within their cache time). No password, hash, token or key reaches an event or a
log line.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kernel import outbox
from kernel.db import Connection, Pool
from kernel.errors import Conflict, Forbidden, NotFound, Unauthenticated
from kernel.events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    EventPayload,
    MemberAdded,
    MemberChanged,
    MemberRemoved,
    ProjectCreated,
    UserCreated,
    UserUpdated,
    new_event,
)
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Identity, Role
from kernel.keyset import PageRequest
from services.gateway.identity import repository
from services.gateway.identity.domain import (
    ApiKey,
    Member,
    Project,
    Subject,
    User,
    role_at_most,
    valid_project_id,
)
from services.gateway.identity.passwords import PasswordHashing
from services.gateway.identity.tokens import (
    AccessTokens,
    display_prefix,
    new_api_key,
    new_refresh_token,
    secret_hash,
)

__all__ = ["SYSTEM", "Actor", "api_key_created", "IdentityService", "Me", "NewApiKey", "TokenPair"]

log = logging.getLogger(__name__)

SYSTEM = "system"
_WRONG_LOGIN = "The email or the password is wrong."
_BAD_REFRESH = "The refresh token is not valid; log in again."


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change (a principal, or `system`) and the correlation id its events carry."""

    principal: str
    correlation_id: str


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str


@dataclass(frozen=True, slots=True)
class NewApiKey:
    record: ApiKey
    key: str


@dataclass(frozen=True, slots=True)
class Me:
    subject: Subject
    identity: Identity | None
    user: User | None
    api_key: ApiKey | None
    projects: list[tuple[Project, Role]]


async def _publish(conn: Connection, actor: Actor, project_id: str, *payloads: EventPayload) -> None:
    await outbox.add(
        conn, *(new_event(p, project_id=project_id, correlation_id=actor.correlation_id) for p in payloads)
    )


class IdentityService:
    def __init__(
        self,
        pool: Callable[[], Pool],
        *,
        hashing: PasswordHashing,
        tokens: AccessTokens,
        refresh_ttl: int,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._pool = pool
        self.hashing = hashing
        self.tokens = tokens
        self.refresh_ttl = refresh_ttl
        self._on_change = on_change

    @property
    def pool(self) -> Pool:
        return self._pool()

    # --- login ------------------------------------------------------------------------------------------------

    async def login(self, email: str, password: str) -> TokenPair:
        """Tokens for a user's email and password. An unknown email costs as much time as a wrong password, and
        both (and a disabled user) get the same answer."""
        found = await repository.user_login(self.pool, email)
        matches = await self.hashing.verify_async(found[1] if found else None, password)
        if found is None or not matches or found[0].disabled:
            # Never the email as typed: people type passwords into the wrong field.
            log.warning("failed login for %s", f"user {found[0].id}" if found else "an unknown email")
            raise Unauthenticated(_WRONG_LOGIN)
        user, stored = found
        if self.hashing.needs_rehash(stored):
            await repository.set_password_hash(self.pool, user.id, await self.hashing.hash_async(password))
        refresh = new_refresh_token()
        # The login is the refresh token family: its access tokens carry its id and end with it.
        session_id = str(uuid.uuid4())
        async with self.pool.acquire() as conn:
            await repository.insert_refresh_token(
                conn,
                token_hash=secret_hash(refresh),
                user_id=user.id,
                family_id=session_id,
                ttl_seconds=self.refresh_ttl,
            )
        log.info("user %s logged in", user.id)
        return TokenPair(self.tokens.issue(user.id, session_id), self.tokens.ttl, refresh)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """New tokens for a refresh token, which is used up. A token used a second time means it leaked: the whole
        family (every token rotated from the same login) is revoked."""
        successor = new_refresh_token()
        reused = False
        async with self.pool.acquire() as conn, conn.transaction():
            record = await repository.lock_refresh_token(conn, secret_hash(refresh_token))
            if record is None or record.revoked or record.expired:
                raise Unauthenticated(_BAD_REFRESH)
            user = await repository.get_user(conn, record.user_id)
            if record.used or user is None or user.disabled:
                reused = record.used
                await repository.revoke_refresh_family(conn, record.family_id)
            else:
                await repository.use_refresh_token(conn, record.id)
                await repository.insert_refresh_token(
                    conn,
                    token_hash=secret_hash(successor),
                    user_id=user.id,
                    family_id=record.family_id,
                    ttl_seconds=self.refresh_ttl,
                )
        if reused:
            log.warning("refresh token of user %s used twice: its family is revoked", record.user_id)
        if user is None or user.disabled or reused:
            self._on_change()
            raise Unauthenticated(_BAD_REFRESH)
        return TokenPair(self.tokens.issue(user.id, record.family_id), self.tokens.ttl, successor)

    async def logout(self, subject: Subject, refresh_token: str) -> None:
        """Ends the caller's login the refresh token belongs to, and with it the login's access tokens; anybody
        else's token changes nothing."""
        async with self.pool.acquire() as conn, conn.transaction():
            record = await repository.lock_refresh_token(conn, secret_hash(refresh_token))
            ended = record is not None and record.user_id == subject.user_id
            if record is not None and ended:
                await repository.revoke_refresh_family(conn, record.family_id)
        if ended:
            self._on_change()

    # --- users ------------------------------------------------------------------------------------------------

    async def create_user(self, actor: Actor, *, email: str, name: str, password: str, admin: bool) -> User:
        password_hash = await self.hashing.hash_async(password)
        async with self.pool.acquire() as conn, conn.transaction():
            user = await repository.insert_user(
                conn, user_id=str(uuid.uuid4()), email=email, name=name, password_hash=password_hash, admin=admin
            )
            await _publish(
                conn, actor, PLATFORM_SCOPE, UserCreated(user_id=user.id, admin=admin, actor=actor.principal)
            )
        log.info("user %s created by %s", user.id, actor.principal)
        return user

    async def get_user(self, user_id: str) -> User:
        user = await repository.get_user(self.pool, user_id)
        if user is None:
            raise NotFound(f"User {user_id} not found.")
        return user

    async def update_user(
        self,
        actor: Actor,
        user_id: str,
        *,
        name: str | None = None,
        password: str | None = None,
        admin: bool | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Changes a user. Disabling one, or changing its password, ends its logins (and their access tokens, so that
        enabling it again revives none); a disabled user's keys fail."""
        if actor.principal == f"user:{user_id}" and (disabled or admin is False):
            raise Conflict("You cannot disable yourself or take your own admin rights; ask another admin.")
        password_hash = await self.hashing.hash_async(password) if password is not None else None
        async with self.pool.acquire() as conn, conn.transaction():
            before = await repository.get_user(conn, user_id, lock=True)
            if before is None:
                raise NotFound(f"User {user_id} not found.")
            after = await repository.update_user(
                conn, user_id, name=name, password_hash=password_hash, admin=admin, disabled=disabled
            )
            changed = [
                field
                for field, differs in (
                    ("name", before.name != after.name),
                    ("password", password_hash is not None),
                    ("admin", before.admin != after.admin),
                    ("disabled", before.disabled != after.disabled),
                )
                if differs
            ]
            if "password" in changed or (after.disabled and not before.disabled):
                await repository.revoke_refresh_tokens_of(conn, user_id)
            if changed:
                await _publish(
                    conn,
                    actor,
                    PLATFORM_SCOPE,
                    UserUpdated(
                        user_id=user_id,
                        changed=changed,
                        admin=after.admin,
                        disabled=after.disabled,
                        actor=actor.principal,
                    ),
                )
        if changed:
            self._on_change()
            log.info("user %s changed by %s: %s", user_id, actor.principal, ", ".join(changed))
        return after

    async def list_users(
        self, *, email: str | None, admin: bool | None, disabled: bool | None, paging: PageRequest
    ) -> tuple[list[User], str | None]:
        return await repository.page_users(self.pool, email=email, admin=admin, disabled=disabled, request=paging)

    # --- projects ---------------------------------------------------------------------------------------------

    async def create_project(self, actor: Actor, project_id: str, name: str) -> Project:
        async with self.pool.acquire() as conn, conn.transaction():
            project = await repository.insert_project(conn, project_id, name)
            # Made by an admin before the project has members: a fact of the platform's, not of the project's trail.
            await _publish(
                conn, actor, PLATFORM_SCOPE, ProjectCreated(project_id=project_id, name=name, actor=actor.principal)
            )
        self._on_change()
        log.info("project %s created by %s", project_id, actor.principal)
        return project

    async def get_project(self, identity: Identity, subject: Subject, project_id: str) -> tuple[Project, Role]:
        """A project the caller may reach, and its role there; others are not found, like unknown ones."""
        if not valid_project_id(project_id):
            raise NotFound(f"Project {project_id} not found.", project_id=project_id)
        role = Role.OWNER if identity.admin else subject.role_in(project_id)
        project = await repository.get_project(self.pool, project_id) if role is not None else None
        if project is None or role is None:
            raise NotFound(f"Project {project_id} not found.", project_id=project_id)
        return project, role

    async def list_projects(
        self, subject: Subject, *, paging: PageRequest
    ) -> tuple[list[tuple[Project, Role]], str | None]:
        if not subject.admin and (subject.bound_project is not None or subject.user_id is None):
            if paging.cursor is not None or subject.bound_project is None:
                return [], None
            bound = await repository.get_project(self.pool, subject.bound_project)
            role = subject.role_in(subject.bound_project)
            return ([(bound, role)] if bound is not None and role is not None else []), None
        member = None if subject.admin else subject.user_id
        projects, next_cursor = await repository.page_projects(self.pool, member=member, request=paging)
        pairs = []
        for project in projects:
            role = Role.OWNER if subject.admin else subject.role_in(project.id)
            if role is not None:
                pairs.append((project, role))
        return pairs, next_cursor

    # --- members ----------------------------------------------------------------------------------------------

    async def put_member(
        self, actor: Actor, identity: Identity, subject: Subject, user_id: str, role: Role
    ) -> tuple[Member, bool]:
        """Adds an existing user to the caller's current project or changes its role; True when it was added.

        Platform admins may add any user. Anybody else only a user they already share a project with (one they could
        list among some project's members anyway): any other user is not found, exactly like an id nobody has, so a
        user id tells an owner nothing about the platform's other users."""
        project_id = identity.project_id
        async with self.pool.acquire() as conn, conn.transaction():
            await repository.lock_memberships(conn, project_id)
            if identity.admin:
                user = await repository.get_user(conn, user_id)
            else:
                user = await repository.get_user_in(conn, user_id, subject.projects())
            if user is None:
                raise NotFound(f"User {user_id} not found.")
            before = await repository.get_member(conn, project_id, user_id)
            if before is not None and before.role is role:
                return before, False
            if before is not None and before.role is Role.OWNER:
                await self._keep_an_owner(conn, project_id)
            await repository.upsert_member(conn, project_id, user_id, role)
            event: EventPayload = (
                MemberAdded(user_id=user_id, role=role.value, actor=actor.principal)
                if before is None
                else MemberChanged(
                    user_id=user_id, role=role.value, previous_role=before.role.value, actor=actor.principal
                )
            )
            await _publish(conn, actor, project_id, event)
            member = await repository.get_member(conn, project_id, user_id)
        assert member is not None
        self._on_change()
        return member, before is None

    async def remove_member(self, actor: Actor, project_id: str, user_id: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await repository.lock_memberships(conn, project_id)
            member = await repository.get_member(conn, project_id, user_id) if _is_uuid(user_id) else None
            if member is None:
                raise NotFound(f"User {user_id} is not a member of project {project_id}.")
            if member.role is Role.OWNER:
                await self._keep_an_owner(conn, project_id)
            await repository.delete_member(conn, project_id, user_id)
            await _publish(
                conn, actor, project_id, MemberRemoved(user_id=user_id, role=member.role.value, actor=actor.principal)
            )
        self._on_change()

    @staticmethod
    async def _keep_an_owner(conn: Connection, project_id: str) -> None:
        if await repository.count_owners(conn, project_id) <= 1:
            raise Conflict(f"This is the last owner of project {project_id}; make another member owner first.")

    async def get_member(self, project_id: str, user_id: str) -> Member:
        member = await repository.get_member(self.pool, project_id, user_id) if _is_uuid(user_id) else None
        if member is None:
            raise NotFound(f"User {user_id} is not a member of project {project_id}.")
        return member

    async def list_members(
        self, project_id: str, *, role: Role | None, paging: PageRequest
    ) -> tuple[list[Member], str | None]:
        return await repository.page_members(self.pool, project_id, role=role, request=paging)

    # --- API keys ---------------------------------------------------------------------------------------------

    async def create_api_key(
        self,
        actor: Actor,
        identity: Identity,
        subject: Subject,
        *,
        name: str,
        role: Role | None,
        expires_in_days: int,
        admin: bool,
    ) -> NewApiKey:
        """A key for the caller's current project, owned by the caller's user (a key's owner when a key creates
        it). It may do no more than the caller; an admin key (admins only) is bound to no project."""
        if admin and not identity.admin:
            raise Forbidden("Only platform admins may create admin keys.")
        role = Role.OWNER if admin else (role or identity.role)
        if not identity.admin and not role_at_most(role, identity.role):
            raise Forbidden(
                f"Your role in project {identity.project_id} is {identity.role.value}; a key may not have more.",
                role=identity.role.value,
            )
        secret = new_api_key()
        expires_at = datetime.now(UTC) + timedelta(days=expires_in_days)
        async with self.pool.acquire() as conn, conn.transaction():
            record = await repository.insert_api_key(
                conn,
                key_id=str(uuid.uuid4()),
                name=name,
                key_hash=secret_hash(secret),
                prefix=display_prefix(secret),
                user_id=subject.user_id,
                project_id=None if admin else identity.project_id,
                role=role,
                admin=admin,
                expires_at=expires_at,
            )
            await _publish(conn, actor, _key_scope(record), api_key_created(record, actor))
        log.info("API key %s created by %s", record.id, actor.principal)
        return NewApiKey(record, secret)

    async def get_api_key(self, identity: Identity, key_id: str) -> ApiKey:
        return _visible(await repository.get_api_key(self.pool, key_id), identity, key_id)

    async def revoke_api_key(self, actor: Actor, identity: Identity, key_id: str) -> ApiKey:
        """Revokes a key of the current project (or an admin key, for admins); revoking it again changes nothing."""
        async with self.pool.acquire() as conn, conn.transaction():
            before = _visible(await repository.get_api_key(conn, key_id, lock=True), identity, key_id)
            if before.revoked_at is not None:
                return before
            record = await repository.revoke_api_key(conn, key_id)
            await _publish(
                conn,
                actor,
                _key_scope(record),
                ApiKeyRevoked(key_id=record.id, name=record.name, actor=actor.principal),
            )
        self._on_change()
        log.info("API key %s revoked by %s", key_id, actor.principal)
        return record

    async def list_api_keys(
        self,
        identity: Identity,
        *,
        admin_keys: bool,
        user_id: str | None,
        revoked: bool | None,
        paging: PageRequest,
    ) -> tuple[list[ApiKey], str | None]:
        if admin_keys and not identity.admin:
            raise Forbidden("Only platform admins may list admin keys.")
        return await repository.page_api_keys(
            self.pool,
            project_id=None if admin_keys else identity.project_id,
            user_id=user_id,
            revoked=revoked,
            request=paging,
        )

    # --- who am I ---------------------------------------------------------------------------------------------

    async def me(self, subject: Subject, identity: Identity | None) -> Me:
        user = await repository.get_user(self.pool, subject.user_id) if subject.user_id else None
        key = await repository.get_api_key(self.pool, subject.key_id) if subject.key_id else None
        projects: list[tuple[Project, Role]] = []
        if subject.user_id is not None:
            for project, _ in await repository.user_projects(self.pool, subject.user_id):
                role = subject.role_in(project.id)
                if role is not None:
                    projects.append((project, role))
        if subject.bound_project is not None and not any(p.id == subject.bound_project for p, _ in projects):
            bound = await repository.get_project(self.pool, subject.bound_project)
            role = subject.role_in(subject.bound_project)
            if bound is not None and role is not None:
                projects.append((bound, role))
        return Me(subject, identity, user, key, projects)


def _key_scope(record: ApiKey) -> str:
    """Where a key's events are recorded: in its project, or for an admin key (bound to none, acting in every one)
    with the platform's events, whichever project the admin made or revoked it in."""
    return record.project_id if record.project_id is not None else PLATFORM_SCOPE


def api_key_created(record: ApiKey, actor: Actor) -> ApiKeyCreated:
    return ApiKeyCreated(
        key_id=record.id,
        name=record.name,
        role=record.role.value,
        admin=record.admin,
        bound=record.project_id is not None,
        user_id=record.user_id,
        expires_at=record.expires_at,
        actor=actor.principal,
    )


def _visible(key: ApiKey | None, identity: Identity, key_id: str) -> ApiKey:
    """A key of the caller's current project, or an admin key for a platform admin."""
    if key is not None and (key.project_id == identity.project_id or (key.project_id is None and identity.admin)):
        return key
    raise NotFound(f"API key {key_id} not found.")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
