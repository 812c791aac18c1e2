"""The parts of MIME multipart user data, as the standard library's `email` package reads them (cloud-init reads user
data with it): each leaf part's content type, file name and decoded payload.

A guest's console is rendered from its user data, so SimCloud reads it at least once per boot; the `email` parser
took 0.7 ms of the 2 ms a console with five boot scripts cost. The plain form that Clanavi's launches and most tools
write (a `multipart/mixed` of `text/*` parts with a quoted file name, 7bit or 8bit, ASCII, LF line ends, nothing
before the first boundary or after the last) is split here directly, to the same result; anything else is read by
`email` as before.
"""

from __future__ import annotations

import email
import re
from typing import NamedTuple

__all__ = ["Part", "parts"]


class Part(NamedTuple):
    content_type: str
    filename: str | None
    # None when it does not decode to bytes (`get_payload(decode=True)` answers something else).
    payload: bytes | None


# RFC 2046's boundary characters, without the space (a boundary ending in one needs more care than is worth it).
_TOP_TYPE = re.compile(r"""multipart/mixed;\s*boundary="([0-9A-Za-z'()+_,./:=?-]{1,70})"\s*""")
_PART_TYPE = re.compile(r"""(text/[0-9a-z.+-]+)(?:;\s*charset="?[0-9A-Za-z_-]+"?)?\s*""")
# Nothing `email` would unquote or split on.
_DISPOSITION = re.compile(r"""attachment;\s*filename="([^"\\<>;]*)"\s*""")
_ENCODINGS = frozenset({"7bit", "8bit"})
_TOP_HEADERS = frozenset({"content-type", "mime-version"})
_PART_HEADERS = frozenset({"content-type", "mime-version", "content-transfer-encoding", "content-disposition"})


def _headers(block: str, allowed: frozenset[str]) -> dict[str, str] | None:
    """Header fields by lower-cased name, folded lines unfolded; None for anything the plain form does not hold."""
    fields: dict[str, str] = {}
    name = ""
    for line in block.split("\n"):
        if line[:1] in (" ", "\t"):
            if not name:
                return None
            fields[name] += line
            continue
        key, colon, value = line.partition(":")
        name = key.lower()
        if not colon or name not in allowed or name in fields or key != key.strip():
            return None
        fields[name] = value
    return fields


def _plain(data: str) -> list[Part] | None:
    if not data.isascii() or "\r" in data:
        return None
    head, blank, body = data.partition("\n\n")
    top = _headers(head, _TOP_HEADERS) if blank else None
    if top is None or "content-type" not in top:
        return None
    found = _TOP_TYPE.fullmatch(top["content-type"].strip())
    if found is None:
        return None
    delimiter = f"--{found.group(1)}"
    opening, closing = f"{delimiter}\n", f"\n{delimiter}--\n"
    if not body.startswith(opening) or not body.endswith(closing):
        return None
    chunks = body[len(opening) : -len(closing)].split(f"\n{delimiter}\n")
    # The delimiter nowhere else, not even inside a line: `email` would then see more (or fewer) parts.
    if data.count(delimiter) != len(chunks) + 1:
        return None
    out = []
    for chunk in chunks:
        head, blank, payload = chunk.partition("\n\n")
        fields = _headers(head, _PART_HEADERS) if blank else None
        if fields is None:
            return None
        kind = _PART_TYPE.fullmatch(fields.get("content-type", "").strip())
        named = _DISPOSITION.fullmatch(fields.get("content-disposition", "").strip())
        encoding = fields.get("content-transfer-encoding", "7bit").strip().lower()
        if kind is None or named is None or encoding not in _ENCODINGS:
            return None
        out.append(Part(kind.group(1), named.group(1).strip(), payload.encode()))
    return out


def parts(data: str) -> list[Part]:
    """The leaf parts of MIME user data, in order."""
    plain = _plain(data)
    if plain is not None:
        return plain
    read = email.message_from_string(data).walk()
    out = []
    for part in read:
        if part.get_content_maintype() == "multipart":
            continue
        payload = part.get_payload(decode=True)
        out.append(Part(part.get_content_type(), part.get_filename(), payload if isinstance(payload, bytes) else None))
    return out
