"""The user-data scripts of a boot as cloud-init 24.1's final stage runs them, and what that prints on the console.

cloud-init writes each shell part of the user data to a directory by its frequency and names it by the part's
filename (`part-NNN` when it has none; `util.clean_filename` rules). Its final stage then runs the directories in
module order, `scripts_per_once`, `scripts_per_boot`, `scripts_per_instance`, `scripts_user` (`cloud.cfg`), each
with `subp.runparts`: every executable file, sorted by name, the script's output going to the console. A script
that exits non-zero does not stop the others; runparts logs it at debug level only (since cloud-init 20.3: the
console never names the script that failed, nor its status), then the module fails with two warnings on the console:
its own "Failed to run module ..." and `util.logexc`'s "Running module ... failed". Per-instance, per-once and
`text/x-shellscript` scripts run on an instance's first boot only (their modules are per instance); per-boot scripts
run on every boot.

What each script prints and the status it exits with are simulated by `adapters.simcloud.shell`.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass

from adapters.simcloud import multipart, shell

__all__ = ["Printed", "Logged", "final_stage"]


@dataclass(frozen=True, slots=True)
class _Module:
    name: str
    # The directory runparts reads, and how the module's warning names it.
    directory: str
    subdir: str
    every_boot: bool


# In the order `cloud_final_modules` runs them.
_MODULES = (
    _Module("scripts_per_once", "/var/lib/cloud/scripts/per-once", "per-once", every_boot=False),
    _Module("scripts_per_boot", "/var/lib/cloud/scripts/per-boot", "per-boot", every_boot=True),
    _Module("scripts_per_instance", "/var/lib/cloud/scripts/per-instance", "per-instance", every_boot=False),
    _Module("scripts_user", "/var/lib/cloud/instance/scripts", "scripts", every_boot=False),
)
_BY_TYPE = {
    "text/x-shellscript": "scripts_user",
    "text/x-shellscript-per-once": "scripts_per_once",
    "text/x-shellscript-per-boot": "scripts_per_boot",
    "text/x-shellscript-per-instance": "scripts_per_instance",
}
# `util.FN_ALLOWED`: what `clean_filename` keeps of a part's filename once `/` became `_`.
_FILENAME_ALLOWED = frozenset("_-.()" + string.digits + string.ascii_letters)


@dataclass(frozen=True, slots=True)
class Printed:
    """A line a script printed."""

    text: str


@dataclass(frozen=True, slots=True)
class Logged:
    """A warning cloud-init logs to the console; the console gives it the time it was logged."""

    source_file: str
    message: str


def _clean_filename(name: str) -> str:
    return "".join(c for c in name.replace("/", "_") if c in _FILENAME_ALLOWED)


def _scripts(data: str) -> dict[str, list[tuple[str, str]]]:
    """Each module's scripts (filename, body) from user data: the data itself when it is a `#!` script, or each
    shell part of a MIME multipart."""
    if data.partition("\n")[0].strip().startswith("#!"):
        return {"scripts_user": [("part-001", data)]}
    if "mime-version:" not in data[:4096].lower():
        return {}
    found: dict[str, list[tuple[str, str]]] = {}
    for n, part in enumerate(multipart.parts(data), start=1):
        module = _BY_TYPE.get(part.content_type)
        if module is None or part.payload is None:
            continue
        filename = _clean_filename(part.filename or f"part-{n:03d}")
        found.setdefault(module, []).append((filename, part.payload.decode(errors="replace")))
    return found


def _lines(text: str) -> list[Printed]:
    return [Printed(line) for line in text.removesuffix("\n").split("\n")] if text else []


def final_stage(data: str | None, *, first_boot: bool) -> list[Printed | Logged]:
    """What running the user data's scripts prints in the final stage of a boot, in order."""
    return list(_final_stage(data or "", first_boot))


# A console is rendered whole on every read, and its scripts print the same each time: an instance's boot is
# followed by reading its console again and again.
@functools.lru_cache(maxsize=256)
def _final_stage(data: str, first_boot: bool) -> tuple[Printed | Logged, ...]:
    scripts = _scripts(data)
    out: list[Printed | Logged] = []
    for module in _MODULES:
        if not (first_boot or module.every_boot):
            continue
        failed = False
        # runparts keeps the last of two parts with the same file name: the file was written twice.
        for _, body in sorted(dict(scripts.get(module.name, ())).items()):
            ran = shell.run(body.lstrip(" \t"))
            out += _lines(ran.output)
            failed = failed or ran.status != 0
        if failed:
            path = f"/usr/lib/python3/dist-packages/cloudinit/config/cc_{module.name}.py"
            out += [
                Logged(
                    f"cc_{module.name}.py",
                    f"Failed to run module {module.name} ({module.subdir} in {module.directory})",
                ),
                Logged(
                    "util.py",
                    f"Running module {module.name} (<module 'cloudinit.config.cc_{module.name}' from '{path}'>) failed",
                ),
            ]
    return tuple(out)
