"""SimCloud's SSH keys: a generated pair really is one, and only sound OpenSSH public keys are imported."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from adapters.simcloud.keys import MIN_RSA_BITS, BadPublicKey, fingerprint, generate, parse_public


def openssh_public(key: object) -> str:
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_a_generated_private_key_is_openssh_and_matches_its_public_key() -> None:
    key = generate()

    assert key.private_openssh.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    private = serialization.load_ssh_private_key(key.private_openssh.encode(), password=None)
    assert openssh_public(private) == key.public.openssh
    assert key.public.key_type == "ssh-ed25519"
    assert generate().public.fingerprint != key.public.fingerprint


def test_the_fingerprint_is_the_one_ssh_keygen_prints() -> None:
    line = openssh_public(ed25519.Ed25519PrivateKey.generate())
    blob = base64.b64decode(line.split()[1])
    expected = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")

    assert fingerprint(blob) == expected
    assert parse_public(line).fingerprint == expected
    assert len(expected) == len("SHA256:") + 43


@pytest.mark.parametrize(
    ("private", "key_type"),
    [
        (ed25519.Ed25519PrivateKey.generate(), "ssh-ed25519"),
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), "ssh-rsa"),
        (ec.generate_private_key(ec.SECP256R1()), "ecdsa-sha2-nistp256"),
    ],
)
def test_accepted_public_keys_keep_their_comment(private: object, key_type: str) -> None:
    line = openssh_public(private)

    parsed = parse_public(f"  {line} alice@laptop  \n")

    assert parsed.openssh == f"{line} alice@laptop"
    assert parsed.key_type == key_type


def test_the_same_key_has_the_same_fingerprint_whatever_its_comment() -> None:
    line = openssh_public(ed25519.Ed25519PrivateKey.generate())

    assert parse_public(line).fingerprint == parse_public(f"{line} someone@else").fingerprint


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ssh-ed25519",
        "not a key at all",
        "ssh-ed25519 AAAA!!notbase64",
        "ssh-ed25519 " + base64.b64encode(b"short").decode(),
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ],
)
def test_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(BadPublicKey):
        parse_public(text)


def test_a_key_whose_type_does_not_match_its_blob_is_refused() -> None:
    blob = openssh_public(ed25519.Ed25519PrivateKey.generate()).split()[1]

    with pytest.raises(BadPublicKey):
        parse_public(f"ssh-rsa {blob}")


def test_two_keys_on_two_lines_are_refused() -> None:
    line = openssh_public(ed25519.Ed25519PrivateKey.generate())

    with pytest.raises(BadPublicKey, match="single OpenSSH line"):
        parse_public(f"{line}\n{line}")


def test_short_rsa_and_dsa_keys_are_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weakness is the point
    short = openssh_public(weak)
    with pytest.raises(BadPublicKey, match=f"at least {MIN_RSA_BITS} bits"):
        parse_public(short)

    # An ssh-dss blob starts with its type as an SSH string (cryptography warns when asked to write DSA keys).
    dss_blob = len(b"ssh-dss").to_bytes(4, "big") + b"ssh-dss" + bytes(range(200))
    with pytest.raises(BadPublicKey, match="'ssh-dss' is not accepted"):
        parse_public(f"ssh-dss {base64.b64encode(dss_blob).decode()}")
