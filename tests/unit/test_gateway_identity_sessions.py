"""Logins on in-memory repositories: logging in, refresh token rotation and reuse, logging out; the seeding at start;
and the authenticator's reads on the request path (cached, and never in a transaction)."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher

from kernel.crypto import Keyring
from kernel.errors import Unauthenticated
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Identity, Role
from kernel.unit_of_work import FakeUnitOfWork
from services.gateway.identity import bootstrap, sessions
from services.gateway.identity.authenticator import Authenticator
from services.gateway.identity.domain import Subject, UserGrant, user_subject
from services.gateway.identity.handlers import Actor, IdentityService
from services.gateway.identity.passwords import PasswordHashing
from services.gateway.identity.ports import IdentityRepositories
from services.gateway.identity.sessions import Sessions, TokenPair
from services.gateway.identity.tokens import AccessTokens, TokenExpired, secret_hash
from tests.clock import FakeClock
from tests.fakes.identity import fake_identity, tables

HASHING = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
PASSWORD = "a long passphrase"
REFRESH_TTL = 3600
ADMIN = Actor("user:admin", "cid-admin")
WRONG = "The email or the password is wrong."


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(time.time())
        self.uow: FakeUnitOfWork[IdentityRepositories] = fake_identity(self.clock)
        self.forgotten = 0
        self.tokens = AccessTokens(b"k" * 32, ttl=900)
        self.sessions = Sessions(
            self.uow,
            hashing=HASHING,
            tokens=self.tokens,
            refresh_ttl=REFRESH_TTL,
            on_change=self.forget,
            keyring=Keyring("renewals-secret-key-0123456789abcdef"),
        )
        self.service = IdentityService(self.uow, hashing=HASHING, on_change=self.forget)
        self.authenticator = Authenticator(self.uow, self.tokens, cache_seconds=0.5, clock=self.clock)

    def forget(self) -> None:
        self.forgotten += 1
        self.authenticator.forget()

    async def user(self, email: str = "ana@example.com") -> str:
        user = await self.service.create_user(ADMIN, email=email, name="Ana", password=PASSWORD, admin=False)
        async with self.uow.transaction() as tx:
            await tx.repos.members.upsert("default", user.id, Role.OPERATOR)
        return user.id

    async def subject(self, pair: TokenPair) -> Subject:
        return await self.authenticator.subject(f"Bearer {pair.access_token}")


@pytest.fixture
def world() -> World:
    return World()


# --- logging in --------------------------------------------------------------------------------------------------


async def test_the_right_password_starts_a_login_whose_access_token_names_it(world: World) -> None:
    ana = await world.user()
    pair = await world.sessions.login("ANA@example.com", PASSWORD)

    claims = world.tokens.verify(pair.access_token)
    [row] = tables(world.uow).refresh.values()
    assert (claims.user_id, claims.session_id) == (ana, row.family_id)
    assert (row.user_id, row.used_at, row.revoked_at) == (ana, None, None)
    assert secret_hash(pair.refresh_token) in tables(world.uow).refresh
    assert pair.expires_in == 900
    assert (await world.subject(pair)).user_id == ana


@pytest.mark.parametrize(
    ("email", "password"), [("ana@example.com", "not the passphrase"), ("nobody@example.com", PASSWORD)]
)
async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    world: World, email: str, password: str
) -> None:
    await world.user()
    with pytest.raises(Unauthenticated) as caught:
        await world.sessions.login(email, password)
    assert caught.value.detail == WRONG
    assert tables(world.uow).refresh == {}


async def test_a_disabled_user_cannot_log_in(world: World) -> None:
    ana = await world.user()
    await world.service.update_user(ADMIN, ana, disabled=True)
    with pytest.raises(Unauthenticated) as caught:
        await world.sessions.login("ana@example.com", PASSWORD)
    assert caught.value.detail == WRONG


async def test_a_login_rehashes_a_password_hashed_at_an_older_cost(world: World) -> None:
    ana = await world.user()
    older = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=16, parallelism=1)).hash(PASSWORD)
    async with world.uow.transaction() as tx:
        await tx.repos.users.set_password_hash(ana, older)

    await world.sessions.login("ana@example.com", PASSWORD)

    stored = tables(world.uow).password_hashes[ana]
    assert stored != older and not HASHING.needs_rehash(stored) and HASHING.verify(stored, PASSWORD)


# --- refreshing ----------------------------------------------------------------------------------------------------


async def test_a_refresh_token_works_once_and_its_successor_carries_the_login_on(world: World) -> None:
    await world.user()
    first = await world.sessions.login("ana@example.com", PASSWORD)
    second = await world.sessions.refresh(first.refresh_token)
    third = await world.sessions.refresh(second.refresh_token)

    sessions = {world.tokens.verify(p.access_token).session_id for p in (first, second, third)}
    assert len(sessions) == 1
    rows = tables(world.uow).refresh
    assert rows[secret_hash(first.refresh_token)].used_at is not None
    assert rows[secret_hash(third.refresh_token)].used_at is None
    assert world.forgotten == 0


async def test_a_refresh_token_used_twice_ends_the_whole_login(world: World) -> None:
    await world.user()
    first = await world.sessions.login("ana@example.com", PASSWORD)
    second = await world.sessions.refresh(first.refresh_token)
    assert (await world.subject(second)).user_id is not None

    with pytest.raises(Unauthenticated):
        await world.sessions.refresh(first.refresh_token)  # leaked and replayed

    assert all(row.revoked_at is not None for row in tables(world.uow).refresh.values())
    assert world.forgotten == 1
    with pytest.raises(Unauthenticated):
        await world.sessions.refresh(second.refresh_token)
    with pytest.raises(Unauthenticated, match="has ended"):
        await world.subject(second)


async def test_the_same_renewal_with_the_same_key_answers_the_same_successor_within_the_grace(world: World) -> None:
    await world.user()
    key = "k" * 43
    first = await world.sessions.login("ana@example.com", PASSWORD)

    renewed = await world.sessions.refresh(first.refresh_token, key)
    again = await world.sessions.refresh(first.refresh_token, key)  # a second replica, at once

    assert again.refresh_token == renewed.refresh_token and again.access_token != first.access_token
    assert (await world.subject(again)).user_id is not None
    sealed = tables(world.uow).refresh[secret_hash(first.refresh_token)].successor
    assert sealed is not None and renewed.refresh_token.encode() not in sealed
    # The successor goes on as any refresh token: used once, then kept only for the grace.
    later = await world.sessions.refresh(renewed.refresh_token, key)
    world.clock.advance(sessions.RENEWAL_GRACE + 1)
    await world.sessions.refresh(later.refresh_token, key)
    assert tables(world.uow).refresh[secret_hash(first.refresh_token)].successor is None
    assert world.forgotten == 0


@pytest.mark.parametrize("key", [None, "o" * 43], ids=["without a key", "with another key"])
async def test_a_renewal_repeated_without_its_key_ends_the_login(world: World, key: str | None) -> None:
    await world.user()
    first = await world.sessions.login("ana@example.com", PASSWORD)
    await world.sessions.refresh(first.refresh_token, "k" * 43)

    with pytest.raises(Unauthenticated):
        await world.sessions.refresh(first.refresh_token, key)

    assert all(row.revoked_at is not None for row in tables(world.uow).refresh.values())


async def test_a_renewal_repeated_after_the_grace_ends_the_login(world: World) -> None:
    await world.user()
    first = await world.sessions.login("ana@example.com", PASSWORD)
    await world.sessions.refresh(first.refresh_token, "k" * 43)
    world.clock.advance(sessions.RENEWAL_GRACE + 1)

    with pytest.raises(Unauthenticated):
        await world.sessions.refresh(first.refresh_token, "k" * 43)

    assert all(row.revoked_at is not None for row in tables(world.uow).refresh.values())


async def test_an_expired_or_unknown_refresh_token_is_refused(world: World) -> None:
    await world.user()
    pair = await world.sessions.login("ana@example.com", PASSWORD)
    with pytest.raises(Unauthenticated):
        await world.sessions.refresh("clr_never-issued")
    world.clock.advance(REFRESH_TTL)
    with pytest.raises(Unauthenticated):
        await world.sessions.refresh(pair.refresh_token)


async def test_a_disabled_user_cannot_refresh(world: World) -> None:
    ana = await world.user()
    pair = await world.sessions.login("ana@example.com", PASSWORD)
    await world.service.update_user(ADMIN, ana, disabled=True)
    with pytest.raises(Unauthenticated):
        await world.sessions.refresh(pair.refresh_token)


async def test_a_new_password_ends_the_logins_and_their_access_tokens(world: World) -> None:
    ana = await world.user()
    pair = await world.sessions.login("ana@example.com", PASSWORD)
    await world.service.update_user(ADMIN, ana, password="another long passphrase")

    with pytest.raises(Unauthenticated):
        await world.sessions.refresh(pair.refresh_token)
    with pytest.raises(Unauthenticated, match="has ended"):
        await world.subject(pair)
    assert (await world.sessions.login("ana@example.com", "another long passphrase")).access_token


# --- logging out ---------------------------------------------------------------------------------------------------


async def test_logging_out_ends_the_login_and_its_access_tokens(world: World) -> None:
    await world.user()
    pair = await world.sessions.login("ana@example.com", PASSWORD)
    other = await world.sessions.login("ana@example.com", PASSWORD)
    ana = await world.subject(pair)

    await world.sessions.logout(ana, pair.refresh_token)

    with pytest.raises(Unauthenticated, match="has ended"):
        await world.subject(pair)
    with pytest.raises(Unauthenticated):
        await world.sessions.refresh(pair.refresh_token)
    assert (await world.subject(other)).user_id == ana.user_id  # the other login goes on
    assert world.forgotten == 1


async def test_somebody_elses_refresh_token_logs_nobody_out(world: World) -> None:
    await world.user()
    await world.user("bob@example.com")
    anas = await world.sessions.login("ana@example.com", PASSWORD)
    bob = await world.subject(await world.sessions.login("bob@example.com", PASSWORD))

    await world.sessions.logout(bob, anas.refresh_token)
    await world.sessions.logout(bob, "clr_never-issued")

    assert await world.subject(anas)
    assert world.forgotten == 0


# --- the authenticator's reads ---------------------------------------------------------------------------------


async def test_authentication_reads_without_a_transaction_and_caches_what_it_read(world: World) -> None:
    ana = await world.user()
    created = await world.service.create_api_key(
        ADMIN,
        *_in_default(user_subject(UserGrant(ana, False, {"default": Role.OPERATOR}))),
        name="ci",
        role=None,
        expires_in_days=1,
        admin=False,
    )
    transactions = world.uow.committed + world.uow.rolled_back
    reads = tables(world.uow).reads

    subject, identity = await world.authenticator.authenticate(f"Bearer {created.key}", None)
    assert (subject.key_id, identity.project_id, identity.role) == (created.record.id, "default", Role.OPERATOR)
    assert tables(world.uow).reads == reads + 2  # the key, then its owner
    await world.authenticator.authenticate(f"Bearer {created.key}", None)
    assert tables(world.uow).reads == reads + 2
    assert world.uow.committed + world.uow.rolled_back == transactions

    await world.service.revoke_api_key(ADMIN, identity, created.record.id)  # forgets the cache
    with pytest.raises(Unauthenticated):
        await world.authenticator.authenticate(f"Bearer {created.key}", None)


async def test_an_expired_key_and_a_disabled_owners_key_fail(world: World) -> None:
    ana = await world.user()
    owner = user_subject(UserGrant(ana, False, {"default": Role.OPERATOR}))
    created = await world.service.create_api_key(
        ADMIN, *_in_default(owner), name="ci", role=None, expires_in_days=1, admin=False
    )
    # The key's day is counted from the wall clock; the authenticator reads the test's.
    world.clock.advance(86_400 + 60)
    with pytest.raises(TokenExpired):
        await world.authenticator.subject(f"Bearer {created.key}")
    world.clock.advance(-86_400 - 60)
    await world.service.update_user(ADMIN, ana, disabled=True)
    with pytest.raises(Unauthenticated):
        await world.authenticator.subject(f"Bearer {created.key}")


def _in_default(subject: Subject) -> tuple[Identity, Subject]:
    role = subject.role_in("default")
    assert role is not None
    return Identity(subject.principal, "default", role), subject


# --- seeding at start ----------------------------------------------------------------------------------------------


async def test_the_admin_token_becomes_an_admin_key_once(world: World) -> None:
    await bootstrap.seed_admin_token(world.uow, "first-admin-token-0123")
    await bootstrap.seed_admin_token(world.uow, "first-admin-token-0123")

    [key] = tables(world.uow).keys.values()
    assert (key.name, key.admin, key.project_id, key.user_id, key.role) == (
        bootstrap.ADMIN_TOKEN_KEY_NAME,
        True,
        None,
        None,
        Role.OWNER,
    )
    assert key.prefix == ""  # nothing of a token a person chose
    assert [(e.type, e.project_id) for e in world.uow.events] == [("api_key.created", PLATFORM_SCOPE)]
    assert tables(world.uow).locks.count("seeding") == 2
    subject = await world.authenticator.subject("Bearer first-admin-token-0123")
    assert subject.admin


async def test_a_new_admin_token_replaces_the_old_key_and_a_revoked_one_stays_revoked(world: World) -> None:
    await bootstrap.seed_admin_token(world.uow, "first-admin-token-0123")
    await bootstrap.seed_admin_token(world.uow, "second-admin-token-0123")

    keys = sorted(tables(world.uow).keys.values(), key=lambda k: k.created_at)
    assert [k.revoked_at is not None for k in keys] == [True, False]
    assert [e.type for e in world.uow.events] == ["api_key.created", "api_key.revoked", "api_key.created"]
    assert {e.project_id for e in world.uow.events} == {PLATFORM_SCOPE}

    identity, subject = _admin()
    await world.service.revoke_api_key(ADMIN, identity, keys[1].id)
    await bootstrap.seed_admin_token(world.uow, "second-admin-token-0123")
    assert all(k.revoked_at is not None for k in tables(world.uow).keys.values())
    created = await world.service.create_api_key(
        ADMIN, identity, subject, name="x", role=None, expires_in_days=1, admin=True
    )
    with pytest.raises(RuntimeError, match="another API key"):
        await bootstrap.seed_admin_token(world.uow, created.key)


def _admin() -> tuple[Identity, Subject]:
    subject = user_subject(UserGrant("admin", True, {}))
    return Identity("user:admin", "default", Role.OWNER, admin=True), subject


async def test_the_first_admin_user_owns_default_and_is_made_once(world: World) -> None:
    await bootstrap.seed_admin_user(world.uow, HASHING, "root@example.com", PASSWORD)
    await bootstrap.seed_admin_user(world.uow, HASHING, "ROOT@example.com", "another long passphrase")

    [user] = tables(world.uow).users.values()
    assert user.admin and user.email == "root@example.com"
    assert tables(world.uow).roles[("default", user.id)][0] is Role.OWNER
    assert [(e.type, e.project_id, e.causation_id) for e in world.uow.events] == [
        ("user.created", PLATFORM_SCOPE, None),
        ("member.added", "default", None),
    ]
    assert (await world.sessions.login("root@example.com", PASSWORD)).access_token
