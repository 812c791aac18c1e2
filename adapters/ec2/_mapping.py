"""EC2's answers as the contract's values: the state tables, and one function per resource kind. No I/O here.

Provider data the contract has no field for rides in `extra`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from adapters.base import (
    Address,
    Flavor,
    Image,
    ImageState,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    KeyPair,
    Protocol_,
    SecurityGroup,
    SecurityRule,
    Snapshot,
    SnapshotState,
    Volume,
    VolumeState,
)

if TYPE_CHECKING:
    from types_aiobotocore_cloudwatch.type_defs import MetricDataQueryTypeDef
    from types_aiobotocore_ec2.type_defs import (
        AddressTypeDef,
        ImageTypeDef,
        InstanceTypeDef,
        InstanceTypeInfoTypeDef,
        IpPermissionOutputTypeDef,
        IpPermissionTypeDef,
        KeyPairInfoTypeDef,
        SecurityGroupTypeDef,
        SnapshotTypeDef,
        TagTypeDef,
        VolumeTypeDef,
    )

EPOCH = datetime.fromtimestamp(0, UTC)

# The one table of EC2 instance states (Libcloud's NODE_STATE_MAP). EC2 has no rebooting state: a rebooting
# instance stays `running`.
INSTANCE_STATES: Mapping[str, InstanceState] = {
    "pending": InstanceState.PENDING,
    "running": InstanceState.RUNNING,
    "shutting-down": InstanceState.TERMINATING,
    "terminated": InstanceState.TERMINATED,
    "stopping": InstanceState.STOPPING,
    "stopped": InstanceState.STOPPED,
}

IMAGE_STATES: Mapping[str, ImageState] = {
    "pending": ImageState.PENDING,
    "transient": ImageState.PENDING,
    "available": ImageState.AVAILABLE,
    "invalid": ImageState.FAILED,
    "failed": ImageState.FAILED,
    "error": ImageState.FAILED,
    "deregistered": ImageState.DEREGISTERED,
    "disabled": ImageState.DEREGISTERED,
}

VOLUME_STATES: Mapping[str, VolumeState] = {
    "creating": VolumeState.CREATING,
    "available": VolumeState.AVAILABLE,
    "in-use": VolumeState.IN_USE,
    "deleting": VolumeState.DELETING,
    "deleted": VolumeState.DELETED,
    "error": VolumeState.ERROR,
}

# While a volume attaches or detaches EC2 keeps it `in-use` and says so in the attachment's state.
ATTACHMENT_STATES: Mapping[str, VolumeState] = {
    "attaching": VolumeState.ATTACHING,
    "detaching": VolumeState.DETACHING,
}

SNAPSHOT_STATES: Mapping[str, SnapshotState] = {
    "pending": SnapshotState.PENDING,
    "recovering": SnapshotState.PENDING,
    "completed": SnapshotState.AVAILABLE,
    "recoverable": SnapshotState.DELETING,
    "error": SnapshotState.ERROR,
}

# State-reason codes that mean the user (or the instance itself) asked for the shutdown; any other reason on a
# terminated instance is a failure the user should see (capacity, volume limits, internal errors).
_ORDINARY_SHUTDOWN = frozenset({"Client.UserInitiatedShutdown", "Client.InstanceInitiatedShutdown", ""})

# Tags the adapter writes for itself; they stay out of `Instance.tags`.
NAME_TAG = "Name"
TOKEN_TAG = "clanavi:client-token"  # noqa: S105 - a tag key, not a secret

_PROTOCOLS: Mapping[str, Protocol_] = {
    "-1": "all",
    "tcp": "tcp",
    "udp": "udp",
    "icmp": "icmp",
    "6": "tcp",
    "17": "udp",
    "1": "icmp",
}

# Devices the adapter picks from when `attach_volume` is given none (EC2 recommends /dev/sd[f-p] on Linux).
DEVICE_NAMES = tuple(f"/dev/sd{letter}" for letter in "fghijklmnop")


def tags_of(tags: Iterable[TagTypeDef] | None) -> dict[str, str]:
    return {tag.get("Key", ""): tag.get("Value", "") for tag in tags or ()}


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k != NAME_TAG and not k.startswith("clanavi:")}


def instance_state(name: str | None) -> InstanceState:
    return INSTANCE_STATES.get(name or "", InstanceState.UNKNOWN)


def ec2_client_token(token: str) -> str:
    """EC2 takes ClientTokens of up to 64 ASCII characters; longer or other tokens are hashed to 64 hex digits."""
    if 0 < len(token) <= 64 and token.isascii() and token.isprintable():
        return token
    return hashlib.sha256(token.encode()).hexdigest()


def to_instance(raw: InstanceTypeDef) -> Instance:
    tags = tags_of(raw.get("Tags"))
    private_ips: list[str] = []
    public_ips: list[str] = []
    group_ids: list[str] = [g["GroupId"] for g in raw.get("SecurityGroups", ()) if "GroupId" in g]
    if ip := raw.get("PrivateIpAddress"):
        private_ips.append(ip)
    if ip := raw.get("PublicIpAddress"):
        public_ips.append(ip)
    for nic in raw.get("NetworkInterfaces", ()):
        # Elastic IPs show here, on the interface and on each of its private addresses.
        if (ip := nic.get("Association", {}).get("PublicIp")) and ip not in public_ips:
            public_ips.append(ip)
        for address in nic.get("PrivateIpAddresses", ()):
            if (ip := address.get("PrivateIpAddress")) and ip not in private_ips:
                private_ips.append(ip)
            if (ip := address.get("Association", {}).get("PublicIp")) and ip not in public_ips:
                public_ips.append(ip)
        for group in nic.get("Groups", ()):
            if (gid := group.get("GroupId")) and gid not in group_ids:
                group_ids.append(gid)
    reason_raw = raw.get("StateReason", {})
    state = instance_state(raw.get("State", {}).get("Name"))
    reason = None
    if state in (InstanceState.TERMINATED, InstanceState.TERMINATING) and (
        reason_raw.get("Code", "") not in _ORDINARY_SHUTDOWN
    ):
        reason = reason_raw.get("Message") or reason_raw.get("Code")
    return Instance(
        id=raw.get("InstanceId", ""),
        name=tags.get(NAME_TAG, ""),
        state=state,
        image_id=raw.get("ImageId", ""),
        flavor_id=raw.get("InstanceType", ""),
        created_at=raw.get("LaunchTime", EPOCH),
        private_ips=tuple(private_ips),
        public_ips=tuple(public_ips),
        zone=raw.get("Placement", {}).get("AvailabilityZone"),
        key_name=raw.get("KeyName") or None,
        security_group_ids=tuple(group_ids),
        tags=user_tags(tags),
        reason=reason,
        extra={
            "ec2_state": raw.get("State", {}).get("Name"),
            "client_token": raw.get("ClientToken") or tags.get(TOKEN_TAG),
            "vpc_id": raw.get("VpcId"),
            "subnet_id": raw.get("SubnetId"),
            "private_dns": raw.get("PrivateDnsName"),
            "public_dns": raw.get("PublicDnsName"),
            "architecture": raw.get("Architecture"),
            "platform": raw.get("PlatformDetails") or raw.get("Platform"),
            "lifecycle": raw.get("InstanceLifecycle", "on-demand"),
            "state_reason": reason_raw.get("Code"),
        },
    )


def _os_of(raw: ImageTypeDef) -> str:
    platform = (raw.get("Platform") or raw.get("PlatformDetails") or "").lower()
    return "windows" if "windows" in platform else "linux"


def to_image(raw: ImageTypeDef) -> Image:
    root = raw.get("RootDeviceName")
    min_disk = 0
    for mapping in raw.get("BlockDeviceMappings", ()):
        size = mapping.get("Ebs", {}).get("VolumeSize")
        if size is not None and (mapping.get("DeviceName") == root or not min_disk):
            min_disk = int(size)
    image_id = raw.get("ImageId", "")
    return Image(
        id=image_id,
        name=raw.get("Name") or image_id,
        os=_os_of(raw),
        state=IMAGE_STATES.get(raw.get("State", ""), ImageState.PENDING),
        min_disk_gb=min_disk,
        extra={
            "owner_id": raw.get("OwnerId"),
            "owner_alias": raw.get("ImageOwnerAlias"),
            "architecture": raw.get("Architecture"),
            "description": raw.get("Description"),
            "created": raw.get("CreationDate"),
            "root_device_type": raw.get("RootDeviceType"),
            "virtualization_type": raw.get("VirtualizationType"),
            "platform_details": raw.get("PlatformDetails"),
            "public": raw.get("Public"),
            "source_instance_id": raw.get("SourceInstanceId"),
            "tags": tags_of(raw.get("Tags")),
        },
    )


def to_flavor(raw: InstanceTypeInfoTypeDef) -> Flavor:
    name = raw.get("InstanceType", "")
    storage = raw.get("InstanceStorageInfo", {})
    return Flavor(
        id=name,
        name=name,
        vcpus=int(raw.get("VCpuInfo", {}).get("DefaultVCpus", 0)),
        ram_mb=int(raw.get("MemoryInfo", {}).get("SizeInMiB", 0)),
        # Local instance storage; EBS-only types have none (their disks are volumes).
        disk_gb=int(storage.get("TotalSizeInGB", 0)) if raw.get("InstanceStorageSupported") else 0,
        extra={
            "architectures": tuple(raw.get("ProcessorInfo", {}).get("SupportedArchitectures", ())),
            "current_generation": raw.get("CurrentGeneration"),
            "burstable": raw.get("BurstablePerformanceSupported"),
            "network_performance": raw.get("NetworkInfo", {}).get("NetworkPerformance"),
            "gpus": sum(int(g.get("Count", 0)) for g in raw.get("GpuInfo", {}).get("Gpus", ())),
            "ebs_only": not raw.get("InstanceStorageSupported", False),
        },
    )


def to_key_pair(raw: KeyPairInfoTypeDef, private_key: str | None = None) -> KeyPair:
    return KeyPair(
        name=raw.get("KeyName", ""),
        fingerprint=raw.get("KeyFingerprint", ""),
        private_key=private_key,
        extra={"key_pair_id": raw.get("KeyPairId"), "key_type": raw.get("KeyType"), "created": raw.get("CreateTime")},
    )


def _ports(protocol: Protocol_, raw: IpPermissionOutputTypeDef) -> tuple[int | None, int | None]:
    if protocol == "all":
        return None, None
    low, high = raw.get("FromPort"), raw.get("ToPort")
    if protocol == "icmp" and (low is None or low == -1):
        return None, None
    return low, high


def rules_of(
    permissions: Iterable[IpPermissionOutputTypeDef], direction: Literal["ingress", "egress"]
) -> tuple[list[SecurityRule], int]:
    """The CIDR rules among EC2 permissions, and how many it had that the contract cannot express (group pairs,
    prefix lists, other IP protocols)."""
    rules: list[SecurityRule] = []
    unmapped = 0
    for perm in permissions:
        protocol = _PROTOCOLS.get(str(perm.get("IpProtocol", "")))
        unmapped += len(perm.get("UserIdGroupPairs", ())) + len(perm.get("PrefixListIds", ()))
        cidrs = [r["CidrIp"] for r in perm.get("IpRanges", ()) if "CidrIp" in r]
        cidrs += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", ()) if "CidrIpv6" in r]
        if protocol is None:
            unmapped += len(cidrs)
            continue
        low, high = _ports(protocol, perm)
        for cidr in cidrs:
            rules.append(SecurityRule(direction, protocol, low, high, cidr))
    return rules, unmapped


def permission_of(rule: SecurityRule) -> IpPermissionTypeDef:
    """One EC2 permission for one contract rule (ports 0-65535 when a TCP/UDP rule names none)."""
    perm: IpPermissionTypeDef = {"IpProtocol": "-1" if rule.protocol == "all" else rule.protocol}
    if rule.protocol in ("tcp", "udp"):
        perm["FromPort"] = 0 if rule.from_port is None else rule.from_port
        perm["ToPort"] = 65535 if rule.to_port is None else rule.to_port
    elif rule.protocol == "icmp":
        perm["FromPort"] = -1 if rule.from_port is None else rule.from_port
        perm["ToPort"] = -1 if rule.to_port is None else rule.to_port
    if ":" in rule.cidr:
        perm["Ipv6Ranges"] = [{"CidrIpv6": rule.cidr}]
    else:
        perm["IpRanges"] = [{"CidrIp": rule.cidr}]
    return perm


def to_security_group(raw: SecurityGroupTypeDef) -> SecurityGroup:
    ingress, unmapped_in = rules_of(raw.get("IpPermissions", ()), "ingress")
    egress, unmapped_out = rules_of(raw.get("IpPermissionsEgress", ()), "egress")
    return SecurityGroup(
        id=raw.get("GroupId", ""),
        name=raw.get("GroupName", ""),
        description=raw.get("Description", ""),
        rules=tuple(ingress + egress),
        extra={
            "vpc_id": raw.get("VpcId"),
            "owner_id": raw.get("OwnerId"),
            "unmapped_rules": unmapped_in + unmapped_out,
            "tags": tags_of(raw.get("Tags")),
        },
    )


def to_volume(raw: VolumeTypeDef) -> Volume:
    tags = tags_of(raw.get("Tags"))
    attachments = raw.get("Attachments", [])
    attachment = attachments[0] if attachments else None
    state = VOLUME_STATES.get(raw.get("State", ""), VolumeState.ERROR)
    if attachment is not None and state is VolumeState.IN_USE:
        state = ATTACHMENT_STATES.get(attachment.get("State", ""), state)
    return Volume(
        id=raw.get("VolumeId", ""),
        name=tags.get(NAME_TAG, ""),
        size_gb=int(raw.get("Size", 0)),
        state=state,
        created_at=raw.get("CreateTime", EPOCH),
        zone=raw.get("AvailabilityZone"),
        instance_id=attachment.get("InstanceId") if attachment else None,
        device=attachment.get("Device") if attachment else None,
        snapshot_id=raw.get("SnapshotId") or None,
        extra={
            "volume_type": raw.get("VolumeType"),
            "iops": raw.get("Iops"),
            "encrypted": raw.get("Encrypted"),
            "attachment_state": attachment.get("State") if attachment else None,
            "tags": user_tags(tags),
        },
    )


def to_snapshot(raw: SnapshotTypeDef) -> Snapshot:
    tags = tags_of(raw.get("Tags"))
    description = raw.get("Description", "")
    return Snapshot(
        id=raw.get("SnapshotId", ""),
        volume_id=raw.get("VolumeId", ""),
        size_gb=int(raw.get("VolumeSize", 0)),
        state=SNAPSHOT_STATES.get(raw.get("State", ""), SnapshotState.PENDING),
        created_at=raw.get("StartTime", EPOCH),
        name=tags.get(NAME_TAG, description),
        extra={
            "description": description,
            "progress": raw.get("Progress"),
            "encrypted": raw.get("Encrypted"),
            "owner_id": raw.get("OwnerId"),
            "tags": user_tags(tags),
        },
    )


def to_address(raw: AddressTypeDef) -> Address:
    return Address(
        id=raw.get("AllocationId") or raw.get("PublicIp", ""),
        ip=raw.get("PublicIp", ""),
        instance_id=raw.get("InstanceId") or None,
        extra={
            "association_id": raw.get("AssociationId") or None,
            "domain": raw.get("Domain"),
            "network_interface_id": raw.get("NetworkInterfaceId") or None,
            "private_ip": raw.get("PrivateIpAddress") or None,
        },
    )


# --- list cursors ---------------------------------------------------------------------------------------------
#
# DescribeInstances pages by EC2's NextToken, asks for at least 5 and at most 1,000 results, and counts
# reservations. The cursor names the EC2 page (its token and size) and how many of its instances the caller has
# already seen, so any `limit` is honoured exactly.


def encode_cursor(token: str | None, skip: int, size: int) -> str:
    raw = json.dumps([token, skip, size], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str | None, int, int]:
    try:
        token, skip, size = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidCloudRequest(f"not a cursor of the EC2 adapter: {cursor!r}") from exc
    if not (token is None or isinstance(token, str)) or not isinstance(skip, int) or not isinstance(size, int):
        raise InvalidCloudRequest(f"not a cursor of the EC2 adapter: {cursor!r}")
    return token, skip, size


def page_size(limit: int) -> int:
    return max(5, min(1000, limit))


def window(
    items: Sequence[Instance], token: str | None, next_token: str | None, skip: int, limit: int, size: int
) -> tuple[list[Instance], str | None]:
    """The `limit` instances after `skip` in one EC2 page, and the cursor for what follows."""
    chosen = list(items[skip : skip + limit])
    if skip + limit < len(items):
        return chosen, encode_cursor(token, skip + limit, size)
    return chosen, encode_cursor(next_token, 0, size) if next_token else None


def metric_queries(instance_id: str, period: int) -> list[MetricDataQueryTypeDef]:
    return [
        {
            "Id": f"m{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/EC2",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                },
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": True,
        }
        for index, (_, metric, stat, _) in enumerate(METRICS)
    ]


def metric_period(configured: int, start: datetime, now: datetime) -> int:
    """The period to ask CloudWatch for: the configured one, coarsened as CloudWatch requires for older data
    (periods of 5 minutes from 15 days back, of an hour from 63 days back)."""
    age = now - start
    step = 3600 if age > timedelta(days=63) else 300 if age > timedelta(days=15) else 60
    return max(step, -(-configured // step) * step)


# contract name, CloudWatch metric (namespace AWS/EC2), statistic over each period, our unit
METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("cpu_utilization", "CPUUtilization", "Average", "percent"),
    ("network_in_bytes", "NetworkIn", "Sum", "bytes"),
    ("network_out_bytes", "NetworkOut", "Sum", "bytes"),
    ("disk_read_bytes", "DiskReadBytes", "Sum", "bytes"),
    ("disk_write_bytes", "DiskWriteBytes", "Sum", "bytes"),
)


__all__ = [
    "DEVICE_NAMES",
    "IMAGE_STATES",
    "INSTANCE_STATES",
    "METRICS",
    "NAME_TAG",
    "SNAPSHOT_STATES",
    "TOKEN_TAG",
    "VOLUME_STATES",
    "decode_cursor",
    "ec2_client_token",
    "encode_cursor",
    "instance_state",
    "metric_period",
    "metric_queries",
    "page_size",
    "permission_of",
    "rules_of",
    "tags_of",
    "to_address",
    "to_flavor",
    "to_image",
    "to_instance",
    "to_key_pair",
    "to_security_group",
    "to_snapshot",
    "to_volume",
    "user_tags",
    "window",
]
