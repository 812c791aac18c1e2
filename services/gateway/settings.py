"""The gateway's settings (environment prefix `CLANAVI_GATEWAY_`; the admin token is `CLANAVI_ADMIN_TOKEN`)."""

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from kernel.networks import parse_networks
from kernel.settings import ServiceSettings, check_url


def _http_url(url: str) -> str:
    return check_url(url, ("http", "https"))


# A plain string, checked: pydantic's URL types would hand the upstream client a changed URL (a trailing slash).
HttpUrl = Annotated[str, AfterValidator(_http_url)]


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLANAVI_GATEWAY_", extra="ignore", populate_by_name=True)

    port: int = Field(default=8080, ge=1, le=65535)
    provisioner_url: HttpUrl = "http://127.0.0.1:8081"
    audit_url: HttpUrl = "http://127.0.0.1:8082"
    scaler_url: HttpUrl = "http://127.0.0.1:8083"
    failover_url: HttpUrl = "http://127.0.0.1:8084"
    billing_url: HttpUrl = "http://127.0.0.1:8085"
    alerts_url: HttpUrl = "http://127.0.0.1:8086"
    # When set, an admin API key whose value is exactly this token exists (stored hashed); changing the variable
    # replaces that key at the next start. `make run` generates one.
    admin_token: SecretStr | None = Field(default=None, validation_alias="CLANAVI_ADMIN_TOKEN", min_length=16)
    # Both set: the gateway creates this platform admin (owner of `default`) at start unless the email is taken.
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=60, le=365 * 86_400)
    # How long the gateway trusts what it read of an API key, a user and their memberships: a revoked key or a
    # disabled user stops working within this time on every replica.
    auth_cache_seconds: float = Field(default=0.5, ge=0, le=5)
    upstream_timeout: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Rate limits (requests per second, burst = bucket size; a rate of 0 turns the limit off), per gateway replica.
    rate_limit_per_ip: float = Field(default=100.0, ge=0)
    rate_limit_ip_burst: int = Field(default=200, ge=1)
    login_rate_per_ip: float = Field(default=5.0, ge=0)
    login_rate_burst: int = Field(default=10, ge=1)
    rate_limit_per_key: float = Field(default=50.0, ge=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    # Proxies whose X-Forwarded-For is believed: comma-separated addresses or CIDR networks (checked at start).
    trusted_proxies: str = ""
    # POST answers sent with an Idempotency-Key are kept this long; a claim is held for the lease, longer than any
    # request may take, and a repeat waits at most idempotency_wait_seconds for the first to finish.
    idempotency_ttl_hours: int = Field(default=24, ge=24)
    idempotency_lease_seconds: float = Field(default=60.0, gt=0)
    idempotency_wait_seconds: float = Field(default=30.0, gt=0)

    # How often the API calls seen are written to the outbox for the audit: a gateway killed outright loses at most
    # this long of calls (a normal stop writes them all).
    api_calls_flush_seconds: float = Field(default=0.25, gt=0, le=60)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # its ValueError names the address that is not one
        return value

    def startup_checks(self) -> list[Callable[[], object]]:
        # Stored answers that carry secrets are sealed with the secret key.
        return [*super().startup_checks(), self.kernel.keyring]
