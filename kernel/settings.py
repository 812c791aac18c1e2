"""Configuration read from environment variables only (prefix `CLANAVI_`).

`read_settings` reads a service's settings and, when they cannot be used, raises `InvalidSettings` whose message is
one line naming each environment variable at fault (never echoing a secret's value).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from kernel.crypto import Keyring

DATABASE_SCHEMES = ("postgresql", "postgres")
AMQP_SCHEMES = ("amqp", "amqps")


class InvalidSettings(ValueError):
    """Settings a service cannot start with: `problems` has one phrase per variable at fault, each starting with the
    variable's name; the message is all of them on one line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(dict.fromkeys(problems))
        super().__init__("; ".join(self.problems))


def check_url(value: str, schemes: Sequence[str], *, host: bool = True) -> str:
    """`value` unchanged when it is a URL of one of `schemes` (with a host, unless `host` is false); a pydantic error
    otherwise."""
    parts = urlsplit(value)
    if not parts.scheme or any(c.isspace() for c in value) or (host and not parts.hostname):
        raise PydanticCustomError("url_parsing", "not a valid URL")
    if parts.scheme not in schemes:
        raise PydanticCustomError(
            "url_scheme", "URL scheme should be {expected_schemes}", {"expected_schemes": " or ".join(schemes)}
        )
    return value


class KernelSettings(BaseSettings):
    """Settings every service shares."""

    model_config = SettingsConfigDict(env_prefix="CLANAVI_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    # No defaults: the servers `make run` starts have generated passwords, and it passes their URLs in.
    database_url: SecretStr = Field(
        description="the PostgreSQL server's URL, postgresql://user:password@host:port/database (`make run` sets it)"
    )
    amqp_url: SecretStr = Field(
        description="the RabbitMQ server's URL, amqp://user:password@host:port/vhost (`make run` sets it)"
    )
    # Names of the exchanges and queues start with this; test runs use their own to stay apart.
    bus_prefix: str = Field(default="clanavi", pattern=r"^[a-z][a-z0-9_.-]{0,40}$")
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    # A message is dead-lettered after this many failed deliveries.
    max_deliveries: int = Field(default=5, ge=1, le=100)
    consumer_prefetch: int = Field(default=32, ge=1, le=1000)
    # The key the gateway signs callers' identities with and every service checks them with (32 bytes or more).
    # Services refuse to start without it: they trust nobody but the gateway.
    internal_key: SecretStr | None = None
    # Encrypts secrets at rest (cloud credentials in the provisioner, secret-bearing stored answers in the gateway),
    # each purpose under a key of its own derived from this one; previous keys (comma-separated) still open.
    secret_key: SecretStr | None = None
    secret_key_previous: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        # No host is fine: libpq then takes the Unix socket, or the `host` query parameter.
        check_url(value.get_secret_value(), DATABASE_SCHEMES, host=False)
        return value

    @field_validator("amqp_url")
    @classmethod
    def _amqp_url(cls, value: SecretStr) -> SecretStr:
        check_url(value.get_secret_value(), AMQP_SCHEMES)
        return value

    def keyring(self, *, purpose: str = "") -> Keyring:
        """The keys for secrets of `purpose`; raises ValueError naming the variable when one is missing or short."""
        if self.secret_key is None or not self.secret_key.get_secret_value():
            raise ValueError(
                "CLANAVI_SECRET_KEY is not set: secrets are encrypted at rest with it "
                "(generate one with `openssl rand -hex 32`)"
            )
        previous = self.secret_key_previous.get_secret_value() if self.secret_key_previous else ""
        old_keys = [k.strip() for k in previous.split(",") if k.strip()]
        try:
            Keyring(self.secret_key.get_secret_value(), purpose=purpose)
        except ValueError:
            raise ValueError("CLANAVI_SECRET_KEY must be at least 32 characters long") from None
        try:
            return Keyring(self.secret_key.get_secret_value(), old_keys, purpose=purpose)
        except ValueError:
            raise ValueError("each key in CLANAVI_SECRET_KEY_PREVIOUS must be at least 32 characters long") from None

    def internal_key_bytes(self) -> bytes:
        if self.internal_key is None or not self.internal_key.get_secret_value():
            raise ValueError(
                "CLANAVI_INTERNAL_KEY is not set: the gateway and the services share it to trust each other "
                "(generate one with `openssl rand -hex 32`)"
            )
        key = self.internal_key.get_secret_value().encode()
        if len(key) < 32:
            raise ValueError("CLANAVI_INTERNAL_KEY must be at least 32 characters long")
        return key


class ServiceSettings(BaseSettings):
    """Base for one service's own settings; subclasses set the env prefix `CLANAVI_<SERVICE>_`."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    kernel: KernelSettings = Field(default_factory=KernelSettings)

    def check(self) -> None:
        """Refuse (InvalidSettings naming each variable) what only shows when the service starts."""
        problems: list[str] = []
        for check in self.startup_checks():
            try:
                check()
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise InvalidSettings(problems)

    def startup_checks(self) -> list[Callable[[], object]]:
        """What the service calls at start that refuses missing or short keys (ValueError naming the variable)."""
        return [self.kernel.internal_key_bytes]


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def read_settings(cls: type[SettingsT]) -> SettingsT:
    """`cls` read from the environment; InvalidSettings naming every variable at fault, the kernel's included."""
    problems: list[str] = []
    kernel: KernelSettings | None = None
    # Read apart: a failing default factory would hide every problem of the service's own settings.
    try:
        kernel = KernelSettings()
    except (ValidationError, SourceError) as exc:
        problems += describe(KernelSettings, exc)
    try:
        settings = cls(kernel=kernel if kernel is not None else KernelSettings.model_construct())
    except (ValidationError, SourceError) as exc:
        problems += describe(cls, exc)
    if problems:
        raise InvalidSettings(problems)
    return settings


def describe(cls: type[BaseSettings], error: ValidationError | SourceError) -> list[str]:
    """One phrase per problem of `error`, raised reading `cls`, each starting with the variable's name."""
    if isinstance(error, SourceError):
        # pydantic-settings names the field only in its message: `error parsing value for field "x" from source ...`.
        field = str(error).partition('field "')[2].partition('"')[0]
        return [f"{_variable(cls, (field,))[0]} is not valid JSON" if field else str(error)]
    return [_phrase(cls, detail) for detail in error.errors(include_url=False)]


def _variable(cls: type[BaseSettings], loc: Sequence[int | str]) -> tuple[str, FieldInfo | None, str]:
    """The variable `loc` comes from, its field, and what `loc` names inside the variable's value."""
    if not loc:
        return "", None, ""
    head = loc[0]
    for name, field in cls.model_fields.items():
        aliases = {name, field.alias, field.validation_alias if isinstance(field.validation_alias, str) else None}
        if head not in aliases:
            continue
        nested = field.annotation
        if len(loc) > 1 and isinstance(nested, type) and issubclass(nested, BaseSettings):
            # A nested settings class (the services' `kernel`) reads variables of its own prefix.
            return _variable(nested, loc[1:])
        if isinstance(field.validation_alias, str):
            variable = field.validation_alias.upper()
        else:
            variable = f"{cls.model_config.get('env_prefix', '')}{name}".upper()
        inner = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:])
        return variable, field, inner
    return str(head), None, ""


