from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLANAVI_GATEWAY_", extra="ignore")

    port: int = Field(default=8080, ge=1, le=65535)
    provisioner_url: str = "http://127.0.0.1:8081"
    audit_url: str = "http://127.0.0.1:8082"
    # Until users and API keys exist, one admin token guards the API; `make run` generates it.
    admin_token: SecretStr = Field(validation_alias="CLANAVI_ADMIN_TOKEN", min_length=16)
    upstream_timeout: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
