"""Finding free TCP ports on the loopback interface.

A port found free is only free until something binds it: two processes that look for ports at the same moment (the
test suite's workers, each starting servers and platforms) may be told the same one, and the second server to start
then fails while the first answers in its place. `CLANAVI_FREE_PORTS` ("low-high") gives a process a range of its
own to draw from (each worker a different one, below the kernel's ephemeral ports), and a process never hands out
the same port twice while others in its range are free.
"""

import os
import random
import socket

RANGE_ENV = "CLANAVI_FREE_PORTS"

_handed: set[int] = set()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (from `CLANAVI_FREE_PORTS` when it is set)."""
    span = os.environ.get(RANGE_ENV)
    if not span:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            return port
    low, high = (int(bound) for bound in span.split("-", 1))
    ports = list(range(low, high + 1))
    random.shuffle(ports)  # noqa: S311 - spreading ports, not a secret
    # Ports not handed out before first; then any that binds.
    for port in sorted(ports, key=lambda p: p in _handed):
        if _bindable(port):
            _handed.add(port)
            return port
    raise OSError(f"no free port in {RANGE_ENV}={span}")
