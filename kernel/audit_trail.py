"""The audit trail's evidence, pure and shared: how a record is hashed into the chain, how a digest over the chain is
signed, and how an export of the trail is verified offline.

The audit service writes with it and the CLI verifies with it (`clanavi audit verify --file`), so both compute the
very same bytes without the CLI importing a service.

A record's hash is sha256(previous hash + canonical bytes of its stored fields); the first record chains to 32 zero
bytes. Which fields count depends on the record's hash version (1: the envelope only; 2: the envelope, `seq`,
`received_at` and `hash_version`).

A digest (after CloudTrail's digest files) signs with Ed25519 the hash of the latest record, its seq, how many records
the chain has held up to it and the signature of the digest before it. A digest fixes the chain's end at the time it
was made: records removed from the end later, or removed by retention, are still accounted for.

An export is JSON lines: a header, the records in seq order, then every digest. Verifying it recomputes every link and
checks every digest against the records, and names each record edited, removed, inserted or moved, and a trail cut
short at its end.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

__all__ = [
    "ENVELOPE_FIELDS",
    "EXPORT_FORMAT",
    "GENESIS",
    "HASHED_FIELDS",
    "HASH_VERSION",
    "Digest",
    "ExportReport",
    "Finding",
    "canonical_bytes",
    "digest_message",
    "generate_private_key",
    "key_id",
    "link_hash",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
    "sign_digest",
    "utc_text",
    "verify_digest_signature",
    "verify_export",
]

GENESIS = bytes(32)
# The rule new records are hashed with.
HASH_VERSION = 2
EXPORT_FORMAT = "clanavi-audit-export/1"

# Named explicitly rather than read from the envelope model: a field added to the envelope later must not change the
# hashes of records stored before it existed. A new stored column needs a new hash version.
ENVELOPE_FIELDS = (
    "id",
    "type",
    "version",
    "occurred_at",
    "project_id",
    "correlation_id",
    "causation_id",
    "subject",
    "payload",
)
# What each hash version covers; the keys are every version a stored record may name.
HASHED_FIELDS: dict[int, tuple[str, ...]] = {
    1: ENVELOPE_FIELDS,
    2: (*ENVELOPE_FIELDS, "seq", "received_at", "hash_version"),
}


def utc_text(value: datetime | str) -> str:
    """A time as the chain hashes it: UTC, to the microsecond (an offset given by a producer changes nothing)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_bytes(stored: Mapping[str, Any], hash_version: int) -> bytes:
    """What a record with these stored fields contributes under `hash_version`: the fields that version covers as
    sorted-key, compact, ASCII-only JSON. Raises ValueError for an unknown version or a value JSON cannot hold."""
    if hash_version not in HASHED_FIELDS:
        raise ValueError(f"unknown audit hash version {hash_version!r}")
    normal = {
        **stored,
        "id": str(stored["id"]),
        "occurred_at": utc_text(stored["occurred_at"]),
        "received_at": utc_text(stored["received_at"]) if "received_at" in stored else None,
        "hash_version": hash_version,
    }
    fields = {name: normal[name] for name in HASHED_FIELDS[hash_version]}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def link_hash(prev: bytes, stored: Mapping[str, Any], hash_version: int) -> bytes:
    """The hash of a record with these stored fields that follows the record whose hash is `prev`."""
    return hashlib.sha256(prev + canonical_bytes(stored, hash_version)).digest()


