"""The failover service's settings (environment prefix `CLANAVI_FAILOVER_`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class FailoverSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLANAVI_FAILOVER_", extra="ignore")

    port: int = Field(default=8084, ge=1, le=65535)
    # How often the watcher runs the probes that are due and judges the signals that may have gone quiet; a probe's
    # own interval is never shorter in effect than this.
    watch_interval_seconds: float = Field(default=0.5, ge=0.05, le=60)
