"""An XCP-ng / XenServer cloud account's settings: where xapi listens, who logs in, which SR and network, sizes."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from adapters.kit import FlavorConfig, FlavorLimits

# Xen's limit of vCPUs per guest is 512 for PV guests (128 for HVM ones, HVM_MAX_VCPUS); a flavor without a disk size
# keeps its template's.
LIMITS = FlavorLimits(max_vcpus=512, min_disk_gb=0)
DEFAULT_FLAVORS = LIMITS.defaults("xcp")


class XcpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The pool master's XML-RPC endpoint, e.g. https://xcp-master.example/
    url: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr
    flavors: Annotated[tuple[FlavorConfig, ...], AfterValidator(LIMITS.check)] = DEFAULT_FLAVORS
    # The storage repository (name label) that holds volumes; by default the pool's default SR.
    sr: str | None = None
    # The network (name label) new instances get a VIF on; None: no VIF.
    network: str | None = None
    # Accept a self-signed certificate on an https:// url (XCP-ng's default one).
    ignore_ssl: bool = False
