"""The routes of key pairs, security groups, volumes, snapshots, addresses and images made from instances: parse,
call a handler, shape the answer. Reached only through the gateway.

A write answers 201 (created) or 200 (other actions) when the cloud call completed in the request, and 202 when the
cloud did not answer and the worker finishes the action (the record shows it pending).
"""

from services.provisioner.resources.api import addresses, images, key_pairs, security_groups, snapshots, volumes

# In the order they match.
ROUTERS = (
    key_pairs.router,
    security_groups.router,
    volumes.router,
    snapshots.router,
    addresses.router,
    images.router,
)

__all__ = ["ROUTERS"]
