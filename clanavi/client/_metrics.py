"""Pushed metric samples, and SimCloud's simulation (zone outages, an instance's load)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clanavi.client._calls import Call, body, model_of, path
from clanavi.client._endpoints import M, Namespace, operation
from services.provisioner.metrics.schemas import MetricsAccepted, MetricsIn
from services.provisioner.schemas import InstanceOut
from services.provisioner.simulation.schemas import LoadIn, ZoneStateIn, ZoneStateOut

__all__ = ["Metrics", "Simulation"]


class Metrics(Namespace[M]):
    """`/v1/metrics`: samples agents and applications push, published for the scaler and failover."""

    @operation
    def push(self, samples: MetricsIn | Mapping[str, Any]) -> Call[MetricsAccepted]:
        """Push at most 1000 samples (`{"samples": [{"name", "value", "instance_id", "at", ...}]}`). Operators."""
        content = body(MetricsIn, samples)
        return Call("POST", "/v1/metrics", model_of(MetricsAccepted), content=content)


class Simulation(Namespace[M]):
    """SimCloud's fault injection and load, for tests, demos and failover drills."""

    @operation
    def set_zone_state(self, cloud_id: str, zone: str, state: ZoneStateIn | Mapping[str, Any]) -> Call[ZoneStateOut]:
        """Take a SimCloud zone down (`{"state": "down"}`) or bring it up. Owners only."""
        content = body(ZoneStateIn, state)
        return Call(
            "PUT", path("/v1/clouds/{}/simulation/zones/{}", cloud_id, zone), model_of(ZoneStateOut), content=content
        )

    @operation
    def set_load(self, instance_id: str, load: LoadIn | Mapping[str, Any]) -> Call[InstanceOut]:
        """Drive a SimCloud instance's CPU load by a profile (`{"profile": "ramp:10:90:600"}`)."""
        content = body(LoadIn, load)
        return Call(
            "PUT", path("/v1/instances/{}/simulation/load", instance_id), model_of(InstanceOut), content=content
        )
