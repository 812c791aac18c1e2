"""A SimCloud account's settings: defaults, what is refused, and how the speed-up scales transition times."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from adapters.simcloud import SimCloudConfig
from adapters.simcloud.ip_pool import ADDRESSES, pick
from adapters.simcloud.machine import Timings


def test_defaults() -> None:
    config = SimCloudConfig()

    timed = (config.image_seconds, config.volume_seconds, config.snapshot_seconds, config.attach_seconds)
    assert timed == (2, 1, 2, 0.5)
    assert (config.max_instances, config.max_vcpus, config.rate_limit_per_second) == (None, None, None)
    assert (config.launch_failure_rate, config.speedup, config.prices) == (0, 1, {})
    assert (config.region, config.zones, config.default_load) == ("sim-1", ["sim-1a", "sim-1b"], "steady:20")
    assert config.timings() == Timings(3, 2, 2, 2, 1)


def test_speedup_divides_every_transition_time() -> None:
    config = SimCloudConfig(boot_seconds=60, stop_seconds=30, start_seconds=12, reboot_seconds=6, speedup=60)

    assert config.timings() == Timings(1, 0.5, 0.2, 0.1, 1 / 60)
    assert config.real_seconds(config.snapshot_seconds) == pytest.approx(2 / 60)


@pytest.mark.parametrize(
    "bad",
    [
        {"boot_seconds": -1},
        {"speedup": 0},
        {"launch_failure_rate": 1.5},
        {"launch_failure_rate": -0.1},
        {"rate_limit_per_second": 0},
        {"max_instances": -1},
        {"zones": []},
        {"zones": ["a", "a"]},
        {"prices": {"sim.small": -1}},
        {"default_load": "steady:200"},
        {"default_load": "wobbly"},
        {"no_such_setting": 1},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SimCloudConfig.model_validate(bad)


def test_public_addresses_come_from_the_documentation_ranges() -> None:
    assert len(ADDRESSES) == len(set(ADDRESSES)) == 3 * 254
    assert {ip.rsplit(".", 1)[0] for ip in ADDRESSES} == {"203.0.113", "198.51.100", "192.0.2"}
    assert pick(ADDRESSES[1:]) == ADDRESSES[0]
    assert pick(ADDRESSES) is None


def test_addresses_come_from_the_first_range_until_it_is_used_up() -> None:
    first_range = [ip for ip in ADDRESSES if ip.startswith("203.0.113.")]

    assert {pick([]) for _ in range(50)} <= set(first_range)
    spill = pick(first_range)
    assert spill is not None and spill.startswith("198.51.100.")
