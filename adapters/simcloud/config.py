"""A SimCloud account's settings: how long things take, what the account may use, and how it misbehaves.

Durations are in simulated seconds; `speedup` says how many simulated seconds pass per real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from adapters.simcloud import keys, load, machine

_Seconds = Annotated[float, Field(ge=0, le=86_400)]


class GuestSsh(BaseModel):
    """Where the account's guests answer SSH: one real OpenSSH server (devstack's `sshd`) stands for every guest.
    A guest launched with a public key (its key pair's, or a `#cloud-config` part's `ssh_authorized_keys`) gets it
    appended to `authorized_keys_file`, as cloud-init would, and its console prints `host_keys` as cloud-init does.
    Operator-only: it names a file this process writes, so an account added through the API may not set it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, max_length=255)
    port: int = Field(ge=1, le=65535)
    # The account the server logs in (an sshd that is not root logs in only as itself).
    user: str = Field(min_length=1, max_length=64)
    # OpenSSH public key lines, or paths of `.pub` files (read at connect).
    host_keys: list[str] = Field(min_length=1, max_length=8)
    authorized_keys_file: str = Field(min_length=1)

    @field_validator("host_keys")
    @classmethod
    def _read_files(cls, given: list[str]) -> list[str]:
        lines = []
        for item in given:
            try:
                text = Path(item).read_text().strip() if item.startswith("/") else item.strip()
            except OSError:
                raise ValueError(f"cannot read host key file {item}") from None
            keys.parse_public(text)
            lines.append(text)
        return lines


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
    # Reported by `quotas` (None: no limit); launches are held to the two above.
    max_ram_mb: int | None = Field(default=None, ge=0)
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
    # Simulated seconds between two metric samples of an instance (CloudWatch's basic monitoring: 60; detailed: 1
    # to 10, for a scaler to react within seconds without a speedup).
    metrics_period_seconds: float = Field(default=60.0, ge=1, le=3600)
    # Guests reachable over SSH (None: they are not).
    guest_ssh: GuestSsh | None = None

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
