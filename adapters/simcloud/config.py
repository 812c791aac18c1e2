"""A SimCloud account's settings: how long things take, what the account may use, and how it misbehaves.

Durations are in simulated seconds; `speedup` says how many simulated seconds pass per real one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from adapters.simcloud import load, machine

_Seconds = Annotated[float, Field(ge=0, le=86_400)]


class SimCloudConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    boot_seconds: _Seconds = 3.0
    stop_seconds: _Seconds = 2.0
    start_seconds: _Seconds = 2.0
    reboot_seconds: _Seconds = 2.0
    terminate_seconds: _Seconds = 1.0
    image_seconds: _Seconds = 2.0
    volume_seconds: _Seconds = 1.0
    snapshot_seconds: _Seconds = 2.0
    # Attaching and detaching a volume each take this long.
    attach_seconds: _Seconds = 0.5

    # Capacity, counted over the account's instances that are not terminated.
    max_instances: int | None = Field(default=None, ge=0)
    max_vcpus: int | None = Field(default=None, ge=0)
    # API calls per second over every operation of the account; the burst is max(1, rate).
    rate_limit_per_second: float | None = Field(default=None, gt=0)
    # The share of launches whose instance fails at boot, decided by the client token.
    launch_failure_rate: float = Field(default=0.0, ge=0, le=1)
    speedup: float = Field(default=1.0, gt=0, le=1_000_000)

    # flavor id -> price per hour, in place of the catalogue's.
    prices: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    region: str = Field(default="sim-1", min_length=1, max_length=64)
    zones: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=lambda: ["sim-1a", "sim-1b"], min_length=1, max_length=26
    )
    # The CPU load profile of an instance launched without a `simcloud:load` tag.
    default_load: str = "steady:20"

    @field_validator("zones")
    @classmethod
    def _distinct_zones(cls, zones: list[str]) -> list[str]:
        if len(set(zones)) != len(zones):
            raise ValueError("zones must be distinct")
        return zones

    @field_validator("default_load")
    @classmethod
    def _valid_load(cls, profile: str) -> str:
        load.parse(profile)
        return profile

    def real_seconds(self, simulated: float) -> float:
        """How long `simulated` seconds last on the wall clock."""
        return simulated / self.speedup

    def timings(self) -> machine.Timings:
        """Instance transition times on the wall clock."""
        return machine.Timings(
            boot_seconds=self.real_seconds(self.boot_seconds),
            stop_seconds=self.real_seconds(self.stop_seconds),
            start_seconds=self.real_seconds(self.start_seconds),
            reboot_seconds=self.real_seconds(self.reboot_seconds),
            terminate_seconds=self.real_seconds(self.terminate_seconds),
        )
