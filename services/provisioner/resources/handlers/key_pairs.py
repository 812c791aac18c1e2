"""Use cases of key pairs: create one (the cloud generates it; its private key is in this answer only) or import a
public key; deleting one is a plain action (`flow.act_plainly`)."""

from __future__ import annotations

import base64
import binascii

from kernel.errors import ValidationFailed
from services.provisioner.resources.handlers.flow import Outcome, Ports, create, new_record, owned_cloud

_KEY_TYPES = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def check_public_key(public_key: str) -> str:
    """An OpenSSH public key line, stripped; ValidationFailed when it is not one."""
    parts = public_key.strip().split()
    valid = len(parts) >= 2 and parts[0] in _KEY_TYPES
    if valid:
        try:
            blob = base64.b64decode(parts[1], validate=True)
            valid = blob[4 : 4 + len(parts[0])] == parts[0].encode()
        except (binascii.Error, ValueError):
            valid = False
    if not valid:
        raise ValidationFailed(
            "The public key is not an OpenSSH public key.",
            errors=[{"location": "body.public_key", "message": f"expected '<type> <base64> [comment]', {_KEY_TYPES}"}],
        )
    return " ".join(parts)


async def create_key_pair(ports: Ports, *, project_id: str, cloud_id: str, name: str, correlation_id: str) -> Outcome:
    await owned_cloud(ports, project_id, cloud_id, "create_key_pair")
    record = new_record("key_pair", project_id=project_id, cloud_id=cloud_id, name=name, correlation_id=correlation_id)
    return await create(ports, record)


async def import_key_pair(
    ports: Ports, *, project_id: str, cloud_id: str, name: str, public_key: str, correlation_id: str
) -> Outcome:
    cloud = await owned_cloud(ports, project_id, cloud_id)
    key = check_public_key(public_key)
    await ports.clouds.require(cloud, "import_key_pair")
    record = new_record(
        "key_pair",
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        correlation_id=correlation_id,
        pending={"public_key": key},
        action="import",
    )
    return await create(ports, record)


__all__ = ["check_public_key", "create_key_pair", "import_key_pair"]
