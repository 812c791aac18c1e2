"""Stopping an instance: ACPI shutdown first; a guest that ignores it is powered off after the configured wait.

libvirt's test driver powers a domain off the moment it is asked, so the guest that takes its time, or never
answers, is played here by a hand-written stand-in for the adapter's hypervisor port (`_host.Host`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import cast

from adapters.base import InstanceState
from adapters.libvirt import LibvirtAdapter, LibvirtConfig, _states, _xml
from adapters.libvirt._host import Action, DomainView, Host

UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
META = _xml.InstanceMeta(
    account="a",
    client_token="t",
    name="slow",
    image_id="image-x",
    flavor_id="lv.small",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    root_volume=f"clanavi-root-{UUID}",
)


class Guest:
    """A running domain whose guest powers off `answers_after` looks after the power button, or never (None)."""

    def __init__(self, answers_after: int | None) -> None:
        self.answers_after = answers_after
        self.state = _states.RUNNING
        self.reason = 1
        self.pressed = False
        self.looks = 0
        self.actions: list[Action] = []

    def view(self, instance_id: str) -> DomainView | None:
        assert instance_id == UUID
        if self.pressed:
            self.looks += 1
            if self.answers_after is not None and self.looks >= self.answers_after:
                self.state, self.reason = _states.SHUTOFF, 1
        facts = _xml.DomainFacts(UUID, f"clanavi-{UUID}", 1, 1024, META, (), ())
        return DomainView(facts, META, self.state, self.reason, ())

    def act(self, instance_id: str, action: Action) -> DomainView:
        self.actions.append(action)
        if action == "stop":
            self.pressed = True
        elif action == "destroy":
            self.state, self.reason = _states.SHUTOFF, 2
        view = self.view(instance_id)
        assert view is not None
        return view


def adapter(guest: Guest, *, timeout: float, force: bool) -> LibvirtAdapter:
    config = LibvirtConfig(uri="test:///default", shutdown_timeout_seconds=timeout, force_stop_after_timeout=force)
    return LibvirtAdapter(cast(Host, guest), config, account_id="a", zone="z", region="z", domain_type="test")


async def test_a_guest_that_shuts_down_in_time_is_not_forced() -> None:
    guest = Guest(answers_after=3)
    stopped = await adapter(guest, timeout=10, force=True).stop_instance(UUID)
    assert stopped.state is InstanceState.STOPPED
    assert guest.actions == ["stop"]


async def test_a_guest_that_ignores_the_button_is_powered_off_after_the_wait() -> None:
    guest = Guest(answers_after=None)
    started = time.monotonic()
    stopped = await adapter(guest, timeout=0.3, force=True).stop_instance(UUID)
    assert time.monotonic() - started >= 0.3, "the guest gets its full wait"
    assert stopped.state is InstanceState.STOPPED
    assert guest.actions == ["stop", "destroy"]
    assert guest.looks >= 2, "the state is polled while waiting"


async def test_without_the_fallback_a_slow_guest_reads_stopping() -> None:
    guest = Guest(answers_after=None)
    stopping = await adapter(guest, timeout=0.2, force=False).stop_instance(UUID)
    assert stopping.state is InstanceState.STOPPING
    assert guest.actions == ["stop"]
