"""The project's quotas in each service, at the services' own defaults, and a rate limit in front of Nova.

Defaults: nova/conf/quota.py (instances 10, cores 20, ram 51200 MB, metadata_items 128, key_pairs 100),
neutron/conf/quota.py (security_group 10, security_group_rule 100, floatingip 50) and cinder/quota.py (volumes 10,
snapshots 10, gigabytes 1000). Each check raises the error its service answers (see `faults`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.standins.openstack.faults import (
    HttpError,
    cinder_over_quota,
    fault,
    neutron_over_quota,
    nova_over_quota,
)


@dataclass
class Quotas:
    instances: int = 10
    cores: int = 20
    ram: int = 50 * 1024
    metadata_items: int = 128
    key_pairs: int = 100
    security_group: int = 10
    security_group_rule: int = 100
    floatingip: int = 50
    volumes: int = 10
    snapshots: int = 10
    gigabytes: int = 1000

    def check_server(self, servers: int, cores: int, ram: int, flavor: dict[str, int], metadata: int) -> None:
        """One more server of `flavor` beside `servers` using `cores` and `ram` (nova.compute.api's
        TooManyInstances, MetadataLimitExceeded: 403 from the servers API)."""
        if metadata > self.metadata_items:
            raise nova_over_quota(f"Maximum number of metadata items exceeds {self.metadata_items}")
        for resource, used, asked, allowed in (
            ("instances", servers, 1, self.instances),
            ("cores", cores, flavor["vcpus"], self.cores),
            ("ram", ram, flavor["ram"], self.ram),
        ):
            if used + asked > allowed:
                raise nova_over_quota(
                    f"Quota exceeded for {resource}: Requested {asked}, but already used {used} of {allowed} {resource}"
                )

    def check_key_pair(self, key_pairs: int) -> None:
        if key_pairs + 1 > self.key_pairs:
            raise nova_over_quota("Quota exceeded, too many key pairs.")

    def check_neutron(self, resource: str, used: int, asked: int = 1) -> None:
        """`resource` is Neutron's quota name: security_group, security_group_rule, floatingip."""
        if used + asked > getattr(self, resource):
            raise neutron_over_quota(resource)

    def check_volume(self, volumes: int, gigabytes: int, size: int) -> None:
        if volumes + 1 > self.volumes:
            raise cinder_over_quota(f"Maximum number of volumes allowed ({self.volumes}) exceeded for quota 'volumes'.")
        self._check_gigabytes(gigabytes, size)

    def check_snapshot(self, snapshots: int, gigabytes: int, size: int) -> None:
        if snapshots + 1 > self.snapshots:
            raise cinder_over_quota(f"Maximum number of snapshots allowed ({self.snapshots}) exceeded")
        self._check_gigabytes(gigabytes, size)

    def _check_gigabytes(self, gigabytes: int, size: int) -> None:
        if gigabytes + size > self.gigabytes:
            raise cinder_over_quota(
                f"Requested volume or snapshot exceeds allowed gigabytes quota. Requested {size}G, quota is "
                f"{self.gigabytes}G and {gigabytes}G has been consumed."
            )


@dataclass
class RateLimit:
    """Nova's rate limiting (a front end, or the limits middleware Nova had): the next `remaining` compute requests
    are refused with `status` (429, or 413 as older Nova said it), telling the client to wait `retry_after`
    seconds."""

    remaining: int = 0
    status: int = 429
    retry_after: int = 1

    def check(self) -> None:
        if self.remaining > 0:
            self.remaining -= 1
            raise self.refusal()

    def refusal(self) -> HttpError:
        return fault(self.status, "This request was rate-limited.", retry_after=self.retry_after)


__all__ = ["Quotas", "RateLimit"]
