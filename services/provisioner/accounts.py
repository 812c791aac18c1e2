"""Cloud accounts' secrets: which settings of each adapter are secret, keeping them out of `config`, and sealing them
(`kernel.crypto`) bound to their account, so the database never holds them in the clear.

An account's adapter gets `config` and the opened credentials merged, in memory only, when it connects.
"""

from __future__ import annotations

import importlib
import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from adapters import registry
from kernel.crypto import CryptoError, Keyring, Sealed
from kernel.errors import Conflict, ValidationFailed
from services.provisioner.repository import CloudAccount

log = logging.getLogger(__name__)

# Driver -> the settings of its adapter that are secret: never in `config`, only in `credentials`. Besides these, a
# URL setting that carries a password (`qemu+ssh://user:pw@host/system`) is secret as a whole. A plugin adapter
# declares its own as `SECRET_FIELDS` (a frozenset) in the module of its factory.
SECRET_FIELDS: dict[str, frozenset[str]] = {
    "simcloud": frozenset(),
    "ec2": frozenset({"access_key_id", "secret_access_key", "session_token"}),
    "openstack": frozenset({"password"}),
    "xcp": frozenset({"password"}),
    "libvirt": frozenset(),
}


class CloudConnectionFailed(ValidationFailed):
    """The connection test of a new or changed account failed: nothing was stored."""

    code = "cloud_connection_failed"
    title = "Clanavi could not connect to the cloud with these settings"


class CloudInUse(Conflict):
    code = "cloud_in_use"
    title = "Clanavi still holds live resources in this cloud account"


class CredentialsUnreadable(Conflict):
    code = "cloud_credentials_unreadable"
    title = "No key the provisioner holds opens the cloud account's credentials"


class ConfiguredAccount(Conflict):
    code = "cloud_configured"
    title = "The cloud account comes from the provisioner's configuration"


class Misconfigured(Conflict):
    """The adapter refused the account's settings; `problems` are (setting, message) pairs, never a value."""

    def __init__(self, detail: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(detail)
        self.problems = problems


def new_cloud_id() -> str:
    return f"cld-{secrets.token_hex(5)}"


def secret_fields(driver: str) -> frozenset[str]:
    known = SECRET_FIELDS.get(driver)
    if known is not None:
        return known
    try:
        module = importlib.import_module(registry.module(driver).target.partition(":")[0])
        declared: object = getattr(module, "SECRET_FIELDS", frozenset())
    except Exception:  # noqa: BLE001 - a plugin that does not load declares nothing; connecting it reports why
        return frozenset()
    if isinstance(declared, frozenset | set | tuple | list):
        return frozenset(str(name) for name in declared)
    return frozenset()


def _url_with_password(value: Any) -> bool:
    if not isinstance(value, str) or "://" not in value:
        return False
    try:
        return urlsplit(value).password is not None
    except ValueError:
        return False


def is_secret(driver: str, name: str, value: Any) -> bool:
    return name in secret_fields(driver) or _url_with_password(value)


def split(driver: str, config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`config` without its secrets, and the secrets."""
    plain = {k: v for k, v in config.items() if not is_secret(driver, k, v)}
    return plain, {k: v for k, v in config.items() if k not in plain}


def check(driver: str, config: Mapping[str, Any], credentials: Mapping[str, Any], *, where: str = "body") -> None:
    """Refuse (422) a secret in `config`, and anything in `credentials` that is not a secret of the adapter."""
    problems = []
    for name in sorted(config):
        if is_secret(driver, name, config[name]):
            problems.append(
                {"location": f"{where}.config.{name}", "message": f"{name} is a secret: send it in `credentials`"}
            )
    for name in sorted(credentials):
        if name in config:
            problems.append({"location": f"{where}.credentials.{name}", "message": f"{name} is in `config` too"})
        elif not is_secret(driver, name, credentials[name]):
            problems.append(
                {
                    "location": f"{where}.credentials.{name}",
                    "message": f"{name} is not a secret of the {driver} adapter: send it in `config`",
                }
            )
    if problems:
        fields = ", ".join(p["location"].rsplit(".", 1)[1] for p in problems)
        raise ValidationFailed(
            f"Secrets go in `credentials`, which is stored encrypted and never shown; everything else in `config` "
            f"({fields}).",
            errors=problems,
        )


def _record_id(cloud_id: str) -> str:
    return f"provisioner.clouds/{cloud_id}"


def seal(keyring: Keyring, cloud_id: str, credentials: Mapping[str, Any]) -> tuple[bytes | None, str | None]:
    """The sealed credentials and the key id, for the account's row (None, None when there are none)."""
    if not credentials:
        return None, None
    sealed = keyring.seal(json.dumps(dict(credentials), sort_keys=True).encode(), record_id=_record_id(cloud_id))
    return sealed.to_bytes(), sealed.key_id


def open_credentials(keyring: Keyring | None, account: CloudAccount) -> dict[str, Any]:
    """The account's credentials in the clear; raises CredentialsUnreadable (409)."""
    if account.credentials is None:
        return {}
    try:
        if keyring is None:
            raise CryptoError("this process holds no key")
        plain = keyring.open(Sealed.from_bytes(account.credentials), record_id=_record_id(account.id))
    except CryptoError as exc:
        raise CredentialsUnreadable(
            f"Cloud {account.id}'s credentials cannot be read ({exc}). Set them again (PATCH /v1/clouds/{account.id} "
            "with `credentials`), or give the provisioner the key they were sealed with in "
            "CLANAVI_SECRET_KEY_PREVIOUS.",
            cloud_id=account.id,
        ) from None
    opened: dict[str, Any] = json.loads(plain)
    return opened


def readable(keyring: Keyring | None, account: CloudAccount) -> bool:
    """Whether a key of the keyring sealed the credentials (without opening them)."""
    return account.credentials_key_id is None or (keyring is not None and keyring.knows(account.credentials_key_id))


def rewrap(keyring: Keyring, account: CloudAccount) -> bytes:
    """The account's credentials with their data key wrapped by the current key; raises CryptoError."""
    assert account.credentials is not None
    sealed = keyring.rewrap(Sealed.from_bytes(account.credentials), record_id=_record_id(account.id))
    return sealed.to_bytes()


def scrub(text: str, credentials: Mapping[str, Any]) -> str:
    """`text` (a cloud's error message, say) with every credential value in it blanked out."""
    for value in credentials.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "[redacted]")
    return text


def shown_config(account: CloudAccount) -> dict[str, Any]:
    """The settings an answer may show: never a secret, even one stored before secrets were split out."""
    return split(account.driver, account.config)[0]


__all__ = [
    "SECRET_FIELDS",
    "CloudConnectionFailed",
    "CloudInUse",
    "ConfiguredAccount",
    "CredentialsUnreadable",
    "Misconfigured",
    "check",
    "is_secret",
    "new_cloud_id",
    "open_credentials",
    "readable",
    "rewrap",
    "scrub",
    "seal",
    "secret_fields",
    "shown_config",
    "split",
]
