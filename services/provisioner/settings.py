from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class ProvisionerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLANAVI_PROVISIONER_", extra="ignore")

    port: int = Field(default=8081, ge=1, le=65535)
    # How often transitional instances are checked with their cloud, and idle action queues polled.
    follow_interval: float = Field(default=0.25, gt=0, le=60)
    # Cloud calls in flight at once.
    concurrency: int = Field(default=8, ge=1, le=256)
    # Failed cloud calls are retried this many times before the instance is marked failed.
    max_attempts: int = Field(default=5, ge=1, le=50)
    # The built-in SimCloud account `sim`: transition times in seconds.
    sim_boot_seconds: float = Field(default=3.0, ge=0)
    sim_stop_seconds: float = Field(default=2.0, ge=0)
    sim_start_seconds: float = Field(default=2.0, ge=0)
    sim_reboot_seconds: float = Field(default=2.0, ge=0)
    sim_terminate_seconds: float = Field(default=1.0, ge=0)

    def sim_config(self) -> dict[str, float]:
        return {
            "boot_seconds": self.sim_boot_seconds,
            "stop_seconds": self.sim_stop_seconds,
            "start_seconds": self.sim_start_seconds,
            "reboot_seconds": self.sim_reboot_seconds,
            "terminate_seconds": self.sim_terminate_seconds,
        }
