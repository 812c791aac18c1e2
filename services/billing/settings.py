"""The billing service's settings (environment prefix `CLANAVI_BILLING_`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLANAVI_BILLING_", extra="ignore")

    port: int = Field(default=8085, ge=1, le=65535)
    # How often the pass that rates the hours ended of resources still billed looks for them; an hour is rated at
    # most this long after it ends (a lifecycle event rates its resource at once).
    rating_interval_seconds: float = Field(default=30, ge=0.05, le=3600)
