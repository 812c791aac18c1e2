"""The lines a rendered boot shell script prints about itself, so that its console tells when it started and how it
ended: cloud-init 24.1 prints neither (runparts logs a failing script at debug level only, and the module's warning
names no script).

One line goes after the shebang:

    echo 'clanavi: boot script 01-<id>-v1 started'; trap 'echo "clanavi: boot script 01-<id>-v1 exited with $?"' EXIT

It changes nothing of what the script does: the shebang stays, no shell option is set, `echo` cannot fail the
script, and an EXIT trap does not change the exit status (POSIX restores `$?` after the action). A script that sets
its own EXIT trap replaces this one, and one that sends its output elsewhere (`exec > file`) sends the exit line
with it: then the script's end and outcome come from cloud-init's own lines (see `progress`). Only scripts for a
POSIX shell are marked (`kernel.shebang.SHELLS`); the line shifts the script's line numbers by one.
"""

from __future__ import annotations

import re

from kernel.shebang import is_shell_script

__all__ = ["EXITED", "PREFIX", "STARTED", "mark", "marked"]

PREFIX = "clanavi: boot script"
# A filename Clanavi gives a part is made of these, so it needs no quoting in the marker line.
_FILENAME = re.compile(r"[A-Za-z0-9._-]+")
STARTED = re.compile(rf"{PREFIX} ({_FILENAME.pattern}) started\s*$")
EXITED = re.compile(rf"{PREFIX} ({_FILENAME.pattern}) exited with (\d+)\s*$")


def marked(filename: str, body: str) -> bool:
    """Whether a boot script gets the marker line: a script for a POSIX shell, with a filename of Clanavi's."""
    first = body.partition("\n")[0]
    return is_shell_script(first) and _FILENAME.fullmatch(filename) is not None


def mark(filename: str, body: str) -> str:
    """The body with the marker line after its shebang (unchanged when it is not a shell script)."""
    if not marked(filename, body):
        return body
    shebang, _, rest = body.partition("\n")
    started = f"echo '{PREFIX} {filename} started'"
    exited = f"trap 'echo \"{PREFIX} {filename} exited with $?\"' EXIT"
    return f"{shebang}\n{started}; {exited}\n{rest}"
