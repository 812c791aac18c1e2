"""A local `moto_server` (the AWS emulator) on 127.0.0.1, for the EC2 adapter's tests and benchmarks.

Standard library only. The server's state lives in its process: `reset()` wipes every account and region.
By default moto accepts launches from images, instance types and key pairs that do not exist; `strict=True` (the
default here) turns on its validation so errors look like EC2's.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from devstack.processes import http_ok, stop_process, wait_answering

# moto's switches for checking what RunInstances is given, as real EC2 does.
STRICT_ENV = {
    "MOTO_ENABLE_AMI_VALIDATION": "true",
    "MOTO_ENABLE_KEYPAIR_VALIDATION": "true",
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
}


class MotoError(RuntimeError):
    """The server could not be started, reset or stopped."""


def moto_executable() -> Path:
    """`moto_server` from the environment this interpreter runs in."""
    path = Path(sys.executable).parent / "moto_server"
    if not path.exists():
        raise MotoError(f"{path} not found: install moto[server] into this environment")
    return path


@dataclass
class MotoServer:
    port: int
    strict: bool = True
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        env = dict(os.environ)
        if self.strict:
            env.update(STRICT_ENV)
        with contextlib.ExitStack() as stack:
            log: IO[bytes] | int = subprocess.DEVNULL
            if self.log_path is not None:
                log = stack.enter_context(self.log_path.open("ab"))
            self._process = subprocess.Popen(  # noqa: S603 - moto_server from our own environment
                [str(moto_executable()), "-H", "127.0.0.1", "-p", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_answering(
            self._process,
            lambda: http_ok(f"{self.url}/moto-api/data.json"),
            timeout,
            exited=lambda code: MotoError(f"moto_server exited with {code} (port {self.port} taken?)"),
            silent=lambda: MotoError(f"moto_server not answering on {self.url} after {timeout}s"),
            stop=self.stop,
        )

    def reset(self) -> None:
        """Forget every resource in every account and region."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 - loopback
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback URL we built
                if answer.status != 200:
                    raise MotoError(f"reset answered {answer.status}")
        except (urllib.error.URLError, OSError) as exc:
            raise MotoError(f"reset failed: {exc}") from exc

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process)

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


__all__ = ["STRICT_ENV", "MotoError", "MotoServer", "moto_executable"]
