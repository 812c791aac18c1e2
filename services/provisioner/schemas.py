"""The provisioner's API contract (the gateway serves the same models in its OpenAPI); the models of the other
resources are in `resources.schemas`, the page of every listing is the kernel's (`kernel.pagination.Page`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

# Also imported from here by the gateway's listings.
from kernel.pagination import Page as Page
from services.provisioner.blocks.schemas import LaunchBlockOut
from services.provisioner.placement.schemas import PlacementOut, PlacementPolicyIn, RequirementsIn

T = TypeVar("T")

InstanceStateName = Literal[
    "requested",
    "pending",
    "running",
    "stopping",
    "stopped",
    "starting",
    "rebooting",
    "suspending",
    "suspended",
    "resuming",
    "terminating",
    "terminated",
    "error",
    "gone",
    "awaiting_approval",
    "rejected",
]

# Most bytes of user data (a boot script) a launch may carry, as UTF-8.
MAX_USER_DATA_BYTES = 16 * 1024

NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"
Name = Annotated[
    str, Field(min_length=1, max_length=63, pattern=NAME_PATTERN, description="Letters, digits, '.', '_', '-'")
]
# What an id or a cloud's name of something may hold: no control characters (PostgreSQL text cannot hold NUL at all).
PLAIN_PATTERN = r"^[^\x00-\x1f]+$"
# Free text (scripts, keys) keeps its tabs and newlines but not NUL.
NO_NUL_PATTERN = r"^[^\x00]*$"
CloudId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=PLAIN_PATTERN, description="Cloud account; default SimCloud")
]
# A value of an input, as a request sets it.
InputValue = Annotated[str, Field(max_length=4096, pattern=NO_NUL_PATTERN)] | int | float | bool
RecordId = Annotated[str, Field(min_length=1, max_length=64, pattern=PLAIN_PATTERN, description="A Clanavi id")]


def _not_reserved(key: str) -> str:
    if key.startswith("clanavi:"):
        raise ValueError("tag keys starting with `clanavi:` are reserved")
    return key


TagKey = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$"), AfterValidator(_not_reserved)]
TagValue = Annotated[str, Field(max_length=256, pattern=r"^[^\x00-\x1f]*$")]


def _user_data_size(value: str | None) -> str | None:
    if value is not None and len(value.encode()) > MAX_USER_DATA_BYTES:
        raise ValueError(f"user data is limited to {MAX_USER_DATA_BYTES} bytes (UTF-8)")
    return value


class CloudOut(BaseModel):
    id: str
    project_id: str
    name: str
    driver: str
    enabled: bool
    # Whether the account's adapter module (`driver`) is enabled: when it is not, every call to the cloud answers
    # 409 `module_disabled` and the account's pending work waits.
    module_enabled: bool = True
    features: list[str]
    config: dict[str, Any] = Field(description="The adapter's settings; never a secret")
    credential_fields: list[str] = Field(description="Names of the secret fields set (values are never shown)")
    credentials_readable: bool = Field(
        description="False when no key the provisioner holds opens the credentials: the account answers 409 "
        "`cloud_credentials_unreadable` until they are set again"
    )
    source: Literal["api", "configuration"] = Field(
        description="`configuration`: from CLANAVI_PROVISIONER_CLOUDS (or the built-in `sim`), changed only there"
    )
    created_at: datetime
    updated_at: datetime


CloudName = Annotated[str, Field(min_length=1, max_length=200, pattern=PLAIN_PATTERN)]
Credentials = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(min_length=1, max_length=8192)]],
    Field(
        max_length=32,
        description="The adapter's secret fields (ec2: `access_key_id`, `secret_access_key`, `session_token`; "
        "openstack and xcp: `password`; any URL field that carries a password). Stored encrypted, never shown.",
    ),
]


class SettingProblem(BaseModel):
    location: str = Field(description="The setting: `config.<name>`, `credentials.<name>`, `config` or `cloud`")
    message: str


class CloudTestOut(BaseModel):
    """A stored account's connection test: passed, or what failed in the words a new account would be refused in."""

    cloud_id: str
    ok: bool
    latency_ms: int = Field(description="Connecting and the call, in milliseconds")
    tested: Literal["regions", "flavors", "images"] | None = Field(
        description="What the cloud was asked for (the first of these its adapter has); none: connecting was the test"
    )
    found: int | None = Field(default=None, description="How many the cloud listed, when it answered")
    code: str | None = Field(
        default=None,
        description="When it failed: `cloud_connection_failed`, `cloud_endpoint_denied` or "
        "`validation_failed` (the adapter refuses the stored settings)",
    )
    detail: str | None = Field(default=None, description="What went wrong; never what the cloud answered")
    errors: list[SettingProblem] = Field(default_factory=list, description="The settings the failure is about")
    tested_at: datetime


class CloudCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CloudName = Field(description="Unique in the project")
    driver: str = Field(min_length=1, max_length=100, description="An adapter module (see GET /v1/modules)")
    config: dict[str, Any] = Field(default_factory=dict, description="The adapter's settings, without secrets")
    credentials: Credentials = Field(default_factory=dict)
    enabled: bool = True


class CloudUpdate(BaseModel):
    """Fields left out stay as they are; `config` and `credentials` replace the whole object they name."""

    model_config = ConfigDict(extra="forbid")

    name: CloudName | None = None
    config: dict[str, Any] | None = None
    credentials: Credentials | None = None
    enabled: bool | None = None


class ModuleOut(BaseModel):
    """An adapter module: built in, or a plugin from an installed distribution (`clanavi.adapters` entry point)."""

    name: str
    # "missing": named by a cloud account or by a recorded state, but not installed here.
    source: Literal["builtin", "plugin", "missing"]
    distribution: str | None = None
    version: str | None = None
    enabled: bool
    # Whether its adapter class loads in the provisioner; `reason` says why not, such as "needs the clanavi[xen]
    # extra: No module named 'XenAPI'" for a built-in module whose cloud SDK is not installed.
    available: bool
    reason: str | None = None
    # What its adapter class declares; an account may be served by a variant that offers more (libvirt on a host that
    # hot-plugs disks): its own `features` say.
    features: list[str]
    cloud_ids: list[str]


class ModuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class ImageOut(BaseModel):
    """An image of a cloud's catalogue; `id` is the cloud's (what a launch's `image_id` takes)."""

    id: str
    cloud_id: str
    name: str
    os: str
    min_disk_gb: int
    state: Literal["pending", "available", "failed", "deregistered"] = "available"
    hourly_price: Decimal | None = Field(
        default=None,
        description="What running it adds to a server's hourly price (a licence), from the account's price catalog in "
        "force now; null: nothing",
    )
    currency: str | None = Field(default=None, description="ISO 4217, of `hourly_price`")


class RegionOut(BaseModel):
    id: str
    cloud_id: str
    name: str


class ZoneOut(BaseModel):
    id: str
    cloud_id: str
    region_id: str
    available: bool


class FlavorOut(BaseModel):
    id: str
    cloud_id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    hourly_price: Decimal | None = Field(
        default=None, description="A decimal string, from the account's price catalog in force now; null: not priced"
    )
    currency: str | None = Field(default=None, description="ISO 4217, of `hourly_price`")


class QuotaUseOut(BaseModel):
    quota: Literal["max_instances", "max_vcpus", "max_monthly_cost"]
    limit: Decimal
    used: Decimal = Field(description="What the project's instances that have not ended hold")
    adds: Decimal = Field(description="What the launch adds")
    exceeded: bool


class ProblemItemOut(BaseModel):
    location: str
    message: str


class GuardrailVerdictOut(BaseModel):
    """What the project's guard-rails say of a launch."""

    allowed: bool = Field(description="false: the launch would be refused (a quota exceeded, a tag or lifetime wrong)")
    quotas: list[QuotaUseOut]
    problems: list[ProblemItemOut] = Field(description="Required tags missing or not allowed, a lifetime too long")
    needs_approval: bool = Field(description="Its monthly cost is above the project's approval threshold")
    expires_at: datetime | None = Field(description="When its lifetime would end")
    expiry_action: Literal["stop", "terminate"] | None
    notes: list[str] = Field(description="What counted 0 (instances with no price or no known vCPUs)")


