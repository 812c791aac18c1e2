"""The CPU SimCloud spends simulating what a guest prints (its console and its boot scripts' output), counted apart.

On a real cloud that work is the provider's, not the platform's: an operator sizing the provisioner, or a benchmark of
what the platform costs, reads this counter to leave the simulation out. Only synchronous work is counted, from the
thread's own CPU clock, so nothing else the event loop runs meanwhile is charged to it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import Counter

SIMULATION_CPU = Counter(
    "clanavi_simcloud_simulation_cpu_seconds",
    "CPU seconds SimCloud spent simulating what its guests print",
    ["work"],
)


@contextlib.contextmanager
def simulating(work: str) -> Iterator[None]:
    """Charge the CPU the block uses to `work`; the block must not await."""
    began = time.thread_time()
    try:
        yield
    finally:
        SIMULATION_CPU.labels(work).inc(time.thread_time() - began)
