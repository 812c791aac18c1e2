"""An EC2 account's settings, as stored with the cloud account and given to `connect`."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class BucketConfig(BaseModel):
    """A token bucket: `capacity` tokens at most, `refill_per_second` added back each second."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity: float = Field(gt=0)
    refill_per_second: float = Field(gt=0)


def _resource_buckets() -> dict[str, BucketConfig]:
    # RunInstances also spends one resource token per instance launched (EC2: 1,000 instances, 2 refilled a second).
    return {"RunInstances": BucketConfig(capacity=1000, refill_per_second=2)}


class ThrottleConfig(BaseModel):
    """How the adapter keeps under EC2's request limits, and how it retries when EC2 throttles it anyway.

    EC2 keeps one request bucket per API action and account and region; its size depends on the action's category
    (non-mutating Describe*/Get*: 100 refilling 20/s; mutating: 200 refilling 5/s). `actions` overrides one
    action's request bucket; `resources` adds a second bucket charged per resource (RunInstances per instance).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    non_mutating: BucketConfig = BucketConfig(capacity=100, refill_per_second=20)
    mutating: BucketConfig = BucketConfig(capacity=200, refill_per_second=5)
    # CloudWatch GetMetricData and friends, a separate service with its own limits.
    cloudwatch: BucketConfig = BucketConfig(capacity=50, refill_per_second=50)
    actions: dict[str, BucketConfig] = Field(default_factory=dict)
    resources: dict[str, BucketConfig] = Field(default_factory=_resource_buckets)
    # A call that would have to wait longer than this for its tokens is refused with `Throttled` at once.
    max_wait_seconds: float = Field(default=300.0, ge=0)
    # Attempts in all when EC2 answers RequestLimitExceeded (or a safe-to-repeat call meets a transient failure).
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_base_seconds: float = Field(default=0.5, ge=0, le=60)
    backoff_cap_seconds: float = Field(default=20.0, ge=0, le=600)


class Ec2Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(default="us-east-1", min_length=1)
    # Another EC2 endpoint (a local moto server in tests); CloudWatch goes to the same one unless told otherwise.
    endpoint_url: str | None = None
    cloudwatch_endpoint_url: str | None = None
    # Without keys the AWS default chain applies (environment, profile, instance role).
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    # The images `list_images` shows: those of these owners ("self", an account id, "amazon"...) and these ids;
    # never the whole public catalogue. `get_image` finds any image.
    image_owners: tuple[str, ...] = ("self",)
    image_ids: tuple[str, ...] = ()
    # The instance types `list_flavors` shows; empty means every type the region offers.
    instance_types: tuple[str, ...] = ()
    # Where security groups live; the region's default VPC when unset.
    vpc_id: str | None = None
    # Where volumes go when their spec names no zone; the region's first available zone when unset.
    default_zone: str | None = None
    volume_type: str = "gp3"
    key_type: Literal["rsa", "ed25519"] = "rsa"
    metrics_period_seconds: int = Field(default=300, ge=60, le=86400, multiple_of=60)
    # EC2 honours RunInstances' ClientToken itself. Emulators that ignore it (moto 5) need the adapter to look for
    # an instance tagged with the token before launching; this costs one DescribeInstances per launch.
    client_token_lookup: bool = False
    max_pool_connections: int = Field(default=50, ge=1, le=1000)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    read_timeout_seconds: float = Field(default=60.0, gt=0)
    throttle: ThrottleConfig = ThrottleConfig()

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> Self:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together")
        if self.session_token is not None and self.access_key_id is None:
            raise ValueError("session_token needs access_key_id and secret_access_key")
        return self


__all__ = ["BucketConfig", "Ec2Config", "ThrottleConfig"]
