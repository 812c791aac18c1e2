"""Rates from libvirt's ever-growing counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.libvirt._metrics import Reading, samples

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def reading(
    seconds: float, cpu_s: float, *, vcpus: int = 2, rx: int = 0, tx: int = 0, rd: int = 0, wr: int = 0
) -> Reading:
    return Reading(T0 + timedelta(seconds=seconds), 1000 + seconds, int(cpu_s * 1e9), vcpus, rx, tx, rd, wr)


def test_utilisation_is_cpu_time_over_wall_time_over_every_vcpu() -> None:
    found = {s.name: s for s in samples(reading(0, 10), reading(10, 15, rx=100, tx=40, rd=7, wr=9))}
    # 5 CPU-seconds in 10 s on 2 vCPUs: a quarter of what the instance may use.
    assert found["cpu_utilization"].value == 25.0
    assert found["cpu_utilization"].unit == "percent"
    assert found["cpu_utilization"].timestamp == T0 + timedelta(seconds=10)
    assert {n: s.value for n, s in found.items() if s.unit == "bytes"} == {
        "network_in_bytes": 100.0,
        "network_out_bytes": 40.0,
        "disk_read_bytes": 7.0,
        "disk_write_bytes": 9.0,
    }


def test_utilisation_never_exceeds_100() -> None:
    [cpu, *_] = samples(reading(0, 0, vcpus=1), reading(1, 1.2, vcpus=1))
    assert cpu.value == 100.0


def test_a_restarted_domain_or_no_time_makes_no_sample() -> None:
    assert samples(reading(0, 50), reading(5, 1)) == []  # CPU time went back: QEMU restarted
    assert samples(reading(0, 0, rx=500), reading(5, 1, rx=10)) == []
    assert samples(reading(5, 1), reading(5, 2)) == []
