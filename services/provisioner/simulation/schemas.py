"""The bodies and answers of the simulation routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ZoneStateIn(BaseModel):
    state: Literal["down", "up"] = Field(
        description="down: the zone's instances go to error and launches there fail; up: launches succeed again"
    )


class ZoneStateOut(BaseModel):
    cloud_id: str
    zone: str
    state: Literal["down", "up"]


class LoadIn(BaseModel):
    profile: str = Field(
        min_length=1,
        max_length=200,
        description="steady:<pct>, ramp:<from>:<to>:<seconds> or spike:<base>:<peak>:<period>:<duration> "
        "(simulated seconds)",
    )


__all__ = ["LoadIn", "ZoneStateIn", "ZoneStateOut"]
