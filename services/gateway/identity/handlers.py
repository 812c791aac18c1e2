"""The identity use cases of the platform's directory: users, projects, members, API keys, and who the caller is.

Every change commits together with its events in the gateway's outbox, and drops what this replica's authenticator
has cached (other replicas notice within their cache time). No password, hash or key reaches an event or a log line.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kernel.errors import Conflict, Forbidden, NotFound
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
)
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Identity, Role
from kernel.keyset import PageRequest
from kernel.unit_of_work import Transaction
from services.gateway.identity.domain import ApiKey, Member, Project, Subject, User, role_at_most, valid_project_id
from services.gateway.identity.passwords import PasswordHashing
from services.gateway.identity.ports import (
    ApiKeyRow,
    IdentityRepositories,
    IdentityUnitOfWork,
    MemberRepository,
    UserChange,
)
from services.gateway.identity.tokens import display_prefix, new_api_key, secret_hash

__all__ = ["SYSTEM", "Actor", "IdentityService", "Me", "NewApiKey", "api_key_created", "key_scope"]

log = logging.getLogger(__name__)

SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change (a principal, or `system`) and the correlation id its events carry."""

    principal: str
    correlation_id: str

    def emit(self, tx: Transaction[IdentityRepositories], scope: str, *payloads: EventPayload) -> None:
        """Queue the events of this actor's change, recorded in `scope` (a project, or the platform's)."""
        tx.emit_new(scope, *payloads, correlation_id=self.correlation_id)


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