class ApprovalOut(BaseModel):
    """A launch that costs more a month than the project's approval threshold, and its owner's decision."""

    id: str
    instance_id: str
    state: Literal["pending", "approved", "rejected"]
    monthly: Decimal = Field(description="The launch's monthly cost (730 hours)")
    currency: str
    threshold: Decimal = Field(description="The project's approval threshold when it was asked for")
    requested_by: str
    decided_by: str | None = Field(description="Who decided; null for one that lapsed")
    reason: str | None = Field(description="Why it was rejected")
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    expires_at: datetime = Field(description="When a pending approval lapses: rejected, nobody having decided")


class LaunchPreviewOut(BaseModel):
    """A dry-run launch: where it would go and what it would cost (amounts are decimal strings)."""

    dry_run: Literal[True] = True
    cloud_id: str
    region: str | None
    zone: str | None
    image_id: str
    flavor_id: str
    template_id: str | None
    template_version: int | None
    currency: str | None = Field(description="ISO 4217; null when the account's catalog does not price the flavor")
    hourly: Decimal | None
    monthly: Decimal | None = Field(description="`hourly` x 730 hours")
    price_version: int | None = Field(description="The catalog version priced from (0: the built-in prices)")
    guardrails: GuardrailVerdictOut
    launch_block: LaunchBlockOut | None = Field(
        default=None,
        description="The budget that blocks this launch now: the launch itself would answer 409 `budget_exceeded`",
    )
    placement: PlacementOut | None = Field(
        default=None, description="How the allocator chose the cloud, for a launch it places (no `cloud_id`)"
    )


class InstanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
        description="Host-name-like: letters, digits, '.', '_', '-'",
    )
    cloud_id: CloudId | None = Field(
        default=None, description="The cloud to launch in; without it the allocator places the launch (`placement`)"
    )
    image_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=PLAIN_PATTERN,
        description="The cloud's image id (see GET /v1/images); required without `template_id` (or "
        "`requirements.image_name`)",
    )
    flavor_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=PLAIN_PATTERN,
        description="Required without `template_id` or `requirements`",
    )
    requirements: RequirementsIn | None = Field(
        default=None, description="In place of `flavor_id`: the allocator takes the smallest flavor that has these"
    )
    placement: PlacementPolicyIn | None = Field(
        default=None,
        description="How the allocator places the launch; a launch without `cloud_id` is placed by the default "
        "policy (cheapest)",
    )
    key_name: Name | None = Field(default=None, description="The name of one of the project's key pairs there")
    security_group_ids: list[RecordId] = Field(
        default_factory=list, max_length=16, description="Clanavi ids of the project's security groups there"
    )
    user_data: Annotated[str | None, AfterValidator(_user_data_size)] = Field(
        default=None,
        pattern=NO_NUL_PATTERN,
        description=f"A boot script (cloud-init user data), at most {MAX_USER_DATA_BYTES} bytes",
    )
    zone: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=PLAIN_PATTERN, description="See GET /v1/clouds/{id}/zones"
    )
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, max_length=40, description="Up to 40; keys starting `clanavi:` are reserved"
    )
    template_id: RecordId | None = Field(
        default=None,
        description="Launch from this server template: its image and flavor for the cloud, its options, its boot "
        "scripts rendered into the user data",
    )
    template_version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The template's version; default: its default version"
    )
    inputs: dict[Annotated[str, Field(max_length=63)], InputValue] = Field(
        default_factory=dict, max_length=64, description="Values of the template's inputs (the server's level)"
    )
    lifetime_hours: float | None = Field(
        default=None,
        gt=0,
        le=87_600,
        description="Its lifetime: stopped or terminated (the project's `expiry_action`) this many hours after the "
        "launch; never beyond the project's `max_lifetime_hours`, which applies when this is left out",
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="Its lifetime's end, instead of `lifetime_hours`; RFC 3339 with offset"
    )
    dry_run: bool = Field(
        default=False,
        description="Check the launch and answer 200 with where it would go and its hourly and monthly cost "
        "(`LaunchPreviewOut`); nothing is launched or recorded",
    )

    @model_validator(mode="after")
    def _one_lifetime(self) -> InstanceCreate:
        if self.lifetime_hours is not None and self.expires_at is not None:
            raise ValueError("lifetime_hours or expires_at, not both")
        return self

    @model_validator(mode="after")
    def _machine_or_template(self) -> InstanceCreate:
        _machine_problem(self.template_id, self.image_id, self.flavor_id, self.requirements)
        if self.template_id is None:
            if self.template_version is not None or self.inputs:
                raise ValueError("template_version and inputs go with template_id")
        elif self.user_data is not None:
            raise ValueError("a template's boot scripts make the user data: no user_data with template_id")
        if self.requirements is not None and self.cloud_id is not None and self.placement is None:
            raise ValueError("requirements are for a placed launch: leave out cloud_id, or give placement")
        return self


