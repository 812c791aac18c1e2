"""SimCloud counts the CPU its guest simulation uses, and only that: time the thread spends waiting is not charged."""

import hashlib
import time

from prometheus_client import REGISTRY

from adapters.simcloud.own_cpu import simulating


def _counted(work: str) -> float:
    """The counter as /metrics shows it."""
    value = REGISTRY.get_sample_value("clanavi_simcloud_simulation_cpu_seconds_total", {"work": work})
    return value or 0.0


def test_busy_work_is_charged_to_its_kind() -> None:
    before = _counted("test-busy")
    began = time.thread_time()
    with simulating("test-busy"):
        digest = b""
        while time.thread_time() - began < 0.05:
            digest = hashlib.sha256(digest).digest()
    charged = _counted("test-busy") - before
    assert 0.05 <= charged < 0.5


def test_waiting_is_not_charged() -> None:
    before = _counted("test-idle")
    with simulating("test-idle"):
        time.sleep(0.1)
    assert _counted("test-idle") - before < 0.02
