"""What the gateway seeds at start, so a new platform can be used at all: the admin key of `CLANAVI_ADMIN_TOKEN`
and the first admin user. Replicas starting together take turns and seed once."""

from __future__ import annotations

import logging
import uuid

from kernel.events import ApiKeyRevoked, MemberAdded, UserCreated
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Role
from services.gateway.identity.domain import DEFAULT_PROJECT
from services.gateway.identity.handlers import SYSTEM, Actor, api_key_created
from services.gateway.identity.passwords import PasswordHashing
from services.gateway.identity.ports import ApiKeyRow, IdentityUnitOfWork
from services.gateway.identity.tokens import display_prefix, secret_hash

__all__ = ["ADMIN_TOKEN_KEY_NAME", "seed_admin_token", "seed_admin_user"]

log = logging.getLogger(__name__)

# The name of the admin key whose value is CLANAVI_ADMIN_TOKEN: at most one such key is active.
ADMIN_TOKEN_KEY_NAME = "CLANAVI_ADMIN_TOKEN"  # noqa: S105 - a name, not a secret


def _actor() -> Actor:
    return Actor(SYSTEM, f"bootstrap-{uuid.uuid4()}")


async def seed_admin_token(uow: IdentityUnitOfWork, token: str) -> None:
    """Makes `token` an admin API key bound to no project, replacing the key of an earlier value. A key an admin
    revoked stays revoked while the variable keeps its value."""
    digest = secret_hash(token)
    actor = _actor()
    async with uow.transaction() as tx:
        await tx.repos.lock_seeding()
        current = None
        for key, key_hash in await tx.repos.api_keys.unowned_admin_keys(ADMIN_TOKEN_KEY_NAME):
            if key_hash == digest:
                current = key
            elif key.revoked_at is None:
                await tx.repos.api_keys.revoke(key.id)
                actor.emit(tx, PLATFORM_SCOPE, ApiKeyRevoked(key_id=key.id, name=key.name, actor=SYSTEM))
                log.info("the admin key of an earlier CLANAVI_ADMIN_TOKEN is revoked")
        if current is not None:
            if current.revoked_at is not None:
                log.warning("the admin key of CLANAVI_ADMIN_TOKEN was revoked and stays so; set another token")
            return
        if await tx.repos.api_keys.hash_exists(digest):
            raise RuntimeError("CLANAVI_ADMIN_TOKEN has the value of another API key; choose a new one")
        record = await tx.repos.api_keys.insert(
            ApiKeyRow(
                key_id=str(uuid.uuid4()),
                name=ADMIN_TOKEN_KEY_NAME,
                key_hash=digest,
                prefix=display_prefix(token),
                user_id=None,
                project_id=None,
                role=Role.OWNER,
                admin=True,
                expires_at=None,
            )
        )
        actor.emit(tx, PLATFORM_SCOPE, api_key_created(record, actor))
    log.info("CLANAVI_ADMIN_TOKEN is admin key %s", record.id)


async def seed_admin_user(uow: IdentityUnitOfWork, hashing: PasswordHashing, email: str, password: str) -> None:
    """Creates a platform admin with this email, owner of `default`, unless a user has the email already."""
    async with uow.reading() as repos:
        if await repos.users.login(email) is not None:
            return
    # Hashed before the transaction: it takes tens of milliseconds, and the seeding lock is held until commit.
    password_hash = await hashing.hash_async(password)
    actor = _actor()
    async with uow.transaction() as tx:
        await tx.repos.lock_seeding()
        if await tx.repos.users.login(email) is not None:
            return
        user = await tx.repos.users.insert(
            user_id=str(uuid.uuid4()), email=email, name="Administrator", password_hash=password_hash, admin=True
        )
        await tx.repos.members.upsert(DEFAULT_PROJECT, user.id, Role.OWNER)
        actor.emit(tx, PLATFORM_SCOPE, UserCreated(user_id=user.id, admin=True, actor=SYSTEM))
        actor.emit(tx, DEFAULT_PROJECT, MemberAdded(user_id=user.id, role=Role.OWNER.value, actor=SYSTEM))
    log.info("admin user %s created for the bootstrap email", user.id)
