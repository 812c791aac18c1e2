"""The provisioner's API contract (the gateway serves the same models in its OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

InstanceStateName = Literal[
    "requested",
    "pending",
    "running",
    "stopping",
    "stopped",
    "starting",
    "rebooting",
    "terminating",
    "terminated",
    "error",
]


class CloudOut(BaseModel):
    id: str
    name: str
    driver: str
    enabled: bool
    features: list[str]
    created_at: datetime


class ImageOut(BaseModel):
    id: str
    cloud_id: str
    name: str
    os: str
    min_disk_gb: int


class FlavorOut(BaseModel):
    id: str
    cloud_id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


class InstanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
        description="Host-name-like: letters, digits, '.', '_', '-'",
    )
    cloud_id: str = Field(default="sim", min_length=1, max_length=64, description="Cloud account; default SimCloud")
    image_id: str = Field(min_length=1, max_length=255)
    flavor_id: str = Field(min_length=1, max_length=255)


class InstanceOut(BaseModel):
    id: str
    project_id: str
    cloud_id: str
    name: str
    image_id: str
    flavor_id: str
    provider_id: str | None = Field(description="The instance's id in its cloud, once created there")
    state: InstanceStateName
    pending_action: Literal["launch", "start", "stop", "reboot", "terminate"] | None
    reason: str | None = Field(description="Why the last action failed or the instance is in error")
    private_ips: list[str]
    created_at: datetime
    updated_at: datetime


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class ListOf(BaseModel, Generic[T]):
    items: list[T]
