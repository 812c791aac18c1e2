"""The identity the gateway signs for the services: what verifies, what does not, and for how long."""

from __future__ import annotations

import time

import pytest

from kernel.errors import Forbidden, Unauthenticated
from kernel.identity import Identity, IdentitySigner, IdentityVerifier, Permission, Role

KEY = b"k" * 32
ALICE = Identity("user:alice", "alpha", Role.OPERATOR)


def test_a_signed_identity_verifies_and_a_checked_token_is_remembered() -> None:
    token = IdentitySigner(KEY).sign(ALICE)
    verifier = IdentityVerifier(KEY)
    assert verifier.verify(token) == ALICE
    assert verifier.verify(token) == ALICE


@pytest.mark.parametrize(
    "token",
    [None, "", "garbage", IdentitySigner(b"x" * 32).sign(ALICE)],
    ids=["missing", "empty", "garbage", "other-key"],
)
def test_anything_else_is_refused(token: str | None) -> None:
    with pytest.raises(Unauthenticated):
        IdentityVerifier(KEY).verify(token)


def test_a_remembered_token_still_expires() -> None:
    token = IdentitySigner(KEY, ttl=1).sign(ALICE)
    verifier = IdentityVerifier(KEY)
    assert verifier.verify(token) == ALICE
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            verifier.verify(token)
        except Unauthenticated:
            return
        time.sleep(0.1)
    pytest.fail("an expired identity token was still accepted")


def test_roles_grant_their_permissions_and_admins_everything() -> None:
    viewer = Identity("user:v", "alpha", Role.VIEWER)
    assert viewer.can(Permission.READ) and not viewer.can(Permission.OPERATE)
    with pytest.raises(Forbidden):
        viewer.require(Permission.OPERATE)
    assert ALICE.can(Permission.OPERATE) and not ALICE.can(Permission.MANAGE)
    owner = Identity("user:o", "alpha", Role.OWNER)
    assert owner.can(Permission.MANAGE) and not owner.can(Permission.ADMIN)
    with pytest.raises(Forbidden):
        owner.require(Permission.ADMIN)
    assert Identity("key:root", "alpha", Role.OWNER, admin=True).can(Permission.ADMIN)
