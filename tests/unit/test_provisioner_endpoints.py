"""The endpoint policy of accounts added through the API: the networks it denies by default, how a setting is read, and
which place each kind of URL or libvirt URI names."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from kernel.networks import network_of, parse_networks
from services.provisioner.clouds.endpoints import Endpoint, EndpointDenied, check, endpoint, endpoints
from services.provisioner.settings import DEFAULT_ENDPOINT_DENY, ProvisionerSettings


def test_by_default_loopback_link_local_and_this_network_are_denied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLANAVI_PROVISIONER_ENDPOINT_DENY", raising=False)
    denied = ProvisionerSettings().endpoint_deny_networks()
    assert {str(n) for n in denied} >= {"127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "0.0.0.0/8"}
    for address in ("127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "fe80::1", "0.0.0.0", "::", "fd00:ec2::254"):
        assert network_of(address, denied) is not None, address
    for address in ("10.0.0.1", "192.168.1.1", "172.16.0.1", "8.8.8.8", "2001:db8::1", "fd00::1"):
        assert network_of(address, denied) is None, address


def test_an_ipv4_address_written_as_ipv6_is_the_ipv4_address() -> None:
    denied = parse_networks("127.0.0.0/8")
    assert network_of("::ffff:127.0.0.1", denied) == ipaddress.ip_network("127.0.0.0/8")
    assert network_of("fe80::1%eth0", parse_networks("fe80::/10")) is not None
    assert network_of("not an address", denied) is None


def test_the_setting_is_checked_at_start_and_may_be_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLANAVI_PROVISIONER_ENDPOINT_DENY", "127.0.0.0/8, proxy.example")
    with pytest.raises(ValidationError, match="endpoint_deny"):
        ProvisionerSettings()
    monkeypatch.setenv("CLANAVI_PROVISIONER_ENDPOINT_DENY", "")
    assert ProvisionerSettings().endpoint_deny_networks() == ()
    monkeypatch.setenv("CLANAVI_PROVISIONER_ENDPOINT_DENY", "10.0.0.0/8,")
    assert ProvisionerSettings().endpoint_deny_networks() == (ipaddress.ip_network("10.0.0.0/8"),)
    assert parse_networks(DEFAULT_ENDPOINT_DENY)


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("https://ec2.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com"),
        ("http://127.0.0.1:8081/v1/clouds", "127.0.0.1"),
        ("http://[::1]:5000/v3", "::1"),
        ("//169.254.169.254/latest", "169.254.169.254"),
        ("qemu+ssh://root@kvm1.example.org/system", "kvm1.example.org"),
        ("qemu+tcp://10.0.0.5:16509/system", "10.0.0.5"),
        ("qemu://kvm1.example.org/system", "kvm1.example.org"),
        # This machine without a network address: a local socket, a file, a command run here.
        ("qemu:///system", None),
        ("qemu+unix:///system?socket=/run/libvirt/libvirt-sock", None),
        ("qemu+unix://kvm1.example.org/system", None),
        ("qemu+ext:///system?command=/opt/connect", None),
        ("qemu+ssh://root@kvm1.example.org/system?command=/usr/local/bin/ssh", None),
        ("test:///etc/libvirt/node.xml", None),
        ("http:///path", None),
    ],
)
def test_the_place_a_setting_names(value: str, host: str | None) -> None:
    assert endpoint("body.config.x", value) == Endpoint("body.config.x", host)


@pytest.mark.parametrize("value", ["us-east-1", "auto", "test:///default", "", "steady:20"])
def test_values_that_name_no_place(value: str) -> None:
    assert endpoint("body.config.x", value) is None


def test_every_setting_is_looked_at_wherever_it_is() -> None:
    found = endpoints(
        {"region": "x", "endpoint_url": "http://a.example", "nested": {"list": ["b", "http://b.example"]}},
        {"uri": "qemu+ssh://root:pw@c.example/system", "password": "secret"},
    )
    assert found == [
        Endpoint("body.config.endpoint_url", "a.example"),
        Endpoint("body.config.nested.list.1", "b.example"),
        Endpoint("body.credentials.uri", "c.example"),
    ]
    with pytest.raises(EndpointDenied) as caught:
        endpoints({"endpoint_url": "http://[::1/"}, {})
    assert caught.value.extensions["errors"][0]["location"] == "body.config.endpoint_url"


async def test_nothing_is_looked_up_when_nothing_is_denied() -> None:
    await check({"endpoint_url": "http://no-such-host.invalid"}, {}, deny=(), within=1)
    with pytest.raises(EndpointDenied) as caught:
        await check({"endpoint_url": "http://no-such-host.invalid"}, {}, deny=parse_networks("127.0.0.1"), within=5)
    assert caught.value.extensions["errors"] == [
        {"location": "body.config.endpoint_url", "message": "no-such-host.invalid does not resolve"}
    ]
