"""A cloud's secrets at rest: sealed (`kernel.crypto`, envelope encryption) and bound to their cloud, so the database
never holds them in the clear, and a ciphertext moved to another row opens nowhere.

A cloud's adapter gets `config` and the opened credentials merged, in memory only, when it connects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kernel.crypto import CryptoError, Keyring, Sealed
from services.provisioner.clouds.domain import Cloud, CredentialsUnreadable


def _record_id(cloud_id: str) -> str:
    return f"provisioner.clouds/{cloud_id}"


def seal(keyring: Keyring, cloud_id: str, credentials: Mapping[str, Any]) -> tuple[bytes | None, str | None]:
    """The sealed credentials and the key id, for the cloud's row (None, None when there are none)."""
    if not credentials:
        return None, None
    sealed = keyring.seal(json.dumps(dict(credentials), sort_keys=True).encode(), record_id=_record_id(cloud_id))
    return sealed.to_bytes(), sealed.key_id


def open_credentials(keyring: Keyring | None, cloud: Cloud) -> dict[str, Any]:
    """The cloud's credentials in the clear; raises CredentialsUnreadable (409)."""
    if cloud.credentials is None:
        return {}
    try:
        if keyring is None:
            raise CryptoError("this process holds no key")
        plain = keyring.open(Sealed.from_bytes(cloud.credentials), record_id=_record_id(cloud.id))
    except CryptoError as exc:
        raise CredentialsUnreadable(
            f"Cloud {cloud.id}'s credentials cannot be read ({exc}). Set them again (PATCH /v1/clouds/{cloud.id} "
            "with `credentials`), or give the provisioner the key they were sealed with in "
            "CLANAVI_SECRET_KEY_PREVIOUS.",
            cloud_id=cloud.id,
        ) from None
    opened: dict[str, Any] = json.loads(plain)
    return opened


def readable(keyring: Keyring | None, cloud: Cloud) -> bool:
    """Whether a key of the keyring sealed the credentials (without opening them)."""
    return cloud.credentials_key_id is None or (keyring is not None and keyring.knows(cloud.credentials_key_id))


def rewrap(keyring: Keyring, cloud: Cloud) -> bytes:
    """The cloud's credentials with their data key wrapped by the current key; raises CryptoError."""
    assert cloud.credentials is not None
    sealed = keyring.rewrap(Sealed.from_bytes(cloud.credentials), record_id=_record_id(cloud.id))
    return sealed.to_bytes()


def scrub(text: str, credentials: Mapping[str, Any]) -> str:
    """`text` (a cloud's error message, say) with every credential value in it blanked out."""
    for value in credentials.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "[redacted]")
    return text


__all__ = ["open_credentials", "readable", "rewrap", "scrub", "seal"]
