"""A libvirt cloud account's settings: which hypervisor, which storage pool and network, which sizes."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from adapters.kit import FlavorConfig, FlavorLimits

# KVM's limit of vCPUs per guest (KVM_MAX_VCPUS, 1024 on x86-64 since Linux 5.15); a root disk is cloned from the
# image into at least the flavor's size, so a flavor has one.
LIMITS = FlavorLimits(max_vcpus=1024, min_disk_gb=1)
DEFAULT_FLAVORS = LIMITS.defaults("lv")


class LibvirtConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Any libvirt URI: qemu+ssh://host/system, qemu:///system, test+unix:///default?socket=...
    uri: str = Field(min_length=1)
    # The storage pool that holds images, root disks, volumes and snapshots.
    pool: str = "default"
    # The libvirt network instances are plugged into.
    network: str = "default"
    flavors: Annotated[tuple[FlavorConfig, ...], AfterValidator(LIMITS.check)] = DEFAULT_FLAVORS
    # Volumes in the pool whose name starts with this are images; the rest of the name is the image's name.
    image_prefix: str = Field(default="image-", min_length=1)
    # Names of the domains, root disks, volumes and snapshots Clanavi creates start with this.
    prefix: str = Field(default="clanavi-", min_length=1)
    # image id -> operating system, for `Image.os`; images not named here read "unknown".
    image_os: dict[str, str] = Field(default_factory=dict)
    # <domain type=...>: "kvm", "qemu", "xen"...; by default "test" on the test driver and "kvm" elsewhere.
    domain_type: str | None = None
    # The single zone (and region) of this host; by default the hypervisor's host name.
    zone: str | None = None
    region: str | None = None
    # How long a stop waits for the guest to power off after the ACPI shutdown request...
    shutdown_timeout_seconds: float = Field(default=60.0, ge=0, le=3600)
    # ...and whether it then pulls the plug (virDomainDestroy) rather than answer "stopping".
    force_stop_after_timeout: bool = True
    # Format of new, empty volumes ("qcow2" on file pools; None lets the pool choose, as LVM pools need).
    volume_format: str | None = "qcow2"
    # CPU utilisation is measured over two samples of the domain's CPU time this far apart, when the adapter has
    # no recent sample of its own.
    metrics_interval_seconds: float = Field(default=1.0, gt=0, le=60)

    @model_validator(mode="after")
    def _check(self) -> LibvirtConfig:
        if self.image_prefix.startswith(self.prefix) or self.prefix.startswith(self.image_prefix):
            raise ValueError("image_prefix and prefix must not start with one another")
        return self
