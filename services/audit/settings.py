"""The audit service's settings (environment prefix `CLANAVI_AUDIT_`)."""

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from kernel.audit_trail import load_private_key
from kernel.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLANAVI_AUDIT_", extra="ignore")

    port: int = Field(default=8082, ge=1, le=65535)
    # The Ed25519 key the digests are signed with: PKCS#8 PEM, or its 32 raw bytes in base64 (a k8s Secret in a
    # cluster; `make run` generates one). Unset, a key is made at each start and lives in memory only: digests made
    # before a restart then verify only against the public key each of them carries.
    signing_key: SecretStr | None = None
    # How often the chain's end is signed (a digest is made only when records were added since the last one).
    digest_interval_seconds: float = Field(default=300.0, gt=0)
    # Records older than this are removed, up to the newest one a digest vouches for; unset keeps them forever.
    retention_days: int | None = Field(default=None, ge=1)
    retention_interval_seconds: float = Field(default=3600.0, gt=0)

    @field_validator("signing_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None  # set but empty (compose passes an unset variable so): as if unset
        if value is not None:
            load_private_key(value.get_secret_value())  # its ValueError says what is wrong
        return value
