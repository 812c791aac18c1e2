"""The one table from libvirt's domain states to Clanavi's, and the numbers it is keyed by."""

from __future__ import annotations

import libvirt
import pytest

from adapters.base import InstanceState as S
from adapters.libvirt import _states


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("NOSTATE", "VIR_DOMAIN_NOSTATE"),
        ("RUNNING", "VIR_DOMAIN_RUNNING"),
        ("BLOCKED", "VIR_DOMAIN_BLOCKED"),
        ("PAUSED", "VIR_DOMAIN_PAUSED"),
        ("SHUTDOWN", "VIR_DOMAIN_SHUTDOWN"),
        ("SHUTOFF", "VIR_DOMAIN_SHUTOFF"),
        ("CRASHED", "VIR_DOMAIN_CRASHED"),
        ("PMSUSPENDED", "VIR_DOMAIN_PMSUSPENDED"),
        ("PAUSED_IOERROR", "VIR_DOMAIN_PAUSED_IOERROR"),
        ("PAUSED_WATCHDOG", "VIR_DOMAIN_PAUSED_WATCHDOG"),
        ("PAUSED_CRASHED", "VIR_DOMAIN_PAUSED_CRASHED"),
        ("PAUSED_POSTCOPY_FAILED", "VIR_DOMAIN_PAUSED_POSTCOPY_FAILED"),
        ("SHUTOFF_UNKNOWN", "VIR_DOMAIN_SHUTOFF_UNKNOWN"),
        ("SHUTOFF_CRASHED", "VIR_DOMAIN_SHUTOFF_CRASHED"),
        ("SHUTOFF_FAILED", "VIR_DOMAIN_SHUTOFF_FAILED"),
    ],
)
def test_the_numbers_are_libvirts(ours: str, theirs: str) -> None:
    assert getattr(_states, ours) == getattr(libvirt, theirs)


@pytest.mark.parametrize(
    ("state", "reason", "expected"),
    [
        (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED, S.RUNNING),
        (libvirt.VIR_DOMAIN_BLOCKED, 0, S.RUNNING),
        (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER, S.SUSPENDED),
        (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR, S.ERROR),
        (libvirt.VIR_DOMAIN_SHUTDOWN, libvirt.VIR_DOMAIN_SHUTDOWN_USER, S.STOPPING),
        (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN, S.STOPPED),
        (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED, S.STOPPED),
        (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED, S.ERROR),
        (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_FAILED, S.ERROR),
        (libvirt.VIR_DOMAIN_CRASHED, libvirt.VIR_DOMAIN_CRASHED_PANICKED, S.ERROR),
        (libvirt.VIR_DOMAIN_PMSUSPENDED, 0, S.SUSPENDED),
        (libvirt.VIR_DOMAIN_NOSTATE, 0, S.UNKNOWN),
        (99, 0, S.UNKNOWN),  # a state newer than this table
    ],
)
def test_each_state_maps_once(state: int, reason: int, expected: S) -> None:
    mapped = _states.normalise(state, reason)
    assert mapped.state is expected
    assert (mapped.reason is not None) == (expected is S.ERROR), "an error says why, and only an error"


def test_every_libvirt_state_is_in_the_table() -> None:
    # virDomainState runs from NOSTATE (0) to PMSUSPENDED, its last value.
    assert {state for state, _ in _states.STATE_MAP} == set(range(libvirt.VIR_DOMAIN_PMSUSPENDED + 1))


def test_only_a_domain_that_is_off_is_inactive() -> None:
    assert not _states.is_active(libvirt.VIR_DOMAIN_SHUTOFF)
    assert _states.is_active(libvirt.VIR_DOMAIN_PAUSED)
    assert _states.is_active(libvirt.VIR_DOMAIN_RUNNING)
