"""A project's clouds (each a cloud account: an adapter module, its settings and its sealed credentials) and the
rules of their settings: which are secret (as the adapter class declares), and which go in `config`; no I/O."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from adapters import registry
from kernel.errors import Conflict, ValidationFailed
from kernel.events import CloudAdded, CloudUpdated

# The project the clouds from configuration (and the built-in `sim`) belong to.
CONFIGURED_PROJECT = "default"

Source = Literal["api", "configuration"]

# Record kind -> the name its count has in a `cloud_in_use` problem and a `cloud.removed` event.
PLURALS = {
    "key_pair": "key_pairs",
    "security_group": "security_groups",
    "volume": "volumes",
    "snapshot": "snapshots",
    "address": "addresses",
    "image": "images",
    "instances": "instances",
}


@dataclass(frozen=True)
class Cloud:
    id: str
    project_id: str
    name: str
    # The adapter module's name.
    driver: str
    # The adapter's settings without its secrets (those are in `credentials`).
    config: dict[str, Any]
    enabled: bool
    created_at: datetime
    # The sealed secret fields (`kernel.crypto.Sealed`, bound to the cloud: `credentials.open_credentials`).
    credentials: bytes | None = field(default=None, repr=False)
    credentials_key_id: str | None = None
    credential_fields: tuple[str, ...] = ()
    updated_at: datetime | None = None
    # "api", or "configuration" (CLANAVI_PROVISIONER_CLOUDS and the built-in `sim`).
    source: Source = "configuration"


class CloudConnectionFailed(
    ValidationFailed, code="cloud_connection_failed", title="Clanavi could not connect to the cloud with these settings"
):
    """The connection test of a new or changed cloud failed: nothing was stored."""


class CloudInUse(Conflict, code="cloud_in_use", title="Clanavi still holds live resources in this cloud account"): ...


class CredentialsUnreadable(
    Conflict,
    code="cloud_credentials_unreadable",
    title="No key the provisioner holds opens the cloud account's credentials",
): ...


class CloudConfigured(
    Conflict, code="cloud_configured", title="The cloud account comes from the provisioner's configuration"
): ...


class Misconfigured(Conflict):
    """The adapter refused the cloud's settings; `problems` are (setting, message) pairs, never a value."""

    def __init__(self, detail: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(detail)
        self.problems = problems


def new_cloud_id() -> str:
    return f"cld-{secrets.token_hex(5)}"


def secret_fields(driver: str) -> frozenset[str] | None:
    """The settings of the driver's adapter that are secret (its class's `secret_fields`): never in `config`, only in
    `credentials`. Besides these, a URL setting that carries a password (`qemu+ssh://user:pw@host/system`) is secret
    as a whole. None when the adapter cannot be loaded here: then no setting is known not to be secret."""
    try:
        return registry.adapter_class(driver).secret_fields
    except (registry.UnknownDriver, registry.Unavailable):
        return None


def _url_with_password(value: Any) -> bool:
    if not isinstance(value, str) or "://" not in value:
        return False
    try:
        return urlsplit(value).password is not None
    except ValueError:
        return False


def _secret(fields: frozenset[str] | None, name: str, value: Any) -> bool:
    return fields is None or name in fields or _url_with_password(value)


def is_secret(driver: str, name: str, value: Any) -> bool:
    return _secret(secret_fields(driver), name, value)


def split(driver: str, config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`config` without its secrets, and the secrets (all of it, when the adapter that would say cannot be loaded)."""
    fields = secret_fields(driver)
    plain = {k: v for k, v in config.items() if not _secret(fields, k, v)}
    return plain, {k: v for k, v in config.items() if k not in plain}


def check(driver: str, config: Mapping[str, Any], credentials: Mapping[str, Any], *, where: str = "body") -> None:
    """Refuse (422) a secret in `config`, and anything in `credentials` that is not a secret of the adapter."""
    problems = []
    fields = secret_fields(driver)
    for name in sorted(config):
        if _secret(fields, name, config[name]):
            problems.append(
                {"location": f"{where}.config.{name}", "message": f"{name} is a secret: send it in `credentials`"}
            )
    for name in sorted(credentials):
        if name in config:
            problems.append({"location": f"{where}.credentials.{name}", "message": f"{name} is in `config` too"})
        elif not _secret(fields, name, credentials[name]):
            problems.append(
                {
                    "location": f"{where}.credentials.{name}",
                    "message": f"{name} is not a secret of the {driver} adapter: send it in `config`",
                }
            )
    if problems:
        named = ", ".join(p["location"].rsplit(".", 1)[1] for p in problems)
        raise ValidationFailed(
            f"Secrets go in `credentials`, which is stored encrypted and never shown; everything else in `config` "
            f"({named}).",
            errors=problems,
        )


def about(cloud: Cloud) -> dict[str, Any]:
    """What every event of a cloud says of it."""
    return {"cloud_id": cloud.id, "name": cloud.name, "driver": cloud.driver, "project": cloud.project_id}


def added(cloud: Cloud) -> CloudAdded:
    """The event of a new cloud: names of its fields, never their values."""
    fields = list(cloud.credential_fields)
    return CloudAdded(**about(cloud), source=cloud.source, config_fields=sorted(cloud.config), credential_fields=fields)


def updated(cloud: Cloud, changed: list[str], config_fields: list[str], credential_fields: list[str]) -> CloudUpdated:
    """The event of a changed cloud: which fields changed, never their values."""
    return CloudUpdated(
        **about(cloud),
        source=cloud.source,
        changed=changed,
        config_fields=config_fields,
        credential_fields=credential_fields,
    )


def shown_config(cloud: Cloud) -> dict[str, Any]:
    """The settings an answer may show: never a secret, even one stored before secrets were split out (nothing, when
    the adapter that knows its secrets cannot be loaded here)."""
    return split(cloud.driver, cloud.config)[0]


__all__ = [
    "about",
    "added",
    "updated",
    "CONFIGURED_PROJECT",
    "PLURALS",
    "Cloud",
    "CloudConfigured",
    "CloudConnectionFailed",
    "CloudInUse",
    "CredentialsUnreadable",
    "Misconfigured",
    "Source",
    "check",
    "is_secret",
    "new_cloud_id",
    "secret_fields",
    "shown_config",
    "split",
]
