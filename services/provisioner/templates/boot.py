"""Boot scripts into cloud-init user data: placeholders filled with the resolved inputs, then one MIME multipart
message with a part per script, in order (cloud-init runs `text/x-shellscript-per-instance` parts once per instance
and applies `text/cloud-config` parts). When the message is larger than the cloud takes, it is gzip-compressed
(cloud-init unpacks gzip user data itself); when even that is too large, the launch is refused.

Placeholders are `{{ name }}` (spaces optional); every one must name a declared input. Other braces are left as they
are. A shell script gets one line after its shebang that prints when it starts and how it ends
(`services.provisioner.boot.markers`), which is how the instance's `boot` section follows it. No I/O here.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kernel.errors import ValidationFailed
from services.provisioner.boot import markers
from services.provisioner.boot.progress import Kind
from services.provisioner.templates.inputs import Value, rendered

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# Cloud-init's part types for the two kinds of body a script may have.
SHELL_PART = "x-shellscript-per-instance"
CLOUD_CONFIG_PART = "cloud-config"
# A part's file name, as `plan_launch` makes them (`01-<script id>-v3`): a MIME token, so it needs no quoting rules
# beyond the plain quoted string.
_FILENAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Where the standard library's generator folds a header line (RFC 5322's recommended length).
_MAX_HEADER_LINE = 78
# Every line ending of a body becomes LF, as the standard library's generator writes it.
_LINE_END = re.compile(r"\r\n|\r")


def referenced(body: str) -> list[str]:
    """The input names a body's placeholders name, in order of first use."""
    names: list[str] = []
    for match in PLACEHOLDER.finditer(body):
        if match.group(1) not in names:
            names.append(match.group(1))
    return names


def fill(body: str, values: Mapping[str, Value]) -> str:
    """The body with each placeholder replaced by its input's value, as is (a script quotes what it needs quoted); an
    optional input nobody set is empty."""
    return PLACEHOLDER.sub(lambda m: rendered(values[m.group(1)]) if m.group(1) in values else "", body)


def part_type(body: str) -> str:
    return CLOUD_CONFIG_PART if body.startswith("#cloud-config") else SHELL_PART


@dataclass(frozen=True, slots=True)
class BootPart:
    """One boot script as it goes to the instance: a file name (cloud-init names the script on disk by it) and its
    filled body."""

    filename: str
    body: str


def marked_part(filename: str, body: str) -> BootPart:
    """A filled boot script as it goes to the instance, a shell script with its marker line."""
    return BootPart(filename, markers.mark(filename, body))


def part_kind(part: BootPart) -> Kind:
    """How the instance's boot section follows the part (see `services.provisioner.boot.progress.Part`)."""
    if part_type(part.body) == CLOUD_CONFIG_PART:
        return "cloud-config"
    return "shell" if markers.marked(part.filename, part.body) else "script"


def _boundary(parts: Sequence[BootPart]) -> str:
    """A boundary that none of the bodies contains (a value set at launch could otherwise add parts of its own),
    drawn from the bodies so the same scripts and inputs render the same bytes every time."""
    digest = hashlib.sha256("\0".join(p.body for p in parts).encode()).hexdigest()
    boundary = f"==clanavi-{digest[:32]}=="
    while any(boundary in p.body for p in parts):
        boundary = f"==clanavi-{hashlib.sha256(boundary.encode()).hexdigest()[:32]}=="
    return boundary


def _header(name: str, value: str, param: str) -> str:
    """A header with one parameter, folded before the parameter when the line would be too long."""
    line = f"{name}: {value}; {param}\n"
    return line if len(line) - 1 <= _MAX_HEADER_LINE else f"{name}: {value};\n {param}\n"


def multipart(parts: Sequence[BootPart]) -> bytes:
    """The MIME multipart message of the parts: the bytes the standard library's `email` package writes for a
    `multipart/mixed` of `MIMEText` parts (utf-8, 8bit: they travel as they are, a third smaller than base64 and
    readable where cloud-init keeps them), written directly, since its generator cost more than the rest of a
    launch from a template."""
    boundary = _boundary(parts)
    out = [_header("Content-Type", "multipart/mixed", f'boundary="{boundary}"'), "MIME-Version: 1.0\n\n"]
    for n, part in enumerate(parts):
        if _FILENAME.fullmatch(part.filename) is None:
            raise ValueError(f"not a boot part's file name: {part.filename!r}")
        body = _LINE_END.sub("\n", part.body)
        out += [
            f"--{boundary}\n" if n == 0 else f"\n--{boundary}\n",
            f'Content-Type: text/{part_type(part.body)}; charset="utf-8"\n',
            "MIME-Version: 1.0\n",
            f"Content-Transfer-Encoding: {'7bit' if body.isascii() else '8bit'}\n",
            _header("Content-Disposition", "attachment", f'filename="{part.filename}"'),
            "\n",
            body,
        ]
    if not parts:
        out.append(f"--{boundary}\n")
    out.append(f"\n--{boundary}--\n")
    return "".join(out).encode()


def user_data(parts: Sequence[BootPart], limit: int) -> bytes:
    """The user data of the boot parts, compressed when it does not fit `limit` bytes; raises ValidationFailed (422)
    when even compressed it does not."""
    data = multipart(parts)
    if len(data) <= limit:
        return data
    # mtime=0: the same input compresses to the same bytes.
    packed = gzip.compress(data, mtime=0)
    if len(packed) <= limit:
        return packed
    raise ValidationFailed(
        f"The boot scripts make {len(data)} bytes of user data, {len(packed)} compressed; the cloud takes {limit}.",
        errors=[{"location": "body.template_id", "message": f"boot scripts too large for the cloud ({limit} bytes)"}],
    )


__all__ = [
    "CLOUD_CONFIG_PART",
    "PLACEHOLDER",
    "SHELL_PART",
    "BootPart",
    "fill",
    "part_kind",
    "multipart",
    "referenced",
    "marked_part",
    "user_data",
]
