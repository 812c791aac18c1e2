"""The provisioner's settings (`CLANAVI_PROVISIONER_*`), the cloud accounts it serves among them.

`CLANAVI_PROVISIONER_CLOUDS` is a JSON list of accounts, `[{"id", "name", "driver", "config", "enabled"}]`, created
or updated at start beside the built-in SimCloud account `sim`; `CLANAVI_PROVISIONER_SIM_OPTIONS` is a JSON object
merged into `sim`'s configuration (any SimCloud setting, for example `{"rate_limit_per_second": 20}`). Invalid JSON,
an unknown driver or a repeated id stops the service at start with a message naming the setting; an account whose
adapter module cannot be loaded here (its SDK's extra is not installed) is left as it is stored, with a warning.
Secret fields of a configured account (its adapter class's `secret_fields`) may stand in its `config` or in its
`credentials`: either way they are stored encrypted, never in the account's configuration.

`CLANAVI_SECRET_KEY` (at least 32 characters) encrypts cloud credentials at rest; the provisioner does not start
without it. `CLANAVI_SECRET_KEY_PREVIOUS` (comma-separated) lists keys it replaced: credentials sealed with one of them
are still read, and rewrapped with the current key at start (or by `clanavi service rotate-keys provisioner`).

`CLANAVI_PROVISIONER_ENDPOINT_DENY` (comma-separated addresses or CIDR networks, checked at start) says where an
account added or changed through the API may not point. Every URL in its settings (EC2 `endpoint_url`, OpenStack
`auth_url`, XCP `url`, a libvirt `uri` with a host...) is resolved first, and refused with 422 naming the setting when
any of its addresses is in one of these networks, before anything connects. A URI that reaches this machine without a
network address (libvirt's `qemu:///system`, `+unix`, `+ext`, `?command=`) counts as 127.0.0.1 and ::1. By default
loopback, "this network", the unspecified addresses and link-local ones (cloud metadata services among them, and
EC2's IPv6 one) are denied; an empty value denies nothing (the tests' local stand-ins). Accounts from
`CLANAVI_PROVISIONER_CLOUDS` are the operator's and are not checked. Not covered: a name that resolves elsewhere by
the time the adapter connects (DNS rebinding: adapters connect later, by name), HTTP redirects the SDKs follow, and
the endpoints an OpenStack service catalogue names.
"""

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import SettingsConfigDict

from adapters import registry
from kernel.crypto import Keyring
from kernel.networks import LOCAL_NETWORKS, Network, parse_networks
from kernel.settings import ServiceSettings

# Pooled connections the worker leaves to everything else at its busiest (requests, the outbox relay, the follower,
# inventory syncs): each action in flight holds one only for its short claim and settle transactions, but at the
# same moments.
RESERVED_CONNECTIONS = 2

SIM_CLOUD_ID = "sim"
SIM_CLOUD_NAME = "SimCloud"
DEFAULT_ENDPOINT_DENY = LOCAL_NETWORKS


