"""libvirt's domain states and their reasons, and the one table of them onto Clanavi's `InstanceState`.

The numbers are libvirt's `virDomainState` and `virDomain*Reason` values (a unit test checks them against
libvirt-python), kept as plain integers so that what reads them needs no libvirt to import.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import InstanceState

# virDomainState
NOSTATE = 0
RUNNING = 1
BLOCKED = 2
PAUSED = 3
SHUTDOWN = 4
SHUTOFF = 5
CRASHED = 6
PMSUSPENDED = 7

# virDomainPausedReason values that mean the hypervisor stopped the guest because something went wrong.
PAUSED_IOERROR = 5
PAUSED_WATCHDOG = 6
PAUSED_CRASHED = 10
PAUSED_POSTCOPY_FAILED = 13
# virDomainShutoffReason: UNKNOWN is also what a domain that never ran reads.
SHUTOFF_UNKNOWN = 0
# virDomainShutoffReason values that mean the guest did not end well.
SHUTOFF_CRASHED = 3
SHUTOFF_FAILED = 6


def is_active(state: int) -> bool:
    """True when the domain has a running QEMU (or test) process behind it, paused or not."""
    return state not in (SHUTOFF, NOSTATE)


@dataclass(frozen=True, slots=True)
class Mapped:
    state: InstanceState
    # Why the instance is in `error`, for the user.
    reason: str | None = None


# (libvirt state, reason or None for "any other reason") -> normalised state
STATE_MAP: dict[tuple[int, int | None], Mapped] = {
    (NOSTATE, None): Mapped(InstanceState.UNKNOWN),
    (RUNNING, None): Mapped(InstanceState.RUNNING),
    # Blocked on a resource (waiting for I/O, idle): still running as far as the user can tell.
    (BLOCKED, None): Mapped(InstanceState.RUNNING),
    (PAUSED, None): Mapped(InstanceState.SUSPENDED),
    (PAUSED, PAUSED_IOERROR): Mapped(InstanceState.ERROR, "the hypervisor paused the instance after a disk I/O error"),
    (PAUSED, PAUSED_WATCHDOG): Mapped(
        InstanceState.ERROR, "the hypervisor paused the instance when its watchdog fired"
    ),
    (PAUSED, PAUSED_CRASHED): Mapped(InstanceState.ERROR, "the guest crashed; the hypervisor keeps it paused"),
    (PAUSED, PAUSED_POSTCOPY_FAILED): Mapped(InstanceState.ERROR, "a post-copy migration of the instance failed"),
    # The guest is shutting down (an ACPI power button was pressed, or the guest began on its own).
    (SHUTDOWN, None): Mapped(InstanceState.STOPPING),
    (SHUTOFF, None): Mapped(InstanceState.STOPPED),
    (SHUTOFF, SHUTOFF_CRASHED): Mapped(InstanceState.ERROR, "the guest crashed and was powered off"),
    (SHUTOFF, SHUTOFF_FAILED): Mapped(InstanceState.ERROR, "the hypervisor failed to start the instance"),
    (CRASHED, None): Mapped(InstanceState.ERROR, "the guest crashed"),
    # Suspended by the guest itself (S3/S4).
    (PMSUSPENDED, None): Mapped(InstanceState.SUSPENDED),
}


def normalise(state: int, reason: int) -> Mapped:
    """The normalised state of a domain from `virDomainGetState`'s (state, reason)."""
    return STATE_MAP.get((state, reason)) or STATE_MAP.get((state, None)) or Mapped(InstanceState.UNKNOWN)
