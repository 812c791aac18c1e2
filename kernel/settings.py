"""Configuration read from environment variables only (prefix `CLANAVI_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.crypto import Keyring

DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:5442/clanavi"
DEV_AMQP_URL = "amqp://guest:guest@127.0.0.1:5682/"


class KernelSettings(BaseSettings):
    """Settings every service shares."""

    model_config = SettingsConfigDict(env_prefix="CLANAVI_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: SecretStr = SecretStr(DEV_DATABASE_URL)
    amqp_url: SecretStr = SecretStr(DEV_AMQP_URL)
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

    @model_validator(mode="after")
    def _no_dev_servers_in_production(self) -> KernelSettings:
        if self.env == "production":
            for name, value in (("CLANAVI_DATABASE_URL", self.database_url), ("CLANAVI_AMQP_URL", self.amqp_url)):
                if value.get_secret_value() in (DEV_DATABASE_URL, DEV_AMQP_URL):
                    raise ValueError(f"{name} must be set explicitly in production")
        return self


class ServiceSettings(BaseSettings):
    """Base for one service's own settings; subclasses set the env prefix `CLANAVI_<SERVICE>_`."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    kernel: KernelSettings = Field(default_factory=KernelSettings)
