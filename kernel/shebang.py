"""What program a script's `#!` line runs it with: both the provisioner (which marks boot shell scripts) and
SimCloud (which simulates what they print) need the same answer."""

from __future__ import annotations

import posixpath

__all__ = ["SHELLS", "interpreter", "is_shell_script"]

# The POSIX-family shells; a script for any other interpreter is not read as shell.
SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh"})


def interpreter(first_line: str) -> str | None:
    """The name of the program a `#!` line runs the script with (through `env` too)."""
    words = first_line[2:].split()
    if words and posixpath.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    return posixpath.basename(words[0]) if words else None


def is_shell_script(first_line: str) -> bool:
    return first_line.startswith("#!") and interpreter(first_line) in SHELLS
