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
    # The consumer's transactions at once, and the deliveries each handles together: a batch's resources are rated
    # with the same few statements whatever its size, so few large batches cost far less than many small ones, and two
    # keep the database busy while the other batch is being rated. The deliveries taken from the broker at once (the
    # kernel's CLANAVI_CONSUMER_PREFETCH for the services without a setting of their own) keep both batches full.
    consumer_transactions: int = Field(default=2, ge=1, le=64)
    consumer_batch: int = Field(default=500, ge=1, le=5000)
    consumer_prefetch: int = Field(default=1000, ge=1, le=1000)