class ConfiguredCloud(BaseModel):
    """A cloud from configuration (CLANAVI_PROVISIONER_CLOUDS): secret fields may stand in `config` or in
    `credentials`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    driver: str
    config: dict[str, Any] = Field(default_factory=dict)
    # Secret fields (they may stand in `config` too); stored encrypted.
    credentials: dict[str, Any] = Field(default_factory=dict, repr=False)
    enabled: bool = True

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, driver: str) -> str:
        known = registry.modules()  # built-in adapters and installed plugins
        if driver not in known:
            raise ValueError(f"unknown driver {driver!r}; known drivers: {', '.join(sorted(known))}")
        return driver

    @field_validator("id")
    @classmethod
    def _not_sim(cls, cloud_id: str) -> str:
        if cloud_id == SIM_CLOUD_ID:
            raise ValueError(
                "`sim` is the built-in SimCloud account; configure it with CLANAVI_PROVISIONER_SIM_OPTIONS"
            )
        return cloud_id


class ProvisionerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLANAVI_PROVISIONER_", extra="ignore", validate_by_name=True)

    port: int = Field(default=8081, ge=1, le=65535)
    # How often transitional instances are checked with their cloud, and idle action queues polled.
    follow_interval: float = Field(default=0.25, gt=0, le=60)
    # How often the console of an instance whose boot scripts run is read, and how long after its launch was asked
    # for its boot is followed at most (then its outcome is `unknown`).
    boot_read_seconds: float = Field(default=5.0, gt=0, le=3600)
    boot_follow_seconds: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    # How often the command worker looks for commands a killed process held and replacements whose new instance
    # settled (a recorded command wakes it at once).
    command_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # How long a worker holds a command it carries out: a killed process's commands are taken again after this.
    command_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    # How often the running instances' latest metric samples are read from their clouds and published
    # (`metrics.sampled`); 0 turns sampling off.
    metrics_interval: float = Field(default=5.0, ge=0, le=3600)
    # Pushes of metric samples (`POST /v1/metrics`) each project may make a second, and at once; 0: no limit.
    metrics_push_rate: float = Field(default=10.0, ge=0, le=10_000)
    metrics_push_burst: int = Field(default=20, ge=1, le=100_000)
    # Cloud calls in flight at once.
    concurrency: int = Field(default=8, ge=1, le=256)
    # Script runs under way at once (each holds an SSH session, and a database connection only to write its output).
    run_concurrency: int = Field(default=10, ge=1, le=256)
    # Failed cloud calls are retried this many times before the instance is marked failed.
    max_attempts: int = Field(default=5, ge=1, le=50)
    # A cloud that only throttles is retried (with backoff) for this long after the action was asked for.
    throttle_budget_seconds: float = Field(default=600.0, gt=0, le=86_400)
    # The built-in SimCloud account `sim`: transition times in seconds.
    sim_boot_seconds: float = Field(default=3.0, ge=0)
    sim_stop_seconds: float = Field(default=2.0, ge=0)
    sim_start_seconds: float = Field(default=2.0, ge=0)
    sim_reboot_seconds: float = Field(default=2.0, ge=0)
    sim_terminate_seconds: float = Field(default=1.0, ge=0)
    # More of `sim`'s settings, merged over the times above (JSON object).
    sim_options: dict[str, Any] = Field(default_factory=dict)
    # Further cloud accounts (JSON list).
    clouds: list[ConfiguredCloud] = Field(default_factory=list)
    # Each enabled account is reconciled with its cloud this often (inventory sync); 0 turns the schedule off.
    sync_interval_seconds: float = Field(default=300.0, ge=0, le=7 * 86_400)
    # How long a new or changed account's connection test may take before it counts as failed.
    connection_test_seconds: float = Field(default=20.0, gt=0, le=300)
    # How long a launch waits for an owner's approval before it lapses (rejected).
    approval_wait_hours: float = Field(default=72.0, gt=0, le=90 * 24)
    # Networks an account added through the API may not point at (see the module's docstring).
    endpoint_deny: str = DEFAULT_ENDPOINT_DENY

    @field_validator("clouds")
    @classmethod
    def _distinct_ids(cls, clouds: list[ConfiguredCloud]) -> list[ConfiguredCloud]:
        ids = [c.id for c in clouds]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"cloud ids must be distinct; repeated: {', '.join(repeated)}")
        return clouds

    @field_validator("clouds")
    @classmethod
    def _distinct_names(cls, clouds: list[ConfiguredCloud]) -> list[ConfiguredCloud]:
        # Names are unique per project, and every configured account belongs to the same one.
        names = [c.name for c in clouds] + [SIM_CLOUD_NAME]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"cloud names must be distinct (`{SIM_CLOUD_NAME}` is the built-in account's); "
                f"repeated: {', '.join(repeated)}"
            )
        return clouds

    @field_validator("endpoint_deny")
    @classmethod
    def _networks(cls, value: str) -> str:
        try:
            parse_networks(value)
        except ValueError as exc:
            raise ValueError(f"comma-separated addresses or CIDR networks expected: {exc}") from None
        return value

    def keyring(self) -> Keyring:
        """The keys of cloud credentials (CLANAVI_SECRET_KEY, shared by every replica); raises ValueError naming the
        variable when one is missing or too short."""
        return self.kernel.keyring()

    def startup_checks(self) -> list[Callable[[], object]]:
        return [*super().startup_checks(), self.keyring, self.check_concurrency]

    def check_concurrency(self) -> None:
        """Refuse (ValueError naming the settings) a worker that could take every connection of the pool."""
        pool = self.kernel.db_pool_max
        if self.concurrency > pool - RESERVED_CONNECTIONS:
            raise ValueError(
                f"CLANAVI_PROVISIONER_CONCURRENCY={self.concurrency} needs more database connections than "
                f"CLANAVI_DB_POOL_MAX={pool} leaves it: at most {pool - RESERVED_CONNECTIONS} actions can be in "
                f"flight while {RESERVED_CONNECTIONS} connections stay free for requests and the outbox relay; lower "
                "the one or raise the other"
            )

    def endpoint_deny_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.endpoint_deny)

    def configured_clouds(self) -> list[ConfiguredCloud]:
        """The built-in `sim`, then the clouds of CLANAVI_PROVISIONER_CLOUDS."""
        # Built, not validated: the validators keep `sim` out of the configured list.
        sim = ConfiguredCloud.model_construct(
            id=SIM_CLOUD_ID, name=SIM_CLOUD_NAME, driver="simcloud", config=self.sim_config(), credentials={}
        )
        return [sim, *self.clouds]

    def sim_config(self) -> dict[str, Any]:
        return {
            "boot_seconds": self.sim_boot_seconds,
            "stop_seconds": self.sim_stop_seconds,
            "start_seconds": self.sim_start_seconds,
            "reboot_seconds": self.sim_reboot_seconds,
            "terminate_seconds": self.sim_terminate_seconds,
            **self.sim_options,
        }
