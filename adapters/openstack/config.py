"""An OpenStack cloud account's settings: where Keystone is, who logs in, which project and region."""

from __future__ import annotations

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class OpenStackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Keystone's v3 endpoint, such as https://cloud.example.org:5000/v3.
    auth_url: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: str = Field(min_length=1, repr=False)
    project_name: str = Field(min_length=1)
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    region_name: str = Field(default="RegionOne", min_length=1)
    # Nova's `networks` on launch: "auto" lets Nova pick (or make) the project's network.
    network: str = "auto"
    # Neutron network floating IPs are allocated from; None picks the first external network.
    floating_network: str | None = None
    # Seconds keystoneauth waits for one HTTP answer.
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Certificates (PEM text, one or more) that the cloud's TLS certificates are checked against instead of the
    # system's: for endpoints signed by a private CA. Text rather than a path, as it is stored with the account.
    cacert: str | None = None
    # False checks no TLS certificate at all (a lab cloud only; anyone between can read the password).
    verify: bool = True

    @field_validator("cacert")
    @classmethod
    def _certificates(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            x509.load_pem_x509_certificates(value.encode())
        except ValueError:
            raise ValueError("cacert must hold PEM certificates (-----BEGIN CERTIFICATE-----)") from None
        return value

    @model_validator(mode="after")
    def _verified_with_a_ca(self) -> OpenStackConfig:
        if self.cacert is not None and not self.verify:
            raise ValueError("cacert is of no use with verify false")
        return self
