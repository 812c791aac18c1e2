"""What the gateway seeds at start, so a new platform can be used at all: the admin key of `CLANAVI_ADMIN_TOKEN`
and the first admin user. Replicas starting together take turns (an advisory lock) and seed once."""

from __future__ import annotations

import logging
import uuid

from kernel import outbox
from kernel.db import Connection
from kernel.events import ApiKeyRevoked, MemberAdded, UserCreated, new_event
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Role
from services.gateway.identity import repository
from services.gateway.identity.domain import DEFAULT_PROJECT
from services.gateway.identity.handlers import SYSTEM, Actor, IdentityService, api_key_created
from services.gateway.identity.tokens import display_prefix, secret_hash

__all__ = ["ADMIN_TOKEN_KEY_NAME", "seed_admin_token", "seed_admin_user"]

log = logging.getLogger(__name__)

# The name of the admin key whose value is CLANAVI_ADMIN_TOKEN: at most one such key is active.
ADMIN_TOKEN_KEY_NAME = "CLANAVI_ADMIN_TOKEN"  # noqa: S105 - a name, not a secret


async def _lock(conn: Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gateway-bootstrap:' || current_schema()))")


def _actor() -> Actor:
    return Actor(SYSTEM, f"bootstrap-{uuid.uuid4()}")


async def seed_admin_token(service: IdentityService, token: str) -> None:
    """Makes `token` an admin API key bound to no project, replacing the key of an earlier value. A key an admin
    revoked stays revoked while the variable keeps its value."""
    digest = secret_hash(token)
    actor = _actor()
    async with service.pool.acquire() as conn, conn.transaction():
        await _lock(conn)
        current = None
        for key, key_hash in await repository.bootstrap_keys(conn, ADMIN_TOKEN_KEY_NAME):
            if key_hash == digest:
                current = key
            elif key.revoked_at is None:
                await repository.revoke_api_key(conn, key.id)
                event = ApiKeyRevoked(key_id=key.id, name=key.name, actor=SYSTEM)
                await outbox.add(conn, new_event(event, project_id=PLATFORM_SCOPE, correlation_id=actor.correlation_id))
                log.info("the admin key of an earlier CLANAVI_ADMIN_TOKEN is revoked")
        if current is not None:
            if current.revoked_at is not None:
                log.warning("the admin key of CLANAVI_ADMIN_TOKEN was revoked and stays so; set another token")
            return
        if await repository.key_hash_exists(conn, digest):
            raise RuntimeError("CLANAVI_ADMIN_TOKEN has the value of another API key; choose a new one")
        record = await repository.insert_api_key(
            conn,
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
        await outbox.add(
            conn,
            new_event(api_key_created(record, actor), project_id=PLATFORM_SCOPE, correlation_id=actor.correlation_id),
        )
    log.info("CLANAVI_ADMIN_TOKEN is admin key %s", record.id)


async def seed_admin_user(service: IdentityService, email: str, password: str) -> None:
    """Creates a platform admin with this email, owner of `default`, unless a user has the email already."""
    if await repository.user_login(service.pool, email) is not None:
        return
    password_hash = await service.hashing.hash_async(password)
    actor = _actor()
    async with service.pool.acquire() as conn, conn.transaction():
        await _lock(conn)
        if await repository.user_login(conn, email) is not None:
            return
        user = await repository.insert_user(
            conn, user_id=str(uuid.uuid4()), email=email, name="Administrator", password_hash=password_hash, admin=True
        )
        await repository.upsert_member(conn, DEFAULT_PROJECT, user.id, Role.OWNER)
        await outbox.add(
            conn,
            new_event(
                UserCreated(user_id=user.id, admin=True, actor=SYSTEM),
                project_id=PLATFORM_SCOPE,
                correlation_id=actor.correlation_id,
            ),
            new_event(
                MemberAdded(user_id=user.id, role=Role.OWNER.value, actor=SYSTEM),
                project_id=DEFAULT_PROJECT,
                correlation_id=actor.correlation_id,
            ),
        )
    log.info("admin user %s created for the bootstrap email", user.id)
