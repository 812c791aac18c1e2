"""An OpenStack account's TLS settings reach openstacksdk's session: a private CA's certificates, or no check."""

from __future__ import annotations

import datetime
import pathlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from adapters.openstack import OpenStackConfig
from adapters.openstack.adapter import _connection

# `_open_connection` silences this one warning around `_connection` (see there); these tests call `_connection` alone.
pytestmark = pytest.mark.filterwarnings("ignore:Support for InfluxDB requires")


def _ca_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Private CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _config(**settings: Any) -> OpenStackConfig:
    return OpenStackConfig(
        auth_url="https://cloud.example.org:5000/v3",
        username="demo",
        password="secret",  # noqa: S106 - a test account
        project_name="demo",
        **settings,
    )


def test_tls_is_checked_against_the_system_by_default() -> None:
    conn = _connection(_config())
    assert conn.session.verify is True


def test_a_private_ca_bundle_is_what_tls_is_checked_against() -> None:
    pem = _ca_pem()
    conn = _connection(_config(cacert=pem))
    verify = conn.session.verify
    assert isinstance(verify, str) and pathlib.Path(verify).read_text() == pem
    assert _connection(_config(cacert=pem)).session.verify == verify  # written once, not per connection


def test_verify_false_checks_no_certificate() -> None:
    assert _connection(_config(verify=False)).session.verify is False


@pytest.mark.parametrize(
    "settings",
    [
        {"cacert": "/etc/ssl/certs/private-ca.pem"},
        {"cacert": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"},
        {"cacert": _ca_pem(), "verify": False},
    ],
)
def test_a_bundle_that_is_not_certificates_or_is_unused_is_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _config(**settings)
