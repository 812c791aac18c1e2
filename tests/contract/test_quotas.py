"""Quotas: what an account reports of its limits counts the instances it runs.

The limits themselves are the cloud's (a project's quota, a host's CPUs and memory, a setting, or none); what every
adapter that reports them must get right is that a running instance is counted in what is used, with its flavor's
vCPUs and RAM, and that a limit is never below zero.
"""

from __future__ import annotations

import pytest

from adapters.base import Feature, Limit, Quotas
from tests.contract.cloud import ContractCloud
from tests.contract.helpers import Cleanup, running_instance


def _well_formed(quotas: Quotas) -> None:
    assert isinstance(quotas, Quotas), f"quotas answered a {type(quotas).__name__}"
    for name in ("instances", "vcpus", "ram_mb"):
        limit = getattr(quotas, name)
        assert isinstance(limit, Limit), f"{name}: {limit!r}"
        assert limit.used >= 0 and (limit.limit is None or limit.limit >= 0), f"{name}: {limit!r}"


@pytest.mark.needs(Feature.INSTANCES, Feature.QUOTAS)
async def test_a_running_instance_is_counted_in_what_is_used(cloud: ContractCloud, cleanup: Cleanup) -> None:
    before = await cloud.adapter.quotas()
    _well_formed(before)
    flavor = await cloud.adapter.get_flavor(cloud.flavor_id)
    await running_instance(cloud, cleanup)
    after = await cloud.adapter.quotas()
    _well_formed(after)
    assert after.instances.used >= before.instances.used + 1
    assert after.vcpus.used >= before.vcpus.used + flavor.vcpus
    assert after.ram_mb.used >= before.ram_mb.used + flavor.ram_mb
