"""The silences' API models."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MatcherIn(_In):
    label: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    value: str = Field(max_length=500)
    regex: bool = False

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: bool, info: ValidationInfo) -> bool:
        if value:
            try:
                re.compile(info.data.get("value", ""))
            except re.error as exc:
                raise ValueError(f"value is not a regular expression: {exc}") from None
        return value


class WeeklyIn(_In):
    """A window that recurs each week: on `days` (0 is Monday), from `start` for `duration_minutes`."""

    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(min_length=1, max_length=7)
    start: time
    duration_minutes: int = Field(ge=1, le=7 * 24 * 60)
    time_zone: str = Field(default="UTC", max_length=64, description="An IANA time zone, such as Europe/Paris")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone") from None
        return value


class SilenceIn(_In):
    matchers: list[MatcherIn] = Field(min_length=1, max_length=20)
    starts_at: AwareDatetime | None = Field(default=None, description="Now when not given")
    ends_at: AwareDatetime
    weekly: WeeklyIn | None = None
    comment: str = Field(default="", max_length=1000)

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        starts = info.data.get("starts_at")
        if starts is not None and value <= starts:
            raise ValueError("must come after starts_at")
        return value


class MatcherOut(BaseModel):
    label: str
    value: str
    regex: bool


class WeeklyOut(BaseModel):
    days: list[int]
    start: str
    duration_minutes: int
    time_zone: str


class SilenceOut(BaseModel):
    id: str
    matchers: list[MatcherOut]
    starts_at: datetime
    ends_at: datetime
    weekly: WeeklyOut | None
    comment: str
    created_by: str
    state: Literal["pending", "active", "expired"]
    created_at: datetime
