"""Key pairs: the private key is shown once, lists never show it, imports take a real OpenSSH key, deletes stick."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.base import Feature, InvalidCloudRequest, KeyPair
from tests.contract.cloud import ContractCloud
from tests.contract.helpers import Cleanup, eventually, find_key_pair, unique, wait_gone


def _load_private_key(text: str) -> object:
    data = text.encode()
    try:
        return serialization.load_pem_private_key(data, password=None)
    except ValueError:
        return serialization.load_ssh_private_key(data, password=None)


def openssh_public_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{public.decode()} contract@clanavi"


async def _listed(cloud: ContractCloud, name: str) -> KeyPair:
    found = await eventually(
        lambda: find_key_pair(cloud, name), cloud.settle_seconds, until=lambda k: k is not None, what=f"key {name}"
    )
    assert found is not None
    return found


@pytest.mark.needs(Feature.KEY_PAIRS)
async def test_create_shows_the_private_key_once_and_delete_removes_it(cloud: ContractCloud, cleanup: Cleanup) -> None:
    name = unique("key")
    created = await cloud.adapter.create_key_pair(name)
    cleanup.key_pair(name)
    assert created.name == name
    assert created.fingerprint, "a key pair without a fingerprint"
    assert created.private_key, "create_key_pair did not hand over the private key"
    assert _load_private_key(created.private_key) is not None

    listed = await _listed(cloud, name)
    assert listed.private_key is None, "list_key_pairs shows a private key"
    assert listed.fingerprint == created.fingerprint
    assert all(k.private_key is None for k in await cloud.adapter.list_key_pairs())

    await cloud.adapter.delete_key_pair(name)
    await wait_gone(lambda: find_key_pair(cloud, name), cloud.settle_seconds, f"key pair {name}")


@pytest.mark.needs(Feature.KEY_PAIRS)
async def test_a_duplicate_key_pair_name_is_refused(cloud: ContractCloud, cleanup: Cleanup) -> None:
    name = unique("key")
    first = await cloud.adapter.create_key_pair(name)
    cleanup.key_pair(name)
    with pytest.raises(InvalidCloudRequest):
        await cloud.adapter.create_key_pair(name)
    listed = await _listed(cloud, name)
    assert listed.fingerprint == first.fingerprint, "the refused duplicate replaced the original key"


@pytest.mark.needs(Feature.KEY_PAIRS, Feature.KEY_PAIR_IMPORT)
async def test_import_an_openssh_public_key(cloud: ContractCloud, cleanup: Cleanup) -> None:
    name = unique("key")
    imported = await cloud.adapter.import_key_pair(name, openssh_public_key())
    cleanup.key_pair(name)
    assert imported.name == name
    assert imported.fingerprint, "an imported key pair without a fingerprint"
    assert imported.private_key is None, "import_key_pair invented a private key"

    listed = await _listed(cloud, name)
    assert listed.private_key is None
    assert listed.fingerprint == imported.fingerprint

    other = unique("key")
    second = await cloud.adapter.import_key_pair(other, openssh_public_key())
    cleanup.key_pair(other)
    assert second.fingerprint != imported.fingerprint, "two different public keys share a fingerprint"

    with pytest.raises(InvalidCloudRequest):
        await cloud.adapter.import_key_pair(name, openssh_public_key())

    await cloud.adapter.delete_key_pair(name)
    await wait_gone(lambda: find_key_pair(cloud, name), cloud.settle_seconds, f"key pair {name}")
    assert await find_key_pair(cloud, other) is not None, "deleting one key pair removed another"
