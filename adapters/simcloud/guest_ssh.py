"""What cloud-init does with a guest's SSH public keys, done to the one OpenSSH server that stands for SimCloud's
guests (`GuestSsh`): the keys of its key pair and of its user data's `#cloud-config` (`ssh_authorized_keys`, at the
top or a user's) are appended to the server's authorized keys file, each once. Only whole, valid OpenSSH public key
lines are written: nothing a user data carries can add options or lines of its own to that file."""

from __future__ import annotations

import fcntl
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from adapters.simcloud import keys, multipart


def _cloud_configs(data: str) -> Iterator[str]:
    if data.startswith("#cloud-config"):
        yield data
    elif "mime-version:" in data[:4096].lower():
        for part in multipart.parts(data):
            if part.content_type == "text/cloud-config" and part.payload is not None:
                yield part.payload.decode(errors="replace")


def _listed(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def user_data_keys(data: str) -> list[str]:
    """The valid public keys the user data's cloud-config parts authorize (others are left out)."""
    found: list[str] = []
    for text in _cloud_configs(data):
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # cloud-init skips a part it cannot parse
        if not isinstance(config, dict):
            continue
        candidates = list(_listed(config.get("ssh_authorized_keys")))
        for user in config.get("users") or []:
            if isinstance(user, dict):
                candidates += _listed(user.get("ssh_authorized_keys"))
        for candidate in candidates:
            try:
                found.append(keys.parse_public(candidate).openssh)
            except keys.BadPublicKey:
                continue
    return found


def authorize(path: str, public_keys: Sequence[str]) -> None:
    """Append the keys the file does not hold yet (blocking; several launches may write at once)."""
    with Path(path).open("a+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        held = {" ".join(line.split()[:2]) for line in file.read().splitlines() if line.strip()}
        new = [k for k in dict.fromkeys(public_keys) if " ".join(k.split()[:2]) not in held]
        if new:
            file.write("".join(f"{k}\n" for k in new))
