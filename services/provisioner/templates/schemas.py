"""The API models of scripts, server templates and their versions (the gateway serves the same)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.provisioner.schemas import (
    NO_NUL_PATTERN,
    PLAIN_PATTERN,
    CloudId,
    InputValue,
    Name,
    RecordId,
    TagKey,
    TagValue,
)
from services.provisioner.templates.domain import Phase
from services.provisioner.templates.inputs import NAME_PATTERN, InputType

# The longest script body and the most inputs a script or template may declare.
MAX_BODY_BYTES = 64 * 1024
MAX_INPUTS = 64
Plain = Annotated[str, Field(min_length=1, max_length=255, pattern=PLAIN_PATTERN)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputIn(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Lower-case letters, digits and '_'; `{{ name }}` in a body")
    type: InputType
    required: bool = False
    default: InputValue | None = Field(default=None, description="Not for a secret")
    description: str | None = Field(default=None, max_length=1000)
    pattern: str | None = Field(
        default=None,
        max_length=200,
        description="A text, secret or cloud resource matches it whole (at most 512 characters of it); no "
        "back-references, no repetition or alternatives inside a repetition, at most 3 repetitions of variable length",
    )
    minimum: float | None = Field(default=None, description="Of a number")
    maximum: float | None = Field(default=None, description="Of a number")
    choices: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(default_factory=list, max_length=100)


class InputOut(BaseModel):
    name: str
    type: InputType
    required: bool
    default: str | int | float | bool | None
    description: str | None
    pattern: str | None
    minimum: float | None
    maximum: float | None
    choices: list[str]


class ScriptVersionIn(Strict):
    body: str = Field(
        min_length=2,
        max_length=MAX_BODY_BYTES,
        pattern=NO_NUL_PATTERN,
        description="A shell script (`#!...`) or `#cloud-config`; `{{ name }}` is replaced by input `name`",
    )
    phase: Phase = "boot"
    timeout_seconds: int = Field(default=300, ge=1, le=86400)
    inputs: list[InputIn] = Field(default_factory=list, max_length=MAX_INPUTS)


class ScriptCreate(ScriptVersionIn):
    name: Name


class ScriptOut(BaseModel):
    id: str
    project_id: str
    name: str
    latest_version: int = Field(description="The version a template gets when it names none")
    created_at: datetime
    updated_at: datetime


class ScriptVersionOut(BaseModel):
    script_id: str
    version: int
    body: str
    phase: Phase
    timeout_seconds: int
    inputs: list[InputOut]
    deprecated: bool
    created_at: datetime


class VersionUpdate(Strict):
    deprecated: bool = Field(description="A deprecated version cannot be named by a new template or launched")


class ScriptRefIn(Strict):
    script_id: RecordId
    version: int | None = Field(default=None, ge=1, description="Default: the script's latest version")


class ScriptRefOut(BaseModel):
    script_id: str
    version: int


class CloudChoiceIn(Strict):
    cloud_id: CloudId
    image_id: Plain
    flavor_id: Plain


class RequirementsIn(Strict):
    image_name: Plain = Field(description="The image of this name in the chosen cloud's catalogue")
    min_vcpus: int = Field(default=1, ge=1, le=1024)
    min_ram_mb: int = Field(default=0, ge=0, le=16 * 1024 * 1024)
    min_disk_gb: int = Field(default=0, ge=0, le=1024 * 1024)


class TemplateVersionIn(Strict):
    clouds: list[CloudChoiceIn] = Field(default_factory=list, max_length=64, description="Image and flavor per cloud")
    requirements: RequirementsIn | None = Field(
        default=None, description="For a cloud not in `clouds`: the smallest flavor that has these, the named image"
    )
    key_name: Name | None = None
    security_group_ids: list[RecordId] = Field(default_factory=list, max_length=16)
    zone: Plain | None = None
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=40)
    boot_scripts: list[ScriptRefIn] = Field(default_factory=list, max_length=32, description="Run in this order")
    operational_scripts: list[ScriptRefIn] = Field(default_factory=list, max_length=64)
    decommission_scripts: list[ScriptRefIn] = Field(default_factory=list, max_length=32)
    inputs: list[InputIn] = Field(default_factory=list, max_length=MAX_INPUTS, description="The template's own")
    values: dict[str, InputValue] = Field(
        default_factory=dict, max_length=MAX_INPUTS, description="The template's values of inputs (secrets sealed)"
    )
    alerts: list[dict[str, Any]] = Field(default_factory=list, max_length=64, description="Kept for the alerts service")


class TemplateCreate(TemplateVersionIn):
    name: Name


class TemplateUpdate(Strict):
    default_version: int = Field(ge=1, description="Launches naming no version use this one")


class TemplateOut(BaseModel):
    id: str
    project_id: str
    name: str
    latest_version: int
    default_version: int
    created_at: datetime
    updated_at: datetime


class CloudChoiceOut(BaseModel):
    cloud_id: str
    image_id: str
    flavor_id: str


class RequirementsOut(BaseModel):
    image_name: str
    min_vcpus: int
    min_ram_mb: int
    min_disk_gb: int


class TemplateVersionOut(BaseModel):
    template_id: str
    version: int
    clouds: list[CloudChoiceOut]
    requirements: RequirementsOut | None
    key_name: str | None
    security_group_ids: list[str]
    zone: str | None
    tags: dict[str, str]
    boot_scripts: list[ScriptRefOut]
    operational_scripts: list[ScriptRefOut]
    decommission_scripts: list[ScriptRefOut]
    inputs: list[InputOut]
    values: dict[str, str | int | float | bool] = Field(description="Secrets show as ********")
    alerts: list[dict[str, Any]]
    deprecated: bool
    created_at: datetime


__all__ = [
    "CloudChoiceIn",
    "InputIn",
    "InputOut",
    "RequirementsIn",
    "ScriptCreate",
    "ScriptOut",
    "ScriptRefIn",
    "ScriptVersionIn",
    "ScriptVersionOut",
    "TemplateCreate",
    "TemplateOut",
    "TemplateUpdate",
    "TemplateVersionIn",
    "TemplateVersionOut",
    "VersionUpdate",
]
