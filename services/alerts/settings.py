"""The alerts service's settings (environment prefix `CLANAVI_ALERTS_`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.networks import LOCAL_NETWORKS, Network, parse_networks
from kernel.settings import ServiceSettings

# The Standard Webhooks schedule: the waits before the 2nd, 3rd... attempt of a delivery (5 s, 5 m, 30 m, 2 h, 5 h,
# 10 h); a delivery still failing after the last is given up.
STANDARD_RETRIES = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)


class AlertsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLANAVI_ALERTS_", extra="ignore")

    port: int = Field(default=8086, ge=1, le=65535)
    # How often the evaluator judges what changes with time alone: a `for` that has elapsed, a metric gone quiet, an
    # event rate whose window moved on, a `keep_firing_for` that ran out.
    evaluate_interval_seconds: float = Field(default=1.0, ge=0.05, le=60)
    # How often the notifier looks for notification groups that are due and deliveries to retry (it is also woken at
    # once when an alert changes).
    notify_interval_seconds: float = Field(default=0.5, ge=0.02, le=60)
    retry_schedule_seconds: tuple[float, ...] = Field(default=STANDARD_RETRIES, min_length=1, max_length=20)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Networks a webhook may not lead into (services/alerts/channels/reach.py): empty allows every address.
    webhook_deny: str = LOCAL_NETWORKS
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = Field(default="alerts@clanavi.localhost", min_length=3, max_length=254)

    def webhook_deny_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.webhook_deny)
