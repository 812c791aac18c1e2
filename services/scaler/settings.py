"""The scaler's settings (environment prefix `CLANAVI_SCALER_`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class ScalerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLANAVI_SCALER_", extra="ignore")

    port: int = Field(default=8083, ge=1, le=65535)
    # How often the reconcile loop repairs desired vs actual, fires scheduled actions and ends timed-out hooks.
    reconcile_seconds: float = Field(default=5.0, gt=0, le=300)
    # The pause after a failed launch, doubling with each failure in a row, up to the maximum.
    backoff_base_seconds: float = Field(default=10.0, gt=0, le=3600)
    backoff_max_seconds: float = Field(default=600.0, gt=0, le=86_400)
    # How long a group's history of desired / actual / metric is kept.
    history_hours: float = Field(default=24.0, gt=0, le=24 * 90)
    # A group's history gets a point at most this often (and whenever its desired or actual capacity moves).
    history_seconds: float = Field(default=10.0, ge=0, le=3600)
    # The consumer's transactions at once, and the deliveries each handles together (its metric samples make one
    # decision per group): few large batches cost far less than many small ones (a batch's statements are the same
    # whatever its size), and two keep the database busy while the other batch is being decided. The deliveries taken
    # at once (the kernel's CLANAVI_CONSUMER_PREFETCH for the other services) keep both batches full.
    consumer_transactions: int = Field(default=2, ge=1, le=64)
    consumer_batch: int = Field(default=32, ge=1, le=1000)
    consumer_prefetch: int = Field(default=256, ge=1, le=1000)