def _machine_problem(
    template_id: str | None, image_id: str | None, flavor_id: str | None, requirements: RequirementsIn | None
) -> None:
    """A server is a template, or an image with a flavor or requirements."""
    if template_id is not None:
        if image_id is not None or flavor_id is not None or requirements is not None:
            raise ValueError("a template gives the image and flavor: no image_id, flavor_id or requirements with it")
        return
    if flavor_id is not None and requirements is not None:
        raise ValueError("flavor_id or requirements, not both")
    if flavor_id is None and requirements is None:
        raise ValueError("flavor_id (or requirements) required without template_id")
    if image_id is None and (requirements is None or requirements.image_name is None):
        raise ValueError("image_id (or requirements.image_name) required without template_id")


class PlacementCreate(BaseModel):
    """A placement asked for: the server (as a launch names it) and how many, placed by a policy."""

    model_config = ConfigDict(extra="forbid")

    template_id: RecordId | None = None
    template_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    inputs: dict[Annotated[str, Field(max_length=63)], InputValue] = Field(default_factory=dict, max_length=64)
    image_id: str | None = Field(default=None, min_length=1, max_length=255, pattern=PLAIN_PATTERN)
    flavor_id: str | None = Field(default=None, min_length=1, max_length=255, pattern=PLAIN_PATTERN)
    cloud_id: CloudId | None = Field(default=None, description="Only this cloud (as `placement.cloud_ids`)")
    requirements: RequirementsIn | None = None
    key_name: Name | None = None
    security_group_ids: list[RecordId] = Field(default_factory=list, max_length=16)
    zone: str | None = Field(default=None, min_length=1, max_length=64, pattern=PLAIN_PATTERN)
    user_data: bool = Field(
        default=False, description="Whether the server boots with user data (clouds that take none are rejected)"
    )
    count: int = Field(default=1, ge=1, le=100, description="Servers placed in one decision")
    placement: PlacementPolicyIn = Field(default_factory=PlacementPolicyIn)

    @model_validator(mode="after")
    def _machine(self) -> PlacementCreate:
        if self.template_id is None and (self.image_id is None and self.flavor_id is None and self.requirements):
            return self  # requirements alone: where such a server fits, whatever it boots
        _machine_problem(self.template_id, self.image_id, self.flavor_id, self.requirements)
        if self.template_id is None and (self.template_version is not None or self.inputs):
            raise ValueError("template_version and inputs go with template_id")
        return self


class InputLevelOut(BaseModel):
    value: str | int | float | bool = Field(description="A secret's shows as ********")
    level: Literal["script", "template", "cluster", "server"] = Field(description="Where the value was set")
    type: str


class BootScriptOut(BaseModel):
    """One boot script of the instance's template, as its console showed it running."""

    script_id: str
    version: int
    filename: str = Field(description="The script's file on the instance; cloud-init runs them sorted by it")
    kind: Literal["shell", "script", "cloud-config"] = Field(
        description="shell: prints when it starts and ends; script: another interpreter's; cloud-config: applied by "
        "cloud-init itself"
    )
    state: Literal["pending", "running", "succeeded", "failed"]
    exit_code: int | None = Field(description="When it failed and the console said with what")
    started_at: datetime | None = Field(description="When the console shows it started, where it says")
    finished_at: datetime | None