def _admits(field: FieldInfo | None, kinds: tuple[type, ...]) -> bool:
    """True when the field's type is one of `kinds`, or an optional or union of one."""

    def admits(annotation: Any) -> bool:
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
            return any(admits(arg) for arg in typing.get_args(annotation))
        return isinstance(annotation, type) and issubclass(annotation, kinds)

    return field is not None and admits(field.annotation)


def _is_secret(field: FieldInfo | None) -> bool:
    # Unknown fields count as secret: their values are never echoed.
    return field is None or _admits(field, (SecretStr,))


def _is_text(field: FieldInfo | None) -> bool:
    return _admits(field, (str, SecretStr))


def _phrase(cls: type[BaseSettings], detail: ErrorDetails) -> str:
    variable, field, inner = _variable(cls, detail["loc"])
    kind, ctx, message = detail["type"], detail.get("ctx", {}), detail["msg"]
    if not variable:
        return message.removeprefix("Value error, ")  # a rule over several settings names them itself
    given = "" if kind == "missing" or _is_secret(field) else f": {detail['input']!r}"
    what = f"{variable}{inner}"
    if kind == "missing":
        hint = field.description if field is not None and not inner else None
        return f"{what} is not set" + (f": set it to {hint}" if hint else "")
    if variable.endswith("_PORT") and not inner:
        return f"{what} is not a valid port{given}"
    phrases = {
        "string_too_short": "must be at least {min_length} characters",
        "string_too_long": "must be at most {max_length} characters",
        "too_short": "must have at least {min_length} items",
        "too_long": "must have at most {max_length} items",
        "string_pattern_mismatch": "must match {pattern}",
        "greater_than_equal": "must be at least {ge}",
        "greater_than": "must be more than {gt}",
        "less_than_equal": "must be at most {le}",
        "less_than": "must be less than {lt}",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "bool_parsing": "must be true or false",
        "literal_error": "must be {expected}",
        "enum": "must be {expected}",
        "url_parsing": "is not a valid URL",
        "url_scheme": "must be a URL of scheme {expected_schemes}",
    }
    if kind == "too_short" and _is_text(field):
        kind = "string_too_short"  # a SecretStr's length is checked as a sequence's
    if kind == "too_long" and _is_text(field):
        kind = "string_too_long"
    if kind in phrases:
        try:
            phrase = phrases[kind].format(**ctx)
        except KeyError:
            phrase = message[:1].lower() + message[1:]
        return f"{what} {phrase}{given}"
    if kind == "value_error":
        return f"{what}: {message.removeprefix('Value error, ')}"
    return f"{what}: {message[:1].lower()}{message[1:]}{given}"


def problems_of(classes: Iterable[type[ServiceSettings]]) -> list[str]:
    """Every problem (deduplicated) that keeps one of `classes` from starting, their checks included."""
    problems: list[str] = []
    for cls in classes:
        try:
            read_settings(cls).check()
        except InvalidSettings as exc:
            problems += exc.problems
    return list(dict.fromkeys(problems))


__all__ = [
    "AMQP_SCHEMES",
    "DATABASE_SCHEMES",
    "InvalidSettings",
    "KernelSettings",
    "ServiceSettings",
    "check_url",
    "describe",
    "problems_of",
    "read_settings",
]
