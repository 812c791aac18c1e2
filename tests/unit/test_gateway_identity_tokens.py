"""Access tokens, opaque secrets and password hashing."""

from __future__ import annotations

import hashlib
import time
import uuid

import jwt
import pytest
from argon2 import PasswordHasher

from kernel.errors import Unauthenticated
from kernel.identity import Identity, IdentitySigner, Role
from services.gateway.identity.passwords import PasswordHashing
from services.gateway.identity.tokens import (
    ACCESS_AUDIENCE,
    AccessTokens,
    TokenExpired,
    derive_key,
    display_prefix,
    looks_like_jwt,
    new_api_key,
    new_refresh_token,
    secret_hash,
)

KEY = b"unit-internal-key-0123456789abcdef0123"
USER = str(uuid.uuid4())
SESSION = str(uuid.uuid4())


def tokens(*, ttl: int = 900, at: float | None = None) -> AccessTokens:
    return AccessTokens(KEY, ttl=ttl, clock=(lambda: at) if at is not None else time.time)


def forge(claims: dict[str, object], key: bytes | None = None) -> str:
    """A token signed with the access-token key (or `key`) holding exactly `claims`."""
    now = int(time.time())
    full = {
        "sub": USER,
        "sid": SESSION,
        "aud": ACCESS_AUDIENCE,
        "typ": "access",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
        **claims,
    }
    return jwt.encode(
        {k: v for k, v in full.items() if v is not None}, key or derive_key(KEY, b"clanavi gateway access token v1")
    )


def test_an_issued_token_verifies_to_its_user() -> None:
    issued = tokens().issue(USER, SESSION)

    claims = tokens().verify(issued)

    assert claims.user_id == USER and claims.session_id == SESSION
    assert looks_like_jwt(issued)
    decoded = jwt.decode(issued, options={"verify_signature": False})
    assert decoded["typ"] == "access" and decoded["aud"] == "clanavi-api"
    assert decoded["exp"] - decoded["iat"] == 900 and decoded["jti"]


def test_every_token_has_its_own_id() -> None:
    issuer = tokens()
    ids = {jwt.decode(issuer.issue(USER, SESSION), options={"verify_signature": False})["jti"] for _ in range(5)}
    assert len(ids) == 5


def test_an_expired_token_says_so() -> None:
    expired = tokens(ttl=60, at=time.time() - 3600).issue(USER, SESSION)

    with pytest.raises(TokenExpired) as caught:
        tokens().verify(expired)

    assert "expired" in caught.value.detail
    assert caught.value.code == "unauthenticated" and caught.value.http_status == 401


def test_a_remembered_token_still_expires() -> None:
    # Issued half a second ago for two seconds: it expires within 1.5 s, and not before it is first verified.
    token = tokens(ttl=2, at=time.time() - 0.5).issue(USER, SESSION)
    issuer = tokens()
    issuer.verify(token)  # remembered from now on
    deadline = time.monotonic() + 4
    while True:
        try:
            issuer.verify(token)
        except TokenExpired:
            break
        assert time.monotonic() < deadline, "a remembered token outlived its exp"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: t.split(".")[0] + "." + t.split(".")[1][:-1] + "." + t.split(".")[2],  # payload
        lambda t: t + "x",
    ],
)
def test_a_tampered_token_is_invalid(mangle: object) -> None:
    token = tokens().issue(USER, SESSION)
    assert callable(mangle)

    with pytest.raises(Unauthenticated) as caught:
        tokens().verify(mangle(token))

    assert not isinstance(caught.value, TokenExpired)
    assert caught.value.detail == "The access token is not valid."


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "clanavi-internal"},
        {"aud": "somebody-else"},
        {"typ": "refresh"},
        {"typ": None},
        {"jti": None},
        {"iat": None},
        {"sub": "not-a-uuid"},
        {"sid": None},
        {"sid": "not-a-uuid"},
    ],
)
def test_a_token_with_other_claims_is_invalid(claims: dict[str, object]) -> None:
    with pytest.raises(Unauthenticated) as caught:
        tokens().verify(forge(claims))
    assert caught.value.detail == "The access token is not valid."


def test_the_forge_helper_makes_valid_tokens() -> None:
    assert tokens().verify(forge({})).user_id == USER


def test_a_token_signed_with_the_internal_key_itself_is_invalid() -> None:
    with pytest.raises(Unauthenticated):
        tokens().verify(forge({}, key=KEY))


def test_an_internal_identity_token_is_no_access_token() -> None:
    internal = IdentitySigner(KEY).sign(Identity(f"user:{USER}", "default", Role.OWNER, admin=True))

    with pytest.raises(Unauthenticated):
        tokens().verify(internal)


def test_another_platforms_tokens_are_invalid() -> None:
    other = AccessTokens(b"another-internal-key-0123456789abcdef", ttl=900).issue(USER, SESSION)
    with pytest.raises(Unauthenticated):
        tokens().verify(other)


def test_none_algorithm_is_refused() -> None:
    unsigned = jwt.encode(
        {"sub": USER, "aud": ACCESS_AUDIENCE, "typ": "access", "iat": 1, "exp": 2**40, "jti": "j"},
        "",
        algorithm="none",
    )
    with pytest.raises(Unauthenticated):
        tokens().verify(unsigned)


def test_keys_and_refresh_tokens_are_random_prefixed_and_no_jwts() -> None:
    keys = {new_api_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key.startswith("clk_") and len(key) >= 4 + 43 and not looks_like_jwt(key)
    refresh = new_refresh_token()
    assert refresh.startswith("clr_") and not looks_like_jwt(refresh)


def test_secret_hash_is_sha256_hex() -> None:
    assert secret_hash("abc") == hashlib.sha256(b"abc").hexdigest()


def test_display_prefix_shows_nothing_of_a_chosen_token() -> None:
    key = new_api_key()
    assert display_prefix(key) == key[:8]
    assert display_prefix("my-own-admin-token-123") == ""


# --- passwords --------------------------------------------------------------------------------------------------

# Cheap parameters: these tests check behaviour, not cost.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def test_passwords_are_argon2id_and_verify() -> None:
    hashing = PasswordHashing(FAST)
    stored = hashing.hash("correct horse battery")

    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored
    assert hashing.verify(stored, "correct horse battery")
    assert not hashing.verify(stored, "correct horse batterY")
    assert not hashing.verify("not-a-hash", "correct horse battery")
    assert hashing.hash("correct horse battery") != stored, "every hash has its own salt"


def test_the_default_hasher_is_argon2id_at_rfc9106_cost() -> None:
    stored = PasswordHashing().hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_weaker_hashes_need_rehashing() -> None:
    assert PasswordHashing().needs_rehash(FAST.hash("x" * 12))
    assert not PasswordHashing(FAST).needs_rehash(FAST.hash("x" * 12))


async def test_an_unknown_user_costs_a_verification_too() -> None:
    hashing = PasswordHashing(FAST)
    assert not await hashing.verify_async(None, "whatever password")
    assert await hashing.verify_async(await hashing.hash_async("whatever password"), "whatever password")
