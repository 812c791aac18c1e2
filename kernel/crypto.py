"""Secrets encrypted at rest: envelope encryption with AES-256-GCM.

Each secret gets a fresh random data key (DEK) that encrypts it; the DEK is wrapped (encrypted) with the key-encryption
key (KEK) derived from the platform's secret key with HKDF-SHA256. A sealed secret keeps the ciphertext, both nonces,
the wrapped DEK and the KEK's key id (a short fingerprint of the KEK, never the key). The record id is associated data
of both encryptions, so a sealed secret copied onto another record does not open.

Rotation: a keyring holds the current key and any previous ones. Secrets sealed with a previous key still open, and
`rewrap` re-encrypts only their DEK with the current KEK; the ciphertext of the secret itself does not change.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_KEY_LENGTH = 32

_VERSION = 1
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_DEK_BYTES = 32
_TAG_BYTES = 16
_WRAPPED_BYTES = _DEK_BYTES + _TAG_BYTES
_HEADER_BYTES = 1 + _KEY_ID_BYTES + _NONCE_BYTES + _WRAPPED_BYTES + _NONCE_BYTES


class CryptoError(Exception):
    """A sealed secret that cannot be opened."""


class UnknownKey(CryptoError):
    """The secret was sealed with a key the keyring does not hold."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"sealed with key {key_id}, which is neither the current key nor one of the previous keys")
        self.key_id = key_id


class DecryptionFailed(CryptoError):
    """The key is known but the secret does not open: it was altered, or it belongs to another record."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    wrap_nonce: bytes
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        return (
            bytes([_VERSION])
            + bytes.fromhex(self.key_id)
            + self.wrap_nonce
            + self.wrapped_key
            + self.nonce
            + self.ciphertext
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Sealed:
        if len(data) < _HEADER_BYTES + _TAG_BYTES or data[0] != _VERSION:
            raise DecryptionFailed("not a sealed secret of a version this platform writes")
        at = 1
        parts = []
        for size in (_KEY_ID_BYTES, _NONCE_BYTES, _WRAPPED_BYTES, _NONCE_BYTES):
            parts.append(data[at : at + size])
            at += size
        key_id, wrap_nonce, wrapped_key, nonce = parts
        return cls(key_id.hex(), wrap_nonce, wrapped_key, nonce, data[at:])


def _kek(secret: str, purpose: str) -> bytes:
    if len(secret) < MIN_KEY_LENGTH:
        raise ValueError(f"a secret key must be at least {MIN_KEY_LENGTH} characters long")
    info = b"clanavi kek v1" + (b"\x00" + purpose.encode() if purpose else b"")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"clanavi secrets", info=info)
    return hkdf.derive(secret.encode())


def _key_id(kek: bytes) -> str:
    return hmac.new(kek, b"clanavi key id", hashlib.sha256).digest()[:_KEY_ID_BYTES].hex()


def _digest_key(kek: bytes) -> bytes:
    return hmac.new(kek, b"clanavi digest v1", hashlib.sha256).digest()


def _data_aad(record_id: str) -> bytes:
    return b"clanavi data v1\x00" + record_id.encode()


def _wrap_aad(key_id: str, record_id: str) -> bytes:
    return b"clanavi dek v1\x00" + bytes.fromhex(key_id) + b"\x00" + record_id.encode()


class Keyring:
    """The current key, which seals, and previous keys, which only open (rotation).

    `purpose` separates what one secret key protects: keyrings of different purposes derive different KEKs from the
    same key, so a secret sealed for one use never opens as another's. Cloud credentials use the empty purpose."""

    def __init__(self, current: str, previous: Iterable[str] = (), *, purpose: str = "") -> None:
        kek = _kek(current, purpose)
        self.key_id = _key_id(kek)
        self._keks = {self.key_id: kek}
        for old in previous:
            old_kek = _kek(old, purpose)
            self._keks.setdefault(_key_id(old_kek), old_kek)

    def knows(self, key_id: str) -> bool:
        return key_id in self._keks

    def seal(self, plaintext: bytes, *, record_id: str) -> Sealed:
        dek = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(dek).encrypt(nonce, plaintext, _data_aad(record_id))
        return self._wrap(dek, record_id, nonce, ciphertext)

    def open(self, sealed: Sealed, *, record_id: str) -> bytes:
        """The plaintext; raises UnknownKey or DecryptionFailed, never answers garbage."""
        dek = self._unwrap(sealed, record_id)
        try:
            return AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext, _data_aad(record_id))
        except InvalidTag:
            raise DecryptionFailed(
                f"the secret sealed with key {sealed.key_id} does not open: it was altered or belongs to another record"
            ) from None

    def rewrap(self, sealed: Sealed, *, record_id: str) -> Sealed:
        """The same secret with its DEK wrapped by the current key (unchanged when it is already)."""
        if sealed.key_id == self.key_id:
            return sealed
        # Opening checks the whole record first: a tampered one is refused, never rewrapped.
        self.open(sealed, record_id=record_id)
        return self._wrap(self._unwrap(sealed, record_id), record_id, sealed.nonce, sealed.ciphertext)

    def digests(self, data: bytes) -> list[bytes]:
        """Keyed digests of `data` (HMAC-SHA256), the current key's first, then each previous key's: for comparing
        what must not be readable from its digest alone (a request body may hold a password), across a rotation."""
        return [hmac.new(_digest_key(kek), data, hashlib.sha256).digest() for kek in self._keks.values()]

    def _wrap(self, dek: bytes, record_id: str, nonce: bytes, ciphertext: bytes) -> Sealed:
        wrap_nonce = os.urandom(_NONCE_BYTES)
        wrapped = AESGCM(self._keks[self.key_id]).encrypt(wrap_nonce, dek, _wrap_aad(self.key_id, record_id))
        return Sealed(self.key_id, wrap_nonce, wrapped, nonce, ciphertext)

    def _unwrap(self, sealed: Sealed, record_id: str) -> bytes:
        kek = self._keks.get(sealed.key_id)
        if kek is None:
            raise UnknownKey(sealed.key_id)
        try:
            return AESGCM(kek).decrypt(sealed.wrap_nonce, sealed.wrapped_key, _wrap_aad(sealed.key_id, record_id))
        except InvalidTag:
            raise DecryptionFailed(
                f"the data key sealed with key {sealed.key_id} does not open: it was altered or belongs to another "
                "record"
            ) from None


__all__ = ["MIN_KEY_LENGTH", "CryptoError", "DecryptionFailed", "Keyring", "Sealed", "UnknownKey"]