class IdentityService:
    def __init__(
        self, uow: IdentityUnitOfWork, *, hashing: PasswordHashing, on_change: Callable[[], None] = lambda: None
    ) -> None:
        self._uow = uow
        self._hashing = hashing
        # Called after a change that may take rights away (this replica's authenticator forgets what it cached).
        self._on_change = on_change

    # --- users ------------------------------------------------------------------------------------------------

    async def create_user(self, actor: Actor, *, email: str, name: str, password: str, admin: bool) -> User:
        password_hash = await self._hashing.hash_async(password)
        async with self._uow.transaction() as tx:
            user = await tx.repos.users.insert(
                user_id=str(uuid.uuid4()), email=email, name=name, password_hash=password_hash, admin=admin
            )
            actor.emit(tx, PLATFORM_SCOPE, UserCreated(user_id=user.id, admin=admin, actor=actor.principal))
        log.info("user %s created by %s", user.id, actor.principal)
        return user

    async def get_user(self, user_id: str) -> User:
        async with self._uow.reading() as repos:
            user = await repos.users.get(user_id)
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
        password_hash = await self._hashing.hash_async(password) if password is not None else None
        async with self._uow.transaction() as tx:
            before = await tx.repos.users.lock(user_id)
            if before is None:
                raise NotFound(f"User {user_id} not found.")
            change = UserChange(name=name, password_hash=password_hash, admin=admin, disabled=disabled)
            after = await tx.repos.users.update(user_id, change)
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
                await tx.repos.refresh_tokens.revoke_user(user_id)
            if changed:
                update = UserUpdated(
                    user_id=user_id, changed=changed, admin=after.admin, disabled=after.disabled, actor=actor.principal
                )
                actor.emit(tx, PLATFORM_SCOPE, update)
        if changed:
            self._on_change()
            log.info("user %s changed by %s: %s", user_id, actor.principal, ", ".join(changed))
        return after

    async def list_users(
        self, *, email: str | None, admin: bool | None, disabled: bool | None, paging: PageRequest
    ) -> tuple[list[User], str | None]:
        async with self._uow.reading() as repos:
            return await repos.users.page(email=email, admin=admin, disabled=disabled, request=paging)

    # --- projects ---------------------------------------------------------------------------------------------

    async def create_project(self, actor: Actor, project_id: str, name: str) -> Project:
        async with self._uow.transaction() as tx:
            project = await tx.repos.projects.insert(project_id, name)
            # Made by an admin before the project has members: a fact of the platform's, not of the project's trail.
            actor.emit(tx, PLATFORM_SCOPE, ProjectCreated(project_id=project_id, name=name, actor=actor.principal))
        self._on_change()
        log.info("project %s created by %s", project_id, actor.principal)
        return project

    async def get_project(self, identity: Identity, subject: Subject, project_id: str) -> tuple[Project, Role]:
        """A project the caller may reach, and its role there; others are not found, like unknown ones."""
        role = Role.OWNER if identity.admin else subject.role_in(project_id)
        project = None
        if role is not None and valid_project_id(project_id):
            async with self._uow.reading() as repos:
                project = await repos.projects.get(project_id)
        if project is None or role is None:
            raise NotFound(f"Project {project_id} not found.", project_id=project_id)
        return project, role

    async def list_projects(
        self, subject: Subject, *, paging: PageRequest
    ) -> tuple[list[tuple[Project, Role]], str | None]:
        if not subject.admin and (subject.bound_project is not None or subject.user_id is None):
            if paging.cursor is not None or subject.bound_project is None:
                return [], None
            project, role = await self._bound_project(subject)
            return ([(project, role)] if project is not None and role is not None else []), None
        async with self._uow.reading() as repos:
            member = None if subject.admin else subject.user_id
            projects, next_cursor = await repos.projects.page(member=member, request=paging)
        pairs = []
        for project in projects:
            role = Role.OWNER if subject.admin else subject.role_in(project.id)
            if role is not None:
                pairs.append((project, role))
        return pairs, next_cursor

    async def _bound_project(self, subject: Subject) -> tuple[Project | None, Role | None]:
        """The project a key is bound to, and the key's role there."""
        assert subject.bound_project is not None
        async with self._uow.reading() as repos:
            project = await repos.projects.get(subject.bound_project)
        return project, subject.role_in(subject.bound_project)

    # --- members ----------------------------------------------------------------------------------------------

    async def put_member(
        self, actor: Actor, identity: Identity, subject: Subject, user_id: str, role: Role
    ) -> tuple[Member, bool]:
        """Adds an existing user to the caller's current project or changes its role; True when it was added.

        Platform admins may add any user. Anybody else only a user they already share a project with (one they could
        list among some project's members anyway): any other user is not found, exactly like an id nobody has, so a
        user id tells an owner nothing about the platform's other users."""
        project_id = identity.project_id
        async with self._uow.transaction() as tx:
            members = tx.repos.members
            await members.lock(project_id)
            if identity.admin:
                user = await tx.repos.users.get(user_id)
            else:
                user = await tx.repos.users.get_in(user_id, subject.projects())
            if user is None:
                raise NotFound(f"User {user_id} not found.")
            before = await members.get(project_id, user_id)
            if before is not None and before.role is role:
                return before, False
            if before is not None and before.role is Role.OWNER:
                await _keep_an_owner(members, project_id)
            await members.upsert(project_id, user_id, role)
            event: EventPayload = (
                MemberAdded(user_id=user_id, role=role.value, actor=actor.principal)
                if before is None
                else MemberChanged(
                    user_id=user_id, role=role.value, previous_role=before.role.value, actor=actor.principal
                )
            )
            actor.emit(tx, project_id, event)
            member = await members.get(project_id, user_id)
        assert member is not None
        self._on_change()
        return member, before is None

    async def remove_member(self, actor: Actor, project_id: str, user_id: str) -> None:
        async with self._uow.transaction() as tx:
            members = tx.repos.members
            await members.lock(project_id)
            member = await members.get(project_id, user_id)
            if member is None:
                raise NotFound(f"User {user_id} is not a member of project {project_id}.")
            if member.role is Role.OWNER:
                await _keep_an_owner(members, project_id)
            await members.delete(project_id, user_id)
            actor.emit(tx, project_id, MemberRemoved(user_id=user_id, role=member.role.value, actor=actor.principal))
        self._on_change()

    async def get_member(self, project_id: str, user_id: str) -> Member:
        async with self._uow.reading() as repos:
            member = await repos.members.get(project_id, user_id)
        if member is None:
            raise NotFound(f"User {user_id} is not a member of project {project_id}.")
        return member

    async def list_members(
        self, project_id: str, *, role: Role | None, paging: PageRequest
    ) -> tuple[list[Member], str | None]:
        async with self._uow.reading() as repos:
            return await repos.members.page(project_id, role=role, request=paging)

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
        async with self._uow.transaction() as tx:
            record = await tx.repos.api_keys.insert(
                ApiKeyRow(
                    key_id=str(uuid.uuid4()),
                    name=name,
                    key_hash=secret_hash(secret),
                    prefix=display_prefix(secret),
                    user_id=subject.user_id,
                    project_id=None if admin else identity.project_id,
                    role=role,
                    admin=admin,
                    expires_at=datetime.now(UTC) + timedelta(days=expires_in_days),
                )
            )
            actor.emit(tx, key_scope(record), api_key_created(record, actor))
        log.info("API key %s created by %s", record.id, actor.principal)
        return NewApiKey(record, secret)

    async def get_api_key(self, identity: Identity, key_id: str) -> ApiKey:
        async with self._uow.reading() as repos:
            return _visible(await repos.api_keys.get(key_id), identity, key_id)

    async def revoke_api_key(self, actor: Actor, identity: Identity, key_id: str) -> ApiKey:
        """Revokes a key of the current project (or an admin key, for admins); revoking it again changes nothing."""
        async with self._uow.transaction() as tx:
            before = _visible(await tx.repos.api_keys.lock(key_id), identity, key_id)
            if before.revoked_at is not None:
                return before
            record = await tx.repos.api_keys.revoke(key_id)
            actor.emit(tx, key_scope(record), ApiKeyRevoked(key_id=record.id, name=record.name, actor=actor.principal))
        self._on_change()
        log.info("API key %s revoked by %s", key_id, actor.principal)
        return record

    async def list_api_keys(
        self, identity: Identity, *, admin_keys: bool, user_id: str | None, revoked: bool | None, paging: PageRequest
    ) -> tuple[list[ApiKey], str | None]:
        if admin_keys and not identity.admin:
            raise Forbidden("Only platform admins may list admin keys.")
        project_id = None if admin_keys else identity.project_id
        async with self._uow.reading() as repos:
            return await repos.api_keys.page(project_id=project_id, user_id=user_id, revoked=revoked, request=paging)

    # --- who am I ---------------------------------------------------------------------------------------------

    async def me(self, subject: Subject, identity: Identity | None) -> Me:
        projects: list[tuple[Project, Role]] = []
        async with self._uow.reading() as repos:
            user = await repos.users.get(subject.user_id) if subject.user_id else None
            key = await repos.api_keys.get(subject.key_id) if subject.key_id else None
            if subject.user_id is not None:
                for project, _ in await repos.projects.of_user(subject.user_id):
                    role = subject.role_in(project.id)
                    if role is not None:
                        projects.append((project, role))
        if subject.bound_project is not None and not any(p.id == subject.bound_project for p, _ in projects):
            bound, role = await self._bound_project(subject)
            if bound is not None and role is not None:
                projects.append((bound, role))
        return Me(subject, identity, user, key, projects)


async def _keep_an_owner(members: MemberRepository, project_id: str) -> None:
    if await members.count_owners(project_id) <= 1:
        raise Conflict(f"This is the last owner of project {project_id}; make another member owner first.")


def key_scope(record: ApiKey) -> str:
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
