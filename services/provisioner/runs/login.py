"""The account runs log in as, made on every instance launched from a template: one more `#cloud-config` part of its
boot user data, after the template's own scripts. No I/O here.

The part makes the user `LOGIN_USER` (passwordless sudo, password locked) authorized with the project's public key,
beside the image's default user. It merges into whatever cloud-config the template's boot scripts bring by appending
to their lists and keeping their values (cloud-init's `merge_how` on this part: without it a later part's `users`
list would replace an earlier one's), so a template's own `users` stay as they are.
"""

from __future__ import annotations

import functools

import yaml

from services.provisioner.runs.domain import LOGIN_USER
from services.provisioner.templates.boot import BootPart

# cloud-init names the part's file by it; it sorts after the numbered boot scripts.
FILENAME = "zz-clanavi-login"


# A project's key never changes once made: its part is rendered once, not at every launch.
@functools.lru_cache(maxsize=256)
def cloud_config(public_key: str) -> str:
    config = {
        "merge_how": [
            {"name": "list", "settings": ["append"]},
            {"name": "dict", "settings": ["no_replace", "recurse_list"]},
        ],
        "users": [
            "default",
            {
                "name": LOGIN_USER,
                "gecos": "Clanavi script runs",
                "shell": "/bin/sh",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "lock_passwd": True,
                "ssh_authorized_keys": [public_key],
            },
        ],
    }
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False, width=4096)


def boot_part(public_key: str) -> BootPart:
    return BootPart(FILENAME, cloud_config(public_key))


__all__ = ["FILENAME", "boot_part", "cloud_config"]
