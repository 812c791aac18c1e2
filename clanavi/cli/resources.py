"""`clanavi key-pairs`, `security-groups`, `volumes`, `snapshots` and `addresses`: their lists, shows and id-only
actions come from the table of kinds; here is what each does besides (create, import, attach, authorize...).

A new key pair's private key is shown once: with `--out FILE` it is written to FILE (made 0600, never over an
existing file, before the key pair is asked for) instead of printed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from clanavi.cli.exits import Refused
from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter
from clanavi.cli.options import DEFAULT_TIMEOUT, Cloud, Timeout, Wait
from clanavi.cli.records import DISCOVERED, Action, Kind, cloud_filters, finish, group_of, settle
from clanavi.client.models import (
    AddressAllocate,
    AddressAssociate,
    AddressOut,
    KeyPairCreate,
    KeyPairImport,
    KeyPairOut,
    NewKeyPairOut,
    SecurityGroupCreate,
    SecurityGroupOut,
    SecurityRuleIn,
    SecurityRuleOut,
    SnapshotCreate,
    SnapshotOut,
    VolumeAttach,
    VolumeCreate,
    VolumeOut,
)

__all__ = ["ADDRESSES", "KEY_PAIRS", "SECURITY_GROUPS", "SNAPSHOTS", "VOLUMES"]

Name = Annotated[str, typer.Option("--name", help="Its name.")]
Id = Annotated[str, typer.Argument(metavar="ID", show_default=False)]


def _delete(what: str) -> Action:
    return Action("delete", "deleted", f"Delete {what} (repeating it is harmless).")


KEY_PAIRS = Kind(
    "key-pairs",
    "key pair",
    lambda client: client.key_pairs,
    KeyPairOut,
    "Key pairs: SSH keys of the clouds.",
    filters=cloud_filters(KeyPairOut),
    actions=(_delete("key pairs"),),
)
SECURITY_GROUPS = Kind(
    "security-groups",
    "security group",
    lambda client: client.security_groups,
    SecurityGroupOut,
    "Security groups and their rules.",
    filters=cloud_filters(SecurityGroupOut),
    actions=(_delete("security groups"),),
)
VOLUMES = Kind(
    "volumes",
    "volume",
    lambda client: client.volumes,
    VolumeOut,
    "Volumes: block storage for instances.",
    filters=cloud_filters(
        VolumeOut,
        Filter("instance_id", "--instance", "Only those attached to this instance."),
        DISCOVERED,
    ),
    actions=(Action("detach", "available", "Detach volumes from their instance."), _delete("volumes")),
)
SNAPSHOTS = Kind(
    "snapshots",
    "snapshot",
    lambda client: client.snapshots,
    SnapshotOut,
    "Snapshots of volumes.",
    filters=cloud_filters(SnapshotOut, Filter("volume_id", "--volume", "Only those of this volume.")),
    actions=(_delete("snapshots"),),
)
ADDRESSES = Kind(
    "addresses",
    "address",
    lambda client: client.addresses,
    AddressOut,
    "Public addresses (elastic or floating IPs).",
    filters=cloud_filters(
        AddressOut, Filter("instance_id", "--instance", "Only the one associated with this instance.")
    ),
    actions=(
        Action("disassociate", "available", "Disassociate addresses from their instance."),
        Action("release", "released", "Release addresses (repeating it is harmless)."),
    ),
)

key_pairs = group_of(KEY_PAIRS)
security_groups = group_of(SECURITY_GROUPS)
volumes = group_of(VOLUMES)
snapshots = group_of(SNAPSHOTS)
addresses = group_of(ADDRESSES)


# --- key pairs ---------------------------------------------------------------------------------------------------


def _private_file(path: Path) -> IO[str]:
    """A new file only its owner can read, for a private key; never one that exists (nor a link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.fdopen(os.open(path, flags, 0o600), "w", encoding="utf-8")
    except FileExistsError:
        raise Refused(f"--out: {path} exists; the private key is written only to a new file") from None
    except OSError as exc:
        raise Refused(f"--out: cannot create {path}: {exc.strerror}") from None


@command(key_pairs, "create")
def create_key_pair(
    cli: Invocation,
    name: Name,
    cloud: Cloud = "sim",
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Write the private key to this new file (0600).")
    ] = None,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """A key pair the cloud makes; its private key is shown this once (or written to --out)."""
    asked = KeyPairCreate(name=name, cloud_id=cloud)
    file = _private_file(out) if out is not None else None
    written = False
    try:
        with cli.client() as client:
            made = client.key_pairs.create(asked)
            if file is not None and made.private_key:
                file.write(made.private_key if made.private_key.endswith("\n") else made.private_key + "\n")
                written = True
            final = settle(cli, KEY_PAIRS, client.key_pairs, [made], "available", timeout)[0] if wait else made
    finally:
        if file is not None:
            file.close()
            if not written and out is not None:
                out.unlink(missing_ok=True)
    # The record as last read, with the private key only as the creation answered it (and not when it is on file).
    private_key = None if written else made.private_key
    cli.display.record(NewKeyPairOut.model_validate({**final.model_dump(), "private_key": private_key}))
    if written:
        cli.display.note(f"the private key is in {out} (readable by you only); it is not kept anywhere else")
    elif private_key:
        cli.display.note("the private key is shown this once: keep it now")
    else:
        cli.display.note("the cloud gave no private key")


@command(key_pairs, "import")
def import_key_pair(
    cli: Invocation,
    name: Name,
    public_key: Annotated[Path, typer.Option("--public-key", metavar="FILE", help="An OpenSSH public key file.")],
    cloud: Cloud = "sim",
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """A key pair from your own OpenSSH public key."""
    try:
        key = public_key.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise Refused(f"--public-key: cannot read {public_key}: {exc.strerror}") from None
    asked = KeyPairImport(name=name, cloud_id=cloud, public_key=key)
    with cli.client() as client:
        made = client.key_pairs.import_key(asked)
        finish(cli, KEY_PAIRS, client.key_pairs, [made], "available", wait=wait, timeout=timeout)


# --- security groups ---------------------------------------------------------------------------------------------


@command(security_groups, "create")
def create_security_group(
    cli: Invocation,
    name: Name,
    description: Annotated[str | None, typer.Option("--description", help="What it is for.")] = None,
    cloud: Cloud = "sim",
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """A security group (no rules yet: authorize them)."""
    given = {"name": name, "cloud_id": cloud, **({"description": description} if description is not None else {})}
    asked = SecurityGroupCreate.model_validate(given)
    with cli.client() as client:
        made = client.security_groups.create(asked)
        finish(cli, SECURITY_GROUPS, client.security_groups, [made], "available", wait=wait, timeout=timeout)


@command(security_groups, "rules")
def rules(cli: Invocation, group_id: Id) -> None:
    """The group's rules, each with the id to revoke it by."""
    with cli.client() as client:
        cli.display.records(client.security_groups.get(group_id).rules, SecurityRuleOut)


def _ports(ports: str | None) -> dict[str, int]:
    if ports is None:
        return {}
    low, _, high = ports.partition("-")
    try:
        return {"from_port": int(low), "to_port": int(high or low)}
    except ValueError:
        raise Refused(f"--port takes a port or a range (8000-8080), not {ports!r}") from None


@command(security_groups, "authorize")
def authorize(
    cli: Invocation,
    group_id: Id,
    protocol: Annotated[str, typer.Option("--protocol", help="tcp, udp, icmp or all.")],
    cidr: Annotated[str, typer.Option("--cidr", help="Where from (or, egress, to): 0.0.0.0/0 is anywhere.")],
    ports: Annotated[
        str | None, typer.Option("--port", metavar="PORT[-PORT]", help="tcp and udp: a port or range.")
    ] = None,
    direction: Annotated[str | None, typer.Option("--direction", help="ingress (default) or egress.")] = None,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Authorize a rule: the group answers with its rules."""
    given: dict[str, Any] = {"protocol": protocol, **_ports(ports), "cidr": cidr}
    if direction is not None:
        given["direction"] = direction
    rule = SecurityRuleIn.model_validate(given)
    with cli.client() as client:
        group = client.security_groups.authorize(group_id, rule)
        finish(cli, SECURITY_GROUPS, client.security_groups, [group], "available", wait=wait, timeout=timeout)


@command(security_groups, "revoke")
def revoke(
    cli: Invocation,
    group_id: Id,
    rule_id: Annotated[str, typer.Argument(metavar="RULE_ID", show_default=False)],
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Revoke a rule, by the id `rules` shows."""
    with cli.client() as client:
        group = client.security_groups.revoke(group_id, rule_id)
        finish(cli, SECURITY_GROUPS, client.security_groups, [group], "available", wait=wait, timeout=timeout)


# --- volumes and snapshots ---------------------------------------------------------------------------------------


@command(volumes, "create")
def create_volume(
    cli: Invocation,
    name: Name,
    size: Annotated[int | None, typer.Option("--size", metavar="GB", help="Its size (unless --snapshot).")] = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Make it from this snapshot.")] = None,
    zone: Annotated[str | None, typer.Option("--zone", help="The zone to make it in.")] = None,
    cloud: Cloud = "sim",
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """A volume, empty (--size) or made from a snapshot: creating, then available."""
    given = {"name": name, "cloud_id": cloud, "size_gb": size, "snapshot_id": snapshot, "zone": zone}
    asked = VolumeCreate.model_validate({key: value for key, value in given.items() if value is not None})
    with cli.client() as client:
        made = client.volumes.create(asked)
        finish(cli, VOLUMES, client.volumes, [made], "available", wait=wait, timeout=timeout)


@command(volumes, "attach")
def attach(
    cli: Invocation,
    volume_id: Id,
    instance: Annotated[str, typer.Option("--instance", help="The instance's Clanavi id (same cloud).")],
    device: Annotated[str | None, typer.Option("--device", help="The device name, e.g. /dev/vdb.")] = None,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Attach a volume to an instance: attaching, then in-use."""
    asked = VolumeAttach.model_validate({"instance_id": instance, **({"device": device} if device else {})})
    with cli.client() as client:
        volume = client.volumes.attach(volume_id, asked)
        finish(cli, VOLUMES, client.volumes, [volume], "in-use", wait=wait, timeout=timeout)


@command(snapshots, "create")
def create_snapshot(
    cli: Invocation,
    volume: Annotated[str, typer.Option("--volume", help="The volume's Clanavi id.")],
    name: Name,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Snapshot a volume: pending, then available."""
    with cli.client() as client:
        made = client.snapshots.create(SnapshotCreate(volume_id=volume, name=name))
        finish(cli, SNAPSHOTS, client.snapshots, [made], "available", wait=wait, timeout=timeout)


# --- addresses ---------------------------------------------------------------------------------------------------


@command(addresses, "allocate")
def allocate(
    cli: Invocation,
    name: Annotated[str | None, typer.Option("--name", help="A label for it.")] = None,
    cloud: Cloud = "sim",
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Allocate a public address."""
    asked = AddressAllocate.model_validate({"cloud_id": cloud, **({"name": name} if name is not None else {})})
    with cli.client() as client:
        made = client.addresses.allocate(asked)
        finish(cli, ADDRESSES, client.addresses, [made], "available", wait=wait, timeout=timeout)


@command(addresses, "associate")
def associate(
    cli: Invocation,
    address_id: Id,
    instance: Annotated[str, typer.Option("--instance", help="The instance's Clanavi id (same cloud).")],
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Associate an address with an instance."""
    with cli.client() as client:
        address = client.addresses.associate(address_id, AddressAssociate(instance_id=instance))
        finish(cli, ADDRESSES, client.addresses, [address], "associated", wait=wait, timeout=timeout)
