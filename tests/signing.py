"""Headers that vouch for a caller as the gateway does, for tests that call a service directly."""

from __future__ import annotations

from kernel.identity import IDENTITY_HEADER, Identity, IdentitySigner, Role
from tests.conftest import INTERNAL_KEY

_signer = IdentitySigner(INTERNAL_KEY.encode())


def identity_headers(project: str, role: Role = Role.OWNER, *, admin: bool = False) -> dict[str, str]:
    return {IDENTITY_HEADER: _signer.sign(Identity(f"user:test-{project}", project, role, admin=admin))}
