"""Use cases of key pairs, security groups, volumes, snapshots, addresses and images. No FastAPI, no aio-pika.

Every request goes through `flow` (the record, its claim, the cloud call made in the request, the outcome); each
kind's module checks what its requests name first.
"""

from services.provisioner.resources.handlers.addresses import allocate_address, associate_address, create_image
from services.provisioner.resources.handlers.flow import Outcome, Ports, act_plainly, get, page
from services.provisioner.resources.handlers.key_pairs import check_public_key, create_key_pair, import_key_pair
from services.provisioner.resources.handlers.security_groups import (
    authorize_rule,
    create_security_group,
    delete_security_group,
    revoke_rule,
)
from services.provisioner.resources.handlers.volumes import attach_volume, create_snapshot, create_volume

__all__ = [
    "Outcome",
    "Ports",
    "act_plainly",
    "allocate_address",
    "associate_address",
    "attach_volume",
    "authorize_rule",
    "check_public_key",
    "create_image",
    "create_key_pair",
    "create_security_group",
    "create_snapshot",
    "create_volume",
    "delete_security_group",
    "get",
    "import_key_pair",
    "page",
    "revoke_rule",
]
