"""The audit service's settings (environment prefix `CLANAVI_AUDIT_`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLANAVI_AUDIT_", extra="ignore")

    port: int = Field(default=8082, ge=1, le=65535)