# --- digests -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Digest:
    """A signed statement that the chain held `record_count` records up to seq `last_seq`, whose hash is `last_hash`
    (GENESIS and 0 for an empty chain), following the digest whose signature is `previous_signature`."""

    number: int
    created_at: datetime
    last_seq: int
    last_hash: bytes
    record_count: int
    previous_signature: bytes | None
    signature: bytes
    key_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "created_at": utc_text(self.created_at),
            "last_seq": self.last_seq,
            "last_hash": self.last_hash.hex(),
            "record_count": self.record_count,
            "previous_signature": _b64(self.previous_signature),
            "signature": _b64(self.signature),
            "key_id": self.key_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Digest:
        previous = data.get("previous_signature")
        return cls(
            number=int(data["number"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            last_seq=int(data["last_seq"]),
            last_hash=bytes.fromhex(str(data["last_hash"])),
            record_count=int(data["record_count"]),
            previous_signature=base64.b64decode(previous) if previous else None,
            signature=base64.b64decode(str(data["signature"])),
            key_id=str(data["key_id"]),
        )


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


def digest_message(
    *,
    number: int,
    created_at: datetime,
    last_seq: int,
    last_hash: bytes,
    record_count: int,
    previous_signature: bytes | None,
) -> bytes:
    """The bytes a digest's signature covers."""
    fields = {
        "format": "clanavi-audit-digest/1",
        "number": number,
        "created_at": utc_text(created_at),
        "last_seq": last_seq,
        "last_hash": last_hash.hex(),
        "record_count": record_count,
        "previous_signature": _b64(previous_signature),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _message_of(digest: Digest) -> bytes:
    return digest_message(
        number=digest.number,
        created_at=digest.created_at,
        last_seq=digest.last_seq,
        last_hash=digest.last_hash,
        record_count=digest.record_count,
        previous_signature=digest.previous_signature,
    )


def generate_private_key() -> str:
    """A new Ed25519 private key, PKCS#8 PEM."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode("ascii")


def load_private_key(text: str) -> Ed25519PrivateKey:
    """A PKCS#8 PEM Ed25519 private key, or its 32 raw bytes in base64 (easier to hold in one environment variable)."""
    if not text.lstrip().startswith("-----"):
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError as exc:
            raise ValueError("the audit signing key is neither PEM nor base64") from exc
        if len(raw) != 32:
            raise ValueError("a base64 audit signing key holds 32 bytes")
        return Ed25519PrivateKey.from_private_bytes(raw)
    key = load_pem_private_key(text.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the audit signing key must be an Ed25519 private key")
    return key


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the audit public key must be an Ed25519 public key")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """A short name for a key pair: the start of the sha256 of its raw public key, hex."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def sign_digest(
    key: Ed25519PrivateKey,
    *,
    number: int,
    created_at: datetime,
    last_seq: int,
    last_hash: bytes,
    record_count: int,
    previous_signature: bytes | None,
) -> Digest:
    message = digest_message(
        number=number,
        created_at=created_at,
        last_seq=last_seq,
        last_hash=last_hash,
        record_count=record_count,
        previous_signature=previous_signature,
    )
    return Digest(
        number=number,
        created_at=created_at,
        last_seq=last_seq,
        last_hash=last_hash,
        record_count=record_count,
        previous_signature=previous_signature,
        signature=key.sign(message),
        key_id=key_id(key),
    )


def verify_digest_signature(digest: Digest, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(digest.signature, _message_of(digest))
    except InvalidSignature:
        return False
    return True


# --- verifying an export -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with an export: `kind` is edited, removed, inserted, reordered, truncated, digest or format;
    `seq` the record it is about (when one), `line` the export's line (1-based, when one)."""

    kind: str
    message: str
    seq: int | None = None
    line: int | None = None


@dataclass(slots=True)
class ExportReport:
    records: int = 0
    digests: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    # The last record the digests vouch for, and whether the trail starts after records removed by retention.
    covered_to_seq: int | None = None
    anchored: bool = False
    key_source: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.findings


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    seq: int
    stored: dict[str, Any]
    prev_hash: bytes
    hash: bytes
    hash_version: int


def _record_line(number: int, data: Mapping[str, Any]) -> _Line:
    stored = {name: data[name] for name in ENVELOPE_FIELDS}
    stored["seq"] = int(data["seq"])
    stored["received_at"] = data["received_at"]
    return _Line(
        number=number,
        seq=int(data["seq"]),
        stored=stored,
        prev_hash=bytes.fromhex(str(data["prev_hash"])),
        hash=bytes.fromhex(str(data["hash"])),
        hash_version=int(data["hash_version"]),
    )


def verify_export(lines: Iterable[str], public_key_pem_text: str | None = None) -> ExportReport:
    """Verify an export's lines offline. `public_key_pem_text`: the key the digests must be signed with; without it,
    the key the export's header names (which proves the export is whole, but not who made it)."""
    report = ExportReport()
    header: dict[str, Any] | None = None
    records: list[_Line] = []
    digests: list[tuple[int, Digest]] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
            kind = data.get("kind")
            if kind == "header":
                header = data
            elif kind == "record":
                records.append(_record_line(number, data))
            elif kind == "digest":
                digests.append((number, Digest.from_json(data)))
            else:
                report.findings.append(Finding("format", f"line {number}: unknown kind {kind!r}", line=number))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            report.findings.append(Finding("format", f"line {number}: not a valid export line ({exc})", line=number))
    report.records, report.digests = len(records), len(digests)
    if header is None or header.get("format") != EXPORT_FORMAT:
        report.findings.append(Finding("format", f"no {EXPORT_FORMAT} header: this is not a Clanavi audit export"))
        return report
    if records:
        report.first_seq, report.last_seq = records[0].seq, records[-1].seq
    public_key = _public_key(header, public_key_pem_text, report)
    _check_links(records, digests, report)
    _check_digests(records, digests, public_key, report)
    retention = header.get("retention") or {}
    if report.anchored and not retention.get("records_removed"):
        report.findings.append(
            Finding(
                "removed",
                f"the records before seq {report.first_seq} are missing, though the export says retention removed none",
                report.first_seq,
            )
        )
    return report


def _public_key(header: Mapping[str, Any], given: str | None, report: ExportReport) -> Ed25519PublicKey | None:
    text = given if given is not None else header.get("public_key")
    report.key_source = "given" if given is not None else "export header"
    if not text:
        report.findings.append(Finding("digest", "no public key to check the digests with"))
        return None
    try:
        return load_public_key(str(text))
    except ValueError as exc:
        report.findings.append(Finding("digest", f"the public key cannot be read: {exc}"))
        return None


def _check_links(records: list[_Line], digests: list[tuple[int, Digest]], report: ExportReport) -> None:
    """Recompute every record's hash and link; name what broke each link. Records out of seq order (seq is hashed)
    are named as moved, then checked in seq order, so that a move is not also reported as removals."""
    ordered = sorted(records, key=lambda record: record.seq)
    for record, expected in zip(records, ordered, strict=True):
        if record is not expected:
            report.findings.append(
                Finding("reordered", f"seq {record.seq}: out of seq order in the export", record.seq, record.number)
            )
    records = ordered
    at_hash = {record.hash: i for i, record in enumerate(records)}
    anchors = {digest.last_hash for _, digest in digests}
    for i, record in enumerate(records):
        try:
            own = link_hash(record.prev_hash, record.stored, record.hash_version)
        except (ValueError, KeyError, TypeError) as exc:
            report.findings.append(Finding("edited", f"seq {record.seq}: cannot be hashed ({exc})", record.seq))
            continue
        if own != record.hash:
            report.findings.append(
                Finding("edited", f"seq {record.seq}: its content does not match its hash", record.seq, record.number)
            )
        if i == 0:
            if record.prev_hash == GENESIS:
                continue
            if record.prev_hash in anchors:
                report.anchored = True  # older records were removed by retention, where a digest vouches for
                continue
            report.findings.append(
                Finding(
                    "removed",
                    f"seq {record.seq}: the records before it are missing and no digest vouches for its predecessor",
                    record.seq,
                    record.number,
                )
            )
            continue
        before = records[i - 1]
        if record.prev_hash == before.hash:
            continue
        if i >= 2 and record.prev_hash == records[i - 2].hash:
            report.findings.append(
                Finding(
                    "inserted",
                    f"seq {before.seq}: not part of the chain (inserted between seq {records[i - 2].seq} and "
                    f"seq {record.seq})",
                    before.seq,
                    before.number,
                )
            )
        elif record.prev_hash in at_hash or record.seq < before.seq:
            report.findings.append(
                Finding(
                    "reordered",
                    f"seq {record.seq}: out of its place (it follows seq "
                    f"{_seq_of(records, at_hash, record.prev_hash)}, not seq {before.seq})",
                    record.seq,
                    record.number,
                )
            )
        else:
            report.findings.append(
                Finding(
                    "removed",
                    f"seq {record.seq}: does not follow seq {before.seq}: the records between them were removed, or "
                    f"seq {before.seq} was altered and its hash recomputed",
                    record.seq,
                    record.number,
                )
            )


def _seq_of(records: list[_Line], at_hash: Mapping[bytes, int], value: bytes) -> str:
    index = at_hash.get(value)
    return "?" if index is None else str(records[index].seq)


def _check_digests(
    records: list[_Line],
    digests: list[tuple[int, Digest]],
    public_key: Ed25519PublicKey | None,
    report: ExportReport,
) -> None:
    """Each digest is signed, follows the one before, and agrees with the records it covers."""
    by_seq = {record.seq: record for record in records}
    first_seq = records[0].seq if records else None
    last_seq = records[-1].seq if records else None
    start = _export_start(records, digests)
    previous: Digest | None = None
    for line, digest in digests:
        name = f"digest {digest.number}"
        if public_key is not None and not verify_digest_signature(digest, public_key):
            report.findings.append(Finding("digest", f"{name}: its signature does not verify", line=line))
        if previous is not None and digest.previous_signature != previous.signature:
            report.findings.append(
                Finding("digest", f"{name}: does not follow digest {previous.number} (a digest is missing)", line=line)
            )
        if previous is not None:
            _check_count(records, start, previous, digest, report)
        previous = digest
        if digest.last_seq == 0:
            continue
        record = by_seq.get(digest.last_seq)
        if record is None:
            if last_seq is None or digest.last_seq > last_seq:
                report.findings.append(
                    Finding(
                        "truncated",
                        f"{name} vouches for records up to seq {digest.last_seq}, but the export ends at seq "
                        f"{last_seq}: records were removed from its end",
                        digest.last_seq,
                    )
                )
            elif first_seq is not None and digest.last_seq >= first_seq:
                report.findings.append(
                    Finding("removed", f"seq {digest.last_seq}, which {name} vouches for, is missing", digest.last_seq)
                )
            continue
        if record.hash != digest.last_hash:
            report.findings.append(
                Finding(
                    "edited",
                    f"seq {record.seq} is not the record {name} signed (its hash differs)",
                    record.seq,
                    record.number,
                )
            )
        report.covered_to_seq = max(report.covered_to_seq or 0, digest.last_seq)


def _export_start(records: list[_Line], digests: list[tuple[int, Digest]]) -> int | None:
    """The seq after which the export holds every record: 0 from the chain's start, the anchoring digest's last seq
    after retention, None when neither (then nothing can be counted)."""
    if not records or records[0].prev_hash == GENESIS:
        return 0
    return next((d.last_seq for _, d in digests if d.last_hash == records[0].prev_hash), None)


def _check_count(records: list[_Line], start: int | None, before: Digest, after: Digest, report: ExportReport) -> None:
    """Between two digests the export holds exactly as many records as the chain grew by (when it holds that span)."""
    if start is None or before.last_seq < start:
        return  # the span starts among records removed by retention
    if records and after.last_seq > records[-1].seq:
        return  # reported as truncation
    held = sum(1 for record in records if before.last_seq < record.seq <= after.last_seq)
    grown = after.record_count - before.record_count
    if held != grown:
        what = "removed" if held < grown else "inserted"
        report.findings.append(
            Finding(
                what,
                f"between seq {before.last_seq} and seq {after.last_seq} the export holds {held} records, digests "
                f"{before.number} and {after.number} vouch for {grown}",
            )
        )
