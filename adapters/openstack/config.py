"""An OpenStack cloud account's settings: where Keystone is, who logs in, which project and region."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
