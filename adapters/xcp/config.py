"""An XCP-ng / XenServer cloud account's settings: where xapi listens, who logs in, which SR and network, sizes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class FlavorConfig(BaseModel):
    """A size offered on this pool; XAPI itself has no notion of flavors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    vcpus: int = Field(ge=1, le=512)
    ram_mb: int = Field(ge=64, le=16 * 1024 * 1024)
    disk_gb: int = Field(ge=0, le=64 * 1024)


DEFAULT_FLAVORS = (
    FlavorConfig(id="xcp.small", name="small", vcpus=1, ram_mb=1024, disk_gb=10),
    FlavorConfig(id="xcp.medium", name="medium", vcpus=2, ram_mb=4096, disk_gb=20),
    FlavorConfig(id="xcp.large", name="large", vcpus=4, ram_mb=8192, disk_gb=40),
)


class XcpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The pool master's XML-RPC endpoint, e.g. https://xcp-master.example/
    url: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr
    flavors: tuple[FlavorConfig, ...] = DEFAULT_FLAVORS
    # The storage repository (name label) that holds volumes; by default the pool's default SR.
    sr: str | None = None
    # The network (name label) new instances get a VIF on; None: no VIF.
    network: str | None = None
    # Accept a self-signed certificate on an https:// url (XCP-ng's default one).
    ignore_ssl: bool = False

    @model_validator(mode="after")
    def _check(self) -> XcpConfig:
        ids = [f.id for f in self.flavors]
        if not ids:
            raise ValueError("at least one flavor is needed")
        if len(set(ids)) != len(ids):
            raise ValueError("flavor ids must be unique")
        return self
