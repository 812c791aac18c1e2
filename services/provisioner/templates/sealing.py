"""Secrets at rest (`kernel.crypto`, the keyring that seals clouds' credentials): a template version's secret values,
user data rendered with secrets until the launch call takes it, a run's filled script until it runs, and each
project's SSH private key. Each ciphertext is bound to its record, so moved
to another row it opens nowhere."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from kernel.crypto import CryptoError, Keyring, Sealed
from kernel.errors import Conflict
from services.provisioner.templates.inputs import Value


def _values_id(template_id: str, version: int) -> str:
    return f"provisioner.templates/{template_id}/{version}"


def _user_data_id(instance_id: str) -> str:
    return f"provisioner.instances/{instance_id}/user_data"


def _keyring(keyring: Keyring | None) -> Keyring:
    if keyring is None:
        raise Conflict("This provisioner holds no key to seal or open secrets (CLANAVI_SECRET_KEY).")
    return keyring


def seal_values(keyring: Keyring | None, template_id: str, version: int, values: Mapping[str, Value]) -> bytes | None:
    if not values:
        return None
    plain = json.dumps(dict(values), sort_keys=True).encode()
    return _keyring(keyring).seal(plain, record_id=_values_id(template_id, version)).to_bytes()


def open_values(keyring: Keyring | None, template_id: str, version: int, sealed: bytes | None) -> dict[str, Value]:
    """The template version's secret values; raises Conflict (409) when no key of the keyring opens them."""
    if sealed is None:
        return {}
    try:
        plain = _keyring(keyring).open(Sealed.from_bytes(sealed), record_id=_values_id(template_id, version))
    except CryptoError:
        raise Conflict(
            f"Template {template_id} version {version}'s secret values cannot be read: no key of this provisioner "
            "opens them. Give it the key they were sealed with in CLANAVI_SECRET_KEY_PREVIOUS, or make a new version."
        ) from None
    opened: dict[str, Value] = json.loads(plain)
    return opened


def seal_user_data(keyring: Keyring | None, instance_id: str, data: bytes) -> str:
    """User data sealed for the instance's record, as text (its launch options are JSON)."""
    sealed = _keyring(keyring).seal(data, record_id=_user_data_id(instance_id))
    return base64.b64encode(sealed.to_bytes()).decode()


def open_user_data(keyring: Keyring | None, instance_id: str, text: str) -> bytes:
    """Raises CryptoError when no key opens it (the launch then fails, and says so)."""
    if keyring is None:
        raise CryptoError("this process holds no key")
    return keyring.open(Sealed.from_bytes(base64.b64decode(text)), record_id=_user_data_id(instance_id))


def _run_id(run_id: str) -> str:
    return f"provisioner.runs/{run_id}/script"


def _project_key_id(project_id: str) -> str:
    return f"provisioner.project_keys/{project_id}"


def seal_run(keyring: Keyring | None, run_id: str, body: str, secrets: list[str]) -> bytes:
    """A run's filled script and the secret values it was given (masked in its output), sealed for its record."""
    plain = json.dumps({"body": body, "secrets": secrets}).encode()
    return _keyring(keyring).seal(plain, record_id=_run_id(run_id)).to_bytes()


def open_run(keyring: Keyring | None, run_id: str, sealed: bytes) -> tuple[str, list[str]]:
    """Raises CryptoError when no key opens it."""
    if keyring is None:
        raise CryptoError("this process holds no key")
    opened = json.loads(keyring.open(Sealed.from_bytes(sealed), record_id=_run_id(run_id)))
    return str(opened["body"]), [str(s) for s in opened["secrets"]]


def seal_project_key(keyring: Keyring | None, project_id: str, private_key: str) -> bytes:
    return _keyring(keyring).seal(private_key.encode(), record_id=_project_key_id(project_id)).to_bytes()


def open_project_key(keyring: Keyring | None, project_id: str, sealed: bytes) -> str:
    """Raises CryptoError when no key opens it."""
    if keyring is None:
        raise CryptoError("this process holds no key")
    return keyring.open(Sealed.from_bytes(sealed), record_id=_project_key_id(project_id)).decode()


__all__ = [
    "open_project_key",
    "open_run",
    "open_user_data",
    "open_values",
    "seal_project_key",
    "seal_run",
    "seal_user_data",
    "seal_values",
]
