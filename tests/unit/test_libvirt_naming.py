"""How Clanavi names volumes and snapshots inside a libvirt pool, and reads them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.kit import token_digest
from adapters.libvirt import _naming

PREFIX = "clanavi-"


def test_an_id_carries_its_creation_time_to_the_millisecond() -> None:
    now = datetime(2026, 11, 24, 10, 30, 15, 123000, tzinfo=UTC)
    volume_id = _naming.new_id("vol", now)
    assert volume_id.startswith("vol-")
    assert _naming.decode(PREFIX, PREFIX + volume_id) == _naming.Managed("vol", volume_id)
    assert _naming.created_at(volume_id) == now
    assert _naming.new_id("vol", now) != volume_id, "two ids made in the same millisecond must differ"


def test_fields_round_trip_whatever_characters_they_hold() -> None:
    snapshot_id = _naming.new_id("snap", datetime.now(UTC))
    fields = {"n": "nightly.backup 1/2 % é", "v": "vol-0123456789ab01234567"}
    name = _naming.encode(PREFIX, snapshot_id, fields)
    assert "/" not in name, "a volume name in a dir pool is a file name"
    assert name.count(".") == 2, "dots in values must not look like field separators"
    decoded = _naming.decode(PREFIX, name)
    assert decoded is not None
    assert (decoded.kind, decoded.id, dict(decoded.fields)) == ("snap", snapshot_id, fields)


def test_empty_fields_are_left_out() -> None:
    volume_id = _naming.new_id("vol", datetime.now(UTC))
    assert _naming.encode(PREFIX, volume_id, {"n": "", "s": ""}) == PREFIX + volume_id
    decoded = _naming.decode(PREFIX, PREFIX + volume_id)
    assert decoded is not None and dict(decoded.fields) == {}


@pytest.mark.parametrize(
    "name",
    [
        "data.img",  # an administrator's volume
        "clanavi-root-6695eb01-f6a4-8304-79aa-97f2502e193f",  # a root disk
        "clanavi-vol-xyz",  # our prefix, not our id
        "clanavi-vol-0123456789ab01234567.broken",  # a field without '='
        "image-debian-12",
    ],
)
def test_names_clanavi_did_not_make_decode_to_none(name: str) -> None:
    assert _naming.decode(PREFIX, name) is None


def test_a_name_too_long_for_a_file_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        _naming.encode(PREFIX, _naming.new_id("vol", datetime.now(UTC)), {"n": "x" * 250})


def test_root_volumes_and_image_names() -> None:
    root = _naming.root_volume(PREFIX, "6695eb01-f6a4-8304-79aa-97f2502e193f")
    assert _naming.is_root_volume(PREFIX, root)
    assert not _naming.is_root_volume(PREFIX, PREFIX + _naming.new_id("vol", datetime.now(UTC)))
    assert _naming.valid_image_name("debian-12.1_cloud")
    for bad in ("", "-leading-dash", "with space", "slash/name", "x" * 129):
        assert not _naming.valid_image_name(bad), bad


def test_ids_sort_by_age() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [_naming.new_id("vol", start + timedelta(seconds=s)) for s in (0, 1, 60, 3600)]
    assert [i[:16] for i in ids] == sorted(i[:16] for i in ids)


def test_an_image_made_by_a_client_token_keeps_its_name_apart_from_the_token() -> None:
    token = token_digest("account-1", "tok-1")
    assert len(token) == 16 and token != token_digest("account-2", "tok-1") != token_digest("account-1", "tok-2")
    volume = _naming.image_volume("image-", "web.v2-golden", token)
    assert volume == f"image-web.v2-golden.t={token}"
    assert _naming.image_name("image-", volume) == "web.v2-golden"
    assert _naming.image_name("image-", "image-debian-12") == "debian-12", "an administrator's image keeps its name"
