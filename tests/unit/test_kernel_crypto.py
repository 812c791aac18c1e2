"""Envelope encryption of secrets at rest: round trip, wrong keys, tampering, records swapped, rotation."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from kernel.crypto import DecryptionFailed, Keyring, Sealed, UnknownKey

KEY = "current-key-0123456789abcdef0123456789"
OLD = "previous-key-0123456789abcdef012345678"
OTHER = "someone-elses-key-0123456789abcdef01234"
SECRET = b'{"secret_access_key": "wJalrXUtnFEMI/K7MDENG"}'


def test_a_sealed_secret_opens_with_its_key_and_record() -> None:
    keyring = Keyring(KEY)

    sealed = keyring.seal(SECRET, record_id="clouds/aws")

    assert SECRET not in sealed.to_bytes()
    assert keyring.open(Sealed.from_bytes(sealed.to_bytes()), record_id="clouds/aws") == SECRET


def test_each_seal_uses_a_fresh_data_key_and_nonce() -> None:
    keyring = Keyring(KEY)

    first, second = (keyring.seal(SECRET, record_id="clouds/aws") for _ in range(2))

    assert first.wrapped_key != second.wrapped_key
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext


def test_the_key_id_is_a_fingerprint_and_never_the_key() -> None:
    keyring = Keyring(KEY)

    assert keyring.key_id == Keyring(KEY).key_id != Keyring(OTHER).key_id
    assert len(keyring.key_id) == 16 and KEY not in keyring.key_id
    assert KEY.encode() not in keyring.seal(SECRET, record_id="r").to_bytes()


def test_another_key_cannot_open_it() -> None:
    sealed = Keyring(KEY).seal(SECRET, record_id="clouds/aws")

    with pytest.raises(UnknownKey, match=sealed.key_id):
        Keyring(OTHER).open(sealed, record_id="clouds/aws")


def test_a_forged_key_id_does_not_make_another_key_open_it() -> None:
    sealed = Keyring(KEY).seal(SECRET, record_id="clouds/aws")
    other = Keyring(OTHER)

    with pytest.raises(DecryptionFailed):
        other.open(replace(sealed, key_id=other.key_id), record_id="clouds/aws")


@pytest.mark.parametrize("part", ["wrap_nonce", "wrapped_key", "nonce", "ciphertext"])
def test_a_tampered_secret_is_refused(part: str) -> None:
    keyring = Keyring(KEY)
    sealed = keyring.seal(SECRET, record_id="clouds/aws")
    value = bytearray(getattr(sealed, part))
    value[-1] ^= 0x01
    tampered = Sealed.from_bytes(sealed.to_bytes().replace(getattr(sealed, part), bytes(value)))

    with pytest.raises(DecryptionFailed):
        keyring.open(tampered, record_id="clouds/aws")


def test_a_secret_moved_to_another_record_does_not_open() -> None:
    keyring = Keyring(KEY)
    sealed = keyring.seal(SECRET, record_id="clouds/aws")

    with pytest.raises(DecryptionFailed):
        keyring.open(sealed, record_id="clouds/evil")


def test_garbage_is_not_a_sealed_secret() -> None:
    with pytest.raises(DecryptionFailed):
        Sealed.from_bytes(b"\x02" + bytes(100))
    with pytest.raises(DecryptionFailed):
        Sealed.from_bytes(b"\x01short")


def test_rotation_opens_old_secrets_and_rewraps_only_the_data_key() -> None:
    old = Keyring(OLD).seal(SECRET, record_id="clouds/aws")
    rotated = Keyring(KEY, previous=[OLD])

    assert rotated.open(old, record_id="clouds/aws") == SECRET
    rewrapped = rotated.rewrap(old, record_id="clouds/aws")

    assert rewrapped.key_id == rotated.key_id != old.key_id
    assert (rewrapped.nonce, rewrapped.ciphertext) == (old.nonce, old.ciphertext)
    assert rewrapped.wrapped_key != old.wrapped_key
    # Once rewrapped, the old key is no longer needed.
    assert Keyring(KEY).open(rewrapped, record_id="clouds/aws") == SECRET
    assert rotated.rewrap(rewrapped, record_id="clouds/aws") is rewrapped


def test_rewrapping_a_tampered_secret_is_refused() -> None:
    old = Keyring(OLD).seal(SECRET, record_id="clouds/aws")
    broken = replace(old, ciphertext=old.ciphertext[:-1] + bytes([old.ciphertext[-1] ^ 1]))

    with pytest.raises(DecryptionFailed):
        Keyring(KEY, previous=[OLD]).rewrap(broken, record_id="clouds/aws")


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Keyring("short")
    with pytest.raises(ValueError, match="at least 32"):
        Keyring(KEY, previous=["short"])


def test_digests_are_keyed_current_key_first_and_apart_by_purpose() -> None:
    current, previous = "a-current-secret-key-0123456789abcdef", "a-previous-secret-key-0123456789abcdef"
    rotated = Keyring(current, [previous], purpose="p")
    digests = rotated.digests(b"body")
    assert digests[0] == Keyring(current, purpose="p").digests(b"body")[0]
    assert digests[1] == Keyring(previous, purpose="p").digests(b"body")[0]
    assert digests[0] != digests[1] and len(digests) == 2
    assert Keyring(current, purpose="q").digests(b"body")[0] != digests[0]
    assert hashlib.sha256(b"body").digest() not in digests
    assert rotated.digests(b"other")[0] != digests[0]
