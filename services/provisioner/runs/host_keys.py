"""The SSH host keys an instance printed on its console, as cloud-init prints them (`cc_keys_to_console`, through its
`write-ssh-key-fingerprints` helper), read to pin the keys a run accepts. No I/O here.

cloud-init writes two blocks once per instance: the fingerprints, through `logger -s`, so each line carries a
syslog prefix (`<14>Dec  3 10:00:00 cloud-init: 256 SHA256:... root@host (ED25519)`), between `#` rules; then the
public keys themselves, as `cat` prints the `.pub` files, between `-----BEGIN SSH HOST KEY KEYS-----` and
`-----END SSH HOST KEY KEYS-----`. A serial console interleaves other lines (kernel messages, systemd), and older
images prefix theirs (`ec2: `): a marker or key is found anywhere in its line, and lines that are neither are noise.

The last complete block of each kind counts. A block whose start was cut off (clouds keep the last 64 KiB of a
console) or whose end has not been printed yet counts as absent: what it holds may be partial. With a keys block, its
keys are pinned, and a fingerprints block that lists a fingerprint for a key type must list the key's (otherwise
the console contradicts itself and nothing is pinned); with only a fingerprints block, its SHA256 fingerprints are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncssh

FINGERPRINTS = ("-----BEGIN SSH HOST KEY FINGERPRINTS-----", "-----END SSH HOST KEY FINGERPRINTS-----")
KEYS = ("-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----")
# The host key types OpenSSH serves, and the word `ssh-keygen -l` puts in brackets after each fingerprint.
_KEY = re.compile(
    r"(?:^|\s)(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|"
    r"sk-ecdsa-sha2-nistp256@openssh\.com) ([A-Za-z0-9+/]+={0,2})(?:\s|$)"
)
_FINGERPRINT = re.compile(r"(?:^|\s)\d+ (SHA256:[A-Za-z0-9+/]{43})\s.*\((\w+(?:-SK)?)\)\s*$")
_LABELS = {
    "ssh-ed25519": "ED25519",
    "ssh-rsa": "RSA",
    "ssh-dss": "DSA",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ecdsa-sha2-nistp384": "ECDSA",
    "ecdsa-sha2-nistp521": "ECDSA",
    "sk-ssh-ed25519@openssh.com": "ED25519-SK",
    "sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK",
}


class Unpinned(Exception):
    """No host key can be pinned from the console; `problem` is the problem code a run fails with."""

    def __init__(self, problem: str, reason: str) -> None:
        super().__init__(reason)
        self.problem = problem
        self.reason = reason


@dataclass(frozen=True, slots=True)
class HostKeys:
    """What a run accepts: these keys, or (printed as fingerprints only) a key of one of these fingerprints."""

    keys: tuple[asyncssh.SSHKey, ...]
    fingerprints: frozenset[str]

    def accepts(self, key: asyncssh.SSHKey) -> bool:
        return key.get_fingerprint("sha256") in self.fingerprints


def _blocks(lines: list[str], markers: tuple[str, str]) -> list[str] | None:
    """The lines of the last complete block between `markers`, or None."""
    begin, end = markers
    found: list[str] | None = None
    current: list[str] | None = None
    for line in lines:
        if line.rstrip().endswith(begin):
            current = []
        elif line.rstrip().endswith(end):
            if current is not None:
                found = current
            current = None
        elif current is not None:
            current.append(line)
    return found


def _keys(lines: list[str]) -> list[asyncssh.SSHKey]:
    keys = []
    for line in lines:
        match = _KEY.search(line)
        if match is None:
            continue
        try:
            key = asyncssh.import_public_key(f"{match.group(1)} {match.group(2)}")
        except (asyncssh.KeyImportError, ValueError):
            continue  # garbled on the way (a serial line can lose bytes): not a key that can be pinned
        if key.get_algorithm() == match.group(1) and key not in keys:
            keys.append(key)
    return keys


def _fingerprints(lines: list[str]) -> dict[str, set[str]]:
    """SHA256 fingerprints by key type label (MD5 ones, from old images, cannot pin anything and are left out)."""
    found: dict[str, set[str]] = {}
    for line in lines:
        match = _FINGERPRINT.search(line)
        if match is not None:
            found.setdefault(match.group(2), set()).add(match.group(1))
    return found


def pinned(console: str) -> HostKeys:
    """The host keys the console shows; raises Unpinned when it shows none (or contradicts itself)."""
    lines = console.splitlines()
    key_lines = _blocks(lines, KEYS)
    fingerprint_lines = _blocks(lines, FINGERPRINTS)
    listed = _fingerprints(fingerprint_lines) if fingerprint_lines is not None else {}
    keys = _keys(key_lines) if key_lines is not None else []
    if keys:
        for key in keys:
            label = _LABELS.get(key.get_algorithm(), "")
            if label in listed and key.get_fingerprint("sha256") not in listed[label]:
                raise Unpinned(
                    "host_keys_inconsistent",
                    f"the console's {label} host key and its fingerprint differ: the host keys cannot be trusted",
                )
        return HostKeys(tuple(keys), frozenset(k.get_fingerprint("sha256") for k in keys))
    if listed:
        return HostKeys((), frozenset(f for found in listed.values() for f in found))
    raise Unpinned(
        "host_keys_unknown",
        "the instance's console shows no SSH host keys (cloud-init prints them at the end of the first boot; the "
        "console may not have shown them yet, or no longer keeps them)",
    )


__all__ = ["FINGERPRINTS", "KEYS", "HostKeys", "Unpinned", "pinned"]
