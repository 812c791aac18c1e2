"""EC2's answers as contract values, its errors as contract errors, and the list cursor: pure functions, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ParamValidationError
from pydantic import ValidationError

from adapters.base import (
    CloudAuthError,
    CloudError,
    CloudNotFound,
    CloudUnavailable,
    ImageState,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    QuotaExceeded,
    SecurityRule,
    SnapshotState,
    Throttled,
    VolumeState,
)
from adapters.ec2 import Ec2Config
from adapters.ec2 import _mapping as m
from adapters.ec2._errors import translate

if TYPE_CHECKING:
    from types_aiobotocore_ec2.literals import VolumeStateType
    from types_aiobotocore_ec2.type_defs import InstanceTypeDef, IpPermissionOutputTypeDef, VolumeTypeDef

LAUNCHED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _instance(**overrides: object) -> InstanceTypeDef:
    raw: InstanceTypeDef = {
        "InstanceId": "i-0123456789abcdef0",
        "ImageId": "ami-12345678",
        "InstanceType": "t3.micro",
        "LaunchTime": LAUNCHED,
        "State": {"Code": 16, "Name": "running"},
        "Placement": {"AvailabilityZone": "us-east-1a"},
        "KeyName": "deploy",
        "PrivateIpAddress": "10.0.0.5",
        "PublicIpAddress": "54.1.2.3",
        "SecurityGroups": [{"GroupId": "sg-1", "GroupName": "web"}],
        "Tags": [
            {"Key": "Name", "Value": "web-1"},
            {"Key": "team", "Value": "platform"},
            {"Key": "clanavi:client-token", "Value": "tok"},
        ],
        "NetworkInterfaces": [
            {
                "Association": {"PublicIp": "54.1.2.3"},
                "Groups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}],
                "PrivateIpAddresses": [
                    {"PrivateIpAddress": "10.0.0.5", "Primary": True, "Association": {"PublicIp": "54.1.2.3"}},
                    # a secondary private address with an elastic IP of its own
                    {"PrivateIpAddress": "10.0.0.6", "Primary": False, "Association": {"PublicIp": "3.3.3.3"}},
                ],
            }
        ],
    }
    raw.update(overrides)  # type: ignore[typeddict-item]
    return raw


def test_every_ec2_instance_state_has_a_contract_state() -> None:
    assert {name: state.value for name, state in m.INSTANCE_STATES.items()} == {
        "pending": "pending",
        "running": "running",
        "shutting-down": "terminating",
        "terminated": "terminated",
        "stopping": "stopping",
        "stopped": "stopped",
    }
    assert m.instance_state("something-new") is InstanceState.UNKNOWN
    assert m.instance_state(None) is InstanceState.UNKNOWN


def test_an_instance_reads_as_ec2_describes_it() -> None:
    instance = m.to_instance(_instance())
    assert instance == Instance(
        id="i-0123456789abcdef0",
        name="web-1",
        state=InstanceState.RUNNING,
        image_id="ami-12345678",
        flavor_id="t3.micro",
        created_at=LAUNCHED,
        private_ips=("10.0.0.5", "10.0.0.6"),
        public_ips=("54.1.2.3", "3.3.3.3"),
        zone="us-east-1a",
        key_name="deploy",
        security_group_ids=("sg-1", "sg-2"),
        tags={"team": "platform"},
        reason=None,
        extra=instance.extra,
    )
    assert instance.extra["client_token"] == "tok"


def test_transitional_states_come_through_untouched() -> None:
    for name, state in (("pending", InstanceState.PENDING), ("stopping", InstanceState.STOPPING)):
        instance = m.to_instance(_instance(State={"Code": 0, "Name": name}))
        assert instance.state is state
        assert instance.state.is_transitional


def test_a_launch_that_failed_says_why_and_a_user_shutdown_does_not() -> None:
    failed = m.to_instance(
        _instance(
            State={"Code": 48, "Name": "terminated"},
            StateReason={"Code": "Server.InsufficientInstanceCapacity", "Message": "Insufficient capacity."},
        )
    )
    assert failed.state is InstanceState.TERMINATED
    assert failed.reason == "Insufficient capacity."
    ended = m.to_instance(
        _instance(
            State={"Code": 48, "Name": "terminated"},
            StateReason={"Code": "Client.UserInitiatedShutdown", "Message": "User initiated shutdown"},
        )
    )
    assert ended.reason is None


def test_an_instance_without_network_data_still_reads() -> None:
    bare = m.to_instance({"InstanceId": "i-1", "State": {"Code": 0, "Name": "pending"}})
    assert (bare.public_ips, bare.private_ips, bare.zone, bare.key_name) == ((), (), None, None)
    assert bare.created_at.tzinfo is not None


def test_volume_states_follow_the_attachment() -> None:
    base: VolumeTypeDef = {"VolumeId": "vol-1", "Size": 8, "CreateTime": LAUNCHED, "AvailabilityZone": "us-east-1a"}
    attaching = m.to_volume(
        {**base, "State": "in-use", "Attachments": [{"InstanceId": "i-1", "Device": "/dev/sdf", "State": "attaching"}]}
    )
    assert (attaching.state, attaching.instance_id, attaching.device) == (VolumeState.ATTACHING, "i-1", "/dev/sdf")
    attached = m.to_volume({**base, "State": "in-use", "Attachments": [{"InstanceId": "i-1", "State": "attached"}]})
    assert attached.state is VolumeState.IN_USE
    detaching = m.to_volume({**base, "State": "in-use", "Attachments": [{"InstanceId": "i-1", "State": "detaching"}]})
    assert detaching.state is VolumeState.DETACHING
    free = m.to_volume({**base, "State": "available", "Attachments": [], "SnapshotId": ""})
    assert (free.state, free.instance_id, free.snapshot_id) == (VolumeState.AVAILABLE, None, None)
    states: list[VolumeStateType] = ["creating", "available", "in-use", "deleting", "deleted", "error"]
    assert set(states) == set(m.VOLUME_STATES), "a state EC2 documents is missing from the table"
    assert {m.to_volume({**base, "State": s}).state for s in states} == set(VolumeState) - {
        VolumeState.ATTACHING,
        VolumeState.DETACHING,
    }


def test_image_and_snapshot_states() -> None:
    assert m.IMAGE_STATES["available"] is ImageState.AVAILABLE
    assert m.IMAGE_STATES["pending"] is ImageState.PENDING
    assert m.IMAGE_STATES["failed"] is ImageState.FAILED
    assert m.SNAPSHOT_STATES["completed"] is SnapshotState.AVAILABLE
    assert m.SNAPSHOT_STATES["pending"] is SnapshotState.PENDING


def test_an_image_reads_its_os_and_root_disk() -> None:
    image = m.to_image(
        {
            "ImageId": "ami-1",
            "Name": "amzn2",
            "State": "available",
            "RootDeviceName": "/dev/xvda",
            "PlatformDetails": "Linux/UNIX",
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 100}},
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}},
            ],
        }
    )
    assert (image.name, image.os, image.state, image.min_disk_gb) == ("amzn2", "linux", ImageState.AVAILABLE, 8)
    windows = m.to_image({"ImageId": "ami-2", "Platform": "windows", "State": "pending"})
    assert (windows.name, windows.os, windows.state) == ("ami-2", "windows", ImageState.PENDING)


def test_a_flavor_has_vcpus_ram_and_local_disk() -> None:
    flavor = m.to_flavor(
        {
            "InstanceType": "m5d.large",
            "VCpuInfo": {"DefaultVCpus": 2},
            "MemoryInfo": {"SizeInMiB": 8192},
            "InstanceStorageSupported": True,
            "InstanceStorageInfo": {"TotalSizeInGB": 75},
        }
    )
    assert (flavor.id, flavor.vcpus, flavor.ram_mb, flavor.disk_gb) == ("m5d.large", 2, 8192, 75)
    ebs_only = m.to_flavor(
        {"InstanceType": "t3.micro", "VCpuInfo": {"DefaultVCpus": 2}, "MemoryInfo": {"SizeInMiB": 1024}}
    )
    assert ebs_only.disk_gb == 0
    assert ebs_only.extra["ebs_only"] is True


RULES = [
    SecurityRule("ingress", "tcp", 22, 22, "0.0.0.0/0"),
    SecurityRule("ingress", "udp", 53, 53, "10.0.0.0/8"),
    SecurityRule("ingress", "icmp", None, None, "192.168.0.0/16"),
    SecurityRule("ingress", "icmp", 8, 0, "192.168.0.0/16"),
    SecurityRule("egress", "all", None, None, "0.0.0.0/0"),
    SecurityRule("egress", "tcp", 443, 443, "::/0"),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.direction}-{r.protocol}-{r.from_port}-{r.cidr}")
def test_a_rule_survives_the_round_trip_through_an_ec2_permission(rule: SecurityRule) -> None:
    permission = m.permission_of(rule)
    rules, unmapped = m.rules_of([permission], rule.direction)  # type: ignore[list-item]
    assert (rules, unmapped) == ([rule], 0)


def test_tcp_without_ports_means_every_port() -> None:
    permission = m.permission_of(SecurityRule("ingress", "tcp", None, None, "0.0.0.0/0"))
    assert (permission["FromPort"], permission["ToPort"]) == (0, 65535)


def test_permissions_the_contract_cannot_express_are_counted_not_invented() -> None:
    permissions: list[IpPermissionOutputTypeDef] = [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": "sg-9"}]},
        {"IpProtocol": "50", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},  # ESP
        {"IpProtocol": "6", "FromPort": 8080, "ToPort": 8081, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]},
    ]
    rules, unmapped = m.rules_of(permissions, "ingress")
    assert rules == [SecurityRule("ingress", "tcp", 8080, 8081, "10.1.0.0/16")]
    assert unmapped == 2


def test_client_tokens_fit_ec2() -> None:
    assert m.ec2_client_token("abc-123") == "abc-123"
    long = "x" * 65
    assert len(m.ec2_client_token(long)) == 64
    assert m.ec2_client_token(long) == m.ec2_client_token(long)
    assert m.ec2_client_token(long) != m.ec2_client_token(long + "y")
    assert m.ec2_client_token("é") != "é"


def test_the_cursor_round_trips_and_garbage_is_refused() -> None:
    cursor = m.encode_cursor("eyJ2IjoiMiJ9+/==", 3, 5)
    assert m.decode_cursor(cursor) == ("eyJ2IjoiMiJ9+/==", 3, 5)
    assert cursor.replace("-", "").replace("_", "").isalnum(), "a cursor must survive a URL query string"
    for garbage in ("not a cursor", m.encode_cursor(None, 0, 5)[:-3], "W10", "WzEsMiwzXQ"):
        with pytest.raises(InvalidCloudRequest):
            m.decode_cursor(garbage)


def test_a_window_walks_one_ec2_page_then_moves_to_the_next() -> None:
    items = [m.to_instance(_instance(InstanceId=f"i-{n:017x}")) for n in range(5)]
    first, after = m.window(items, None, "next-page", 0, 2, 5)
    assert [i.id for i in first] == [items[0].id, items[1].id]
    assert after is not None and m.decode_cursor(after) == (None, 2, 5)
    last, after = m.window(items, None, "next-page", 4, 2, 5)
    assert [i.id for i in last] == [items[4].id]
    assert after is not None and m.decode_cursor(after) == ("next-page", 0, 5)
    whole, after = m.window(items, "t", None, 0, 100, 100)
    assert (len(whole), after) == (5, None)


def test_the_metric_period_coarsens_for_old_data_as_cloudwatch_requires() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    assert m.metric_period(60, now - timedelta(hours=1), now) == 60
    assert m.metric_period(300, now - timedelta(days=1), now) == 300
    assert m.metric_period(60, now - timedelta(days=20), now) == 300
    assert m.metric_period(360, now - timedelta(days=20), now) == 600
    assert m.metric_period(300, now - timedelta(days=100), now) == 3600
    assert m.metric_period(7200, now - timedelta(days=100), now) == 7200


def _client_error(code: str, status: int = 400) -> ClientError:
    answer = {"Error": {"Code": code, "Message": f"{code} happened"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(answer, "RunInstances")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("InvalidInstanceID.NotFound", CloudNotFound),
        ("InvalidInstanceID.Malformed", CloudNotFound),
        ("InvalidAMIID.NotFound", CloudNotFound),
        ("InvalidAMIID.Malformed", CloudNotFound),
        ("InvalidAMIID.Unavailable", CloudNotFound),
        ("InvalidKeyPair.NotFound", CloudNotFound),
        ("InvalidGroup.NotFound", CloudNotFound),
        ("InvalidGroupId.Malformed", CloudNotFound),
        ("InvalidPermission.NotFound", CloudNotFound),
        ("InvalidVolume.NotFound", CloudNotFound),
        ("InvalidSnapshot.NotFound", CloudNotFound),
        ("InvalidAllocationID.NotFound", CloudNotFound),
        ("InvalidAddress.NotFound", CloudNotFound),
        ("InvalidInstanceType", CloudNotFound),
        ("InvalidKeyPair.Duplicate", InvalidCloudRequest),
        ("InvalidGroup.Duplicate", InvalidCloudRequest),
        ("InvalidPermission.Duplicate", InvalidCloudRequest),
        ("InvalidParameterValue", InvalidCloudRequest),
        ("InvalidKeyPair.Format", InvalidCloudRequest),
        ("InvalidUserData.Malformed", InvalidCloudRequest),
        ("IdempotentParameterMismatch", InvalidCloudRequest),
        ("IncorrectState", InvalidCloudState),
        ("IncorrectInstanceState", InvalidCloudState),
        ("VolumeInUse", InvalidCloudState),
        ("DependencyViolation", InvalidCloudState),
        ("RequestLimitExceeded", Throttled),
        ("Throttling", Throttled),
        ("InstanceLimitExceeded", QuotaExceeded),
        ("VcpuLimitExceeded", QuotaExceeded),
        ("AddressLimitExceeded", QuotaExceeded),
        ("SomeNewLimitExceeded", QuotaExceeded),
        ("AuthFailure", CloudAuthError),
        ("UnauthorizedOperation", CloudAuthError),
        ("InsufficientInstanceCapacity", CloudUnavailable),
        ("InternalError", CloudUnavailable),
    ],
)
def test_ec2_error_codes_become_contract_errors(code: str, expected: type[CloudError]) -> None:
    error = translate(_client_error(code), "RunInstances")
    assert type(error) is expected
    assert code in str(error) and "RunInstances" in str(error)


def test_unknown_codes_fall_back_on_the_http_status() -> None:
    assert type(translate(_client_error("Brand.New", 403), "X")) is CloudAuthError
    assert type(translate(_client_error("Brand.New", 503), "X")) is CloudUnavailable
    assert type(translate(_client_error("Brand.New", 400), "X")) is InvalidCloudRequest


def test_sdk_failures_without_an_answer() -> None:
    assert type(translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "X")) is CloudUnavailable
    assert type(translate(NoCredentialsError(), "X")) is CloudAuthError
    assert type(translate(ParamValidationError(report="bad"), "X")) is InvalidCloudRequest
    assert type(translate(TimeoutError(), "X")) is CloudUnavailable


def test_config_takes_keys_in_pairs_and_refuses_unknown_settings() -> None:
    assert Ec2Config().region == "us-east-1"
    with pytest.raises(ValidationError):
        Ec2Config.model_validate({"access_key_id": "AKIA"})
    with pytest.raises(ValidationError):
        Ec2Config.model_validate({"session_token": "x"})
    with pytest.raises(ValidationError):
        Ec2Config.model_validate({"regoin": "eu-west-1"})
    with pytest.raises(ValidationError):
        Ec2Config.model_validate({"throttle": {"mutating": {"capacity": 0, "refill_per_second": 1}}})
    secret = Ec2Config.model_validate({"access_key_id": "AKIA", "secret_access_key": "hush"})
    assert "hush" not in repr(secret)
