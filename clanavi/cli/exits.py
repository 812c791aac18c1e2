"""How a command ends: its exit status, and the one line on stderr that says what went wrong (never a traceback)."""

from __future__ import annotations

import enum
import re

import typer
from pydantic import ValidationError

from clanavi.client import (
    ApiError,
    ClientError,
    ConfigurationError,
    ConnectionFailed,
    InvalidAnswer,
    Unauthorized,
    WaitFailed,
    WaitTimeout,
)

__all__ = ["EXIT_CODES_HELP", "Exit", "Refused", "failure"]


class Exit(enum.IntEnum):
    DONE = 0
    # The API refused the request, or what was asked for failed (an instance ended in error).
    API_ERROR = 1
    # The command line is wrong or incomplete: an unknown option, a missing argument, a value the API's models
    # refuse before anything is sent, no URL to call.
    USAGE = 2
    # `--wait` ran out of `--timeout`: what was asked for may still happen.
    TIMED_OUT = 3
    INTERRUPTED = 130


EXIT_CODES_HELP = (
    "Exit status: 0 done; 1 the API refused the request or what was asked for failed; 2 usage error; "
    "3 timed out waiting (--wait, --timeout)."
)


class Refused(Exception):
    """A command's own refusal, said in one line, with its exit status."""

    def __init__(self, line: str, status: Exit = Exit.USAGE) -> None:
        super().__init__(line)
        self.status = status


# Control characters (a newline among them) would break the one line, or drive the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def one_line(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _fields(error: ValidationError) -> str:
    parts = []
    for each in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in each["loc"]) or "value"
        parts.append(f"{where}: {each['msg']}")
    return "; ".join(parts)


def failure(error: BaseException) -> tuple[Exit, str] | None:
    """The exit status and line of an error a command may end with; None for one that is a bug (shown whole)."""
    if isinstance(error, Refused):
        return error.status, str(error)
    if isinstance(error, typer.TyperException):
        # typer's own: a usage error (exit status 2, with the command it is about) or another it raised.
        context = getattr(error, "ctx", None)
        # The command it is about, without the program's name every line starts with.
        path = context.command_path.partition(" ")[2] if context is not None else ""
        where = f"{path}: " if path else ""
        status = Exit.USAGE if error.exit_code == Exit.USAGE else Exit.API_ERROR
        return status, f"{where}{error.format_message()} (see --help)"
    if isinstance(error, ApiError):
        line = str(error)
        if error.correlation_id:
            line += f" [correlation id {error.correlation_id}]"
        if isinstance(error, Unauthorized):
            line += "; log in with `clanavi login`"
        return Exit.API_ERROR, line
    if isinstance(error, WaitTimeout):
        return Exit.TIMED_OUT, f"timed out waiting: {error}"
    if isinstance(error, WaitFailed):
        return Exit.API_ERROR, str(error)
    if isinstance(error, ConnectionFailed):
        return Exit.API_ERROR, f"no answer from the API: {error}"
    if isinstance(error, InvalidAnswer):
        return Exit.API_ERROR, str(error)
    if isinstance(error, ConfigurationError):
        return Exit.USAGE, str(error)
    if isinstance(error, ClientError):
        return Exit.API_ERROR, str(error)
    if isinstance(error, ValidationError):
        return Exit.USAGE, f"invalid input: {_fields(error)}"
    if isinstance(error, KeyboardInterrupt | typer.Abort):
        return Exit.INTERRUPTED, "interrupted"
    return None
