"""Headers that vouch for a caller as the gateway does, for tests that call a service directly."""

from __future__ import annotations

from kernel.identity import IDENTITY_HEADER, Identity, IdentitySigner, Role
from tests.conftest import INTERNAL_KEY

# Long-lived: some tests build their headers once, when their module is imported.
_signer = IdentitySigner(INTERNAL_KEY.encode(), ttl=24 * 3600)


def identity_headers(project: str, role: Role = Role.OWNER, *, admin: bool = False) -> dict[str, str]:
    return {IDENTITY_HEADER: _signer.sign(Identity(f"user:test-{project}", project, role, admin=admin))}
