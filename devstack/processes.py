"""Clanavi services as child processes: used by the end-to-end tests and the benchmarks to drive the platform
exactly as `make run` does, one process per service."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    # The interpreter, and where it starts: another venv's python, started outside this repository, serves the Clanavi
    # installed in that venv.
    python: str = sys.executable
    cwd: Path | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [self.python, "-m", "services", "serve", self.name],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_answering(
            self.process,
            lambda: http_ok(f"http://127.0.0.1:{self.port}/readyz"),
            timeout,
            exited=lambda code: RuntimeError(f"{self.name} exited with {code}; see {self.log_path}"),
            silent=lambda: TimeoutError(f"{self.name} not ready after {timeout}s; see {self.log_path}"),
            interval=0.1,
        )

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        stop_process(self.process)


def http_ok(url: str) -> bool:
    """Whether `url` (a loopback URL we built) answers 200 within a second; raises OSError while nothing listens."""
    with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 - loopback URL we built
        return bool(answer.status == 200)


def wait_answering(
    process: subprocess.Popen[bytes] | None,
    answers: Callable[[], bool],
    timeout: float,
    *,
    exited: Callable[[int], Exception],
    silent: Callable[[], Exception],
    interval: float = 0.05,
    stop: Callable[[], None] | None = None,
) -> None:
    """Until `answers()` (which may raise OSError while the server is not up yet); `exited(code)` is raised when the
    process ends first, `silent()` when `timeout` seconds pass. With `stop`, a server that never answers (or a wait
    interrupted) is stopped: no half-started server is left behind."""
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process is not None and process.poll() is not None:
                raise exited(process.returncode)
            with contextlib.suppress(OSError):
                if answers():
                    return
            if time.monotonic() > deadline:
                raise silent()
            time.sleep(interval)
    except BaseException:
        if stop is not None:
            stop()
        raise


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if it has not exited after 15 s."""
    stop_processes([process])


def stop_processes(processes: Iterable[subprocess.Popen[bytes] | None]) -> None:
    """SIGTERM to every one still running at once (they shut down side by side), then SIGKILL to any that has not
    exited 15 s later."""
    running = [process for process in processes if process is not None and process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def service_env(base: Mapping[str, str] | None = None, /, **settings: str) -> dict[str, str]:
    """The environment for a service process: ours, plus `CLANAVI_*` settings given as keyword arguments."""
    env = dict(base if base is not None else os.environ)
    env.update({f"CLANAVI_{key.upper()}": value for key, value in settings.items()})
    return env
