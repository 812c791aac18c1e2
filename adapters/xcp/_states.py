"""XAPI's VM power states, and the one table that maps them onto Clanavi's `InstanceState`."""

from __future__ import annotations

from adapters.base import InstanceState

# VM.power_state, as XAPI spells it.
POWER_STATES: dict[str, InstanceState] = {
    "Halted": InstanceState.STOPPED,
    "Running": InstanceState.RUNNING,
    "Paused": InstanceState.SUSPENDED,
    "Suspended": InstanceState.SUSPENDED,
}


def instance_state(power_state: str) -> InstanceState:
    return POWER_STATES.get(power_state, InstanceState.UNKNOWN)
