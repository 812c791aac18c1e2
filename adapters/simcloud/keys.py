"""SSH key pairs: generating one the way a provider does, and checking a public key given to import."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


class BadPublicKey(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PublicKey:
    # One OpenSSH line: "<type> <base64 blob>[ <comment>]".
    openssh: str
    key_type: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    public: PublicKey
    # OpenSSH private key format ("-----BEGIN OPENSSH PRIVATE KEY-----"), unencrypted.
    private_openssh: str


def fingerprint(blob: bytes) -> str:
    """OpenSSH's fingerprint of a public key blob, as `ssh-keygen -l` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _blob(line: str) -> bytes:
    return base64.b64decode(line.split()[1], validate=True)


def generate() -> GeneratedKey:
    private = ed25519.Ed25519PrivateKey.generate()
    private_text = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public_line = (
        private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    )
    return GeneratedKey(PublicKey(public_line, "ssh-ed25519", fingerprint(_blob(public_line))), private_text)


# RSA keys shorter than this are refused, as providers do; so are DSA keys, which OpenSSH no longer accepts.
MIN_RSA_BITS = 2048
ACCEPTED_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def parse_public(text: str) -> PublicKey:
    """An OpenSSH public key line (RSA, ECDSA or Ed25519) checked down to its key material."""
    line = text.strip()
    if not line or "\n" in line or "\r" in line:
        raise BadPublicKey("the public key must be a single OpenSSH line: '<type> <base64> [comment]'")
    fields = line.split(maxsplit=2)
    if len(fields) < 2:
        raise BadPublicKey("the public key must be a single OpenSSH line: '<type> <base64> [comment]'")
    if fields[0] not in ACCEPTED_TYPES:
        raise BadPublicKey(f"key type {fields[0]!r} is not accepted; use one of {', '.join(ACCEPTED_TYPES)}")
    try:
        key = serialization.load_ssh_public_key(" ".join(fields[:2]).encode())
        blob = _blob(line)
    except (ValueError, UnsupportedAlgorithm, binascii.Error) as exc:
        raise BadPublicKey(f"not a valid OpenSSH public key: {exc}") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise BadPublicKey(f"RSA keys must have at least {MIN_RSA_BITS} bits, this one has {key.key_size}")
    return PublicKey(" ".join(fields), fields[0], fingerprint(blob))


def fingerprint_line(public: PublicKey, comment: str) -> str:
    """The key as `ssh-keygen -l` lists it: bits, fingerprint, comment and type in brackets."""
    key = serialization.load_ssh_public_key(" ".join(public.openssh.split()[:2]).encode())
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        bits, label = key.key_size, "RSA" if isinstance(key, rsa.RSAPublicKey) else "ECDSA"
    else:
        bits, label = 256, "ED25519"
    return f"{bits} {public.fingerprint} {comment} ({label})"