class BootOut(BaseModel):
    """The progress of the instance's boot scripts, read from its console while the boot lasts."""

    state: Literal["pending", "running", "succeeded", "failed", "unknown"] = Field(
        description="unknown: Clanavi stopped following the boot before it ended (the instance ended, or the boot "
        "outlasted the follow bound)"
    )
    started_at: datetime | None = Field(description="When cloud-init started, where the console says")
    finished_at: datetime | None
    scripts: list[BootScriptOut]


class PlacementNoteOut(BaseModel):
    strategy: Literal["cheapest", "spread", "pack"]
    score: float = Field(description="Its score among the candidates when it was chosen (higher is better)")
    group: str | None = Field(default=None, description="The placement group it joined")


class InstanceOut(BaseModel):
    id: str
    project_id: str
    cloud_id: str
    name: str
    image_id: str
    flavor_id: str
    provider_id: str | None = Field(description="The instance's id in its cloud, once created there")
    state: InstanceStateName
    pending_action: Literal["launch", "start", "stop", "reboot", "suspend", "resume", "terminate"] | None
    reason: str | None = Field(description="Why the last action failed or the instance is in error")
    private_ips: list[str]
    key_name: str | None = None
    security_group_ids: list[str] = Field(default_factory=list)
    zone: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    discovered: bool = Field(default=False, description="Created outside Clanavi and adopted by an inventory sync")
    template_id: str | None = Field(default=None, description="The server template it was launched from")
    template_version: int | None = None
    inputs: dict[str, InputLevelOut] = Field(
        default_factory=dict, description="The template's inputs as resolved at launch, and the level of each"
    )
    boot: BootOut | None = Field(
        default=None, description="Its boot scripts' progress; null when it runs none (a launch not from a template)"
    )
    cluster_id: str | None = Field(default=None, description="The cluster it is a member of")
    cluster_role: str | None = Field(default=None, description="Its role in that cluster")
    expires_at: datetime | None = Field(
        default=None, description="When its lifetime ends (the project's guard-rails or the launch set one)"
    )
    expiry_action: Literal["stop", "terminate"] | None = Field(
        default=None, description="What happens to it when its lifetime ends"
    )
    placement: PlacementNoteOut | None = Field(
        default=None, description="How the allocator placed it; null when the launch named its cloud"
    )
    requested_by: str | None = Field(
        default=None,
        description="The service that launched it and what for (`scaler:<group id>`, `failover:<policy id>`); "
        "null for a user's launch",
    )
    created_at: datetime
    updated_at: datetime


class LaunchedOut(InstanceOut):
    """The answer to a launch: the instance, and the approval it waits for (state `awaiting_approval`)."""

    approval: ApprovalOut | None = Field(default=None, description="null unless the launch waits for approval")


class MetricSampleOut(BaseModel):
    name: str = Field(description="cpu_utilization (percent), network_in_bytes, network_out_bytes, disk_*_bytes")
    timestamp: datetime
    value: float
    unit: str


class MetricsOut(BaseModel):
    instance_id: str
    since: datetime
    items: list[MetricSampleOut]


class SyncRunOut(BaseModel):
    """One reconciliation of a cloud account with what its cloud has."""

    id: str
    cloud_id: str
    project_id: str
    trigger: Literal["scheduled", "manual"]
    status: Literal["running", "succeeded", "failed"]
    started_at: datetime
    finished_at: datetime | None
    adopted: int = Field(description="Resources found in the cloud and adopted (`discovered`)")
    drifted: int = Field(description="Records whose state was corrected to the cloud's")
    vanished: int = Field(description="Records of resources no longer in the cloud, now `gone`")
    unchanged: int
    listed: int = Field(description="Resources the cloud listed")
    list_calls: int = Field(description="Calls made to list them (pages)")
    volumes_adopted: int = Field(default=0, description="Volumes found in the cloud and adopted (`discovered`)")
    volumes_drifted: int = Field(default=0, description="Volume records whose state was corrected to the cloud's")
    volumes_vanished: int = Field(default=0, description="Volume records no longer in the cloud, now `gone`")
    volumes_unchanged: int = 0
    volumes_listed: int = Field(default=0, description="Volumes the cloud listed")
    error: str | None


class ListOf(BaseModel, Generic[T]):
    items: list[T]
