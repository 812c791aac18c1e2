"""AWS EC2 through aioboto3: one long-lived EC2 client and one CloudWatch client per adapter.

Every request goes through `_call`, which waits for the account's client-side rate limit, retries what EC2
throttled (and what is safe to repeat after a transient failure) with exponential backoff and jitter, and sends each
attempt through `AdapterBase._call` (SDK errors translated by `_errors`, the attempt timed). Operations answer the
state as EC2 reports it (`pending`, `stopping`): waiting for a transition to finish is the caller's business. List
paths batch: one DescribeInstances per page, one per 1,000 ids in `get_instances`, never one call per instance.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, cast

import aioboto3
from aiobotocore.config import AioConfig
from cachetools import LRUCache
from tenacity import stop_after_attempt

from adapters.base import (
    CLOUD_FEATURES,
    MACHINE_FEATURES,
    AdapterBase,
    Address,
    CloudNotFound,
    CloudUnavailable,
    Feature,
    Flavor,
    Image,
    ImageState,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    KeyPair,
    LaunchSpec,
    MetricSample,
    Page,
    Region,
    SecurityGroup,
    SecurityRule,
    Snapshot,
    Throttled,
    Volume,
    VolumeSpec,
    VolumeState,
    Zone,
)
from adapters.ec2 import _errors
from adapters.ec2 import _mapping as m
from adapters.ec2._throttle import Sleep, Throttle, backoff, is_non_mutating
from adapters.ec2.config import Ec2Config
from adapters.kit import made_by_token
from kernel.retry import retrying

if TYPE_CHECKING:
    from types_aiobotocore_cloudwatch.client import CloudWatchClient
    from types_aiobotocore_cloudwatch.type_defs import GetMetricDataInputTypeDef
    from types_aiobotocore_ec2.client import EC2Client
    from types_aiobotocore_ec2.literals import InstanceTypeType, VolumeTypeType
    from types_aiobotocore_ec2.type_defs import (
        CreateVolumeRequestTypeDef,
        DescribeInstancesRequestTypeDef,
        FilterTypeDef,
        InstanceTypeDef,
        RunInstancesRequestTypeDef,
        SnapshotTypeDef,
        TagSpecificationTypeDef,
        TagTypeDef,
        VolumeTypeDef,
    )


T = TypeVar("T")
# An answer of EC2's (or CloudWatch's), as the SDK types it.
R = TypeVar("R", bound=Mapping[str, object])
Service = Literal["ec2", "cloudwatch"]

log = logging.getLogger("clanavi.adapters.ec2")

# Instance ids EC2 could know: anything else names nothing (and would make EC2 refuse the whole describe).
_INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
# DescribeInstances: ids per call by InstanceIds, and values per instance-id filter.
_IDS_PER_CALL = 1000
_FILTER_VALUES = 200
# EC2's answer to a CreateImage whose name the account has given an image already.
_DUPLICATE_AMI = "InvalidAMIName.Duplicate"
# Instances whose last description the adapter keeps (a few hundred bytes each).
_SEEN_INSTANCES = 10_000

# What each lifecycle action refuses, checked before asking EC2 (which answers IncorrectInstanceState; an emulator
# may not). Everything else is left to EC2 to judge.
_REFUSED: Mapping[str, frozenset[InstanceState]] = {
    "start": frozenset({InstanceState.STOPPING, InstanceState.TERMINATING, InstanceState.TERMINATED}),
    "stop": frozenset({InstanceState.TERMINATING, InstanceState.TERMINATED}),
    "reboot": frozenset(
        {InstanceState.STOPPING, InstanceState.STOPPED, InstanceState.TERMINATING, InstanceState.TERMINATED}
    ),
}


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _the_one(found: Sequence[T], kind: str, resource_id: str) -> T:
    """What a describe by one id found; nothing found is `CloudNotFound`."""
    if not found:
        raise CloudNotFound(f"EC2 has no {kind} {resource_id}")
    return found[0]


class Ec2Adapter(AdapterBase):
    driver: ClassVar[str] = "ec2"
    # EC2 takes 16 KiB of user data before its base64 encoding.
    user_data_limit: ClassVar[int] = 16 * 1024
    errors = _errors
    features: ClassVar[frozenset[Feature]] = MACHINE_FEATURES | CLOUD_FEATURES | {Feature.METRICS}
    config_model: ClassVar[type[Ec2Config]] = Ec2Config
    secret_fields: ClassVar[frozenset[str]] = frozenset({"access_key_id", "secret_access_key", "session_token"})

    def __init__(
        self,
        account_id: str,
        config: Ec2Config,
        ec2: EC2Client,
        cloudwatch: CloudWatchClient,
        resources: AsyncExitStack,
        *,
        throttle: Throttle | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Use `open` (or `connect`): it builds the clients this takes."""
        self.account_id = account_id
        self.config = config
        self._ec2 = ec2
        self._cloudwatch = cloudwatch
        self._resources = resources
        self._throttle = throttle or Throttle(config.throttle)
        self._sleep = sleep
        self._flavors: dict[str, Flavor] | None = None
        # The last description seen of each instance: `terminate_instance` answers from it.
        self._seen: LRUCache[str, Instance] = LRUCache(_SEEN_INSTANCES)
        self._vpc_id: str | None = config.vpc_id
        self._zone: str | None = config.default_zone
        self._closed = False

    @classmethod
    async def open(cls, account_id: str, config: Ec2Config, **options: Any) -> Ec2Adapter:
        """An adapter with its clients created: one session, one EC2 and one CloudWatch client for its lifetime."""
        session = aioboto3.Session(
            aws_access_key_id=config.access_key_id.get_secret_value() if config.access_key_id else None,
            aws_secret_access_key=config.secret_access_key.get_secret_value() if config.secret_access_key else None,
            aws_session_token=config.session_token.get_secret_value() if config.session_token else None,
            region_name=config.region,
        )
        client_config = AioConfig(
            # The adapter retries throttled calls itself, after its own rate limit; the SDK must not retry too.
            retries={"mode": "standard", "total_max_attempts": 1},
            max_pool_connections=config.max_pool_connections,
            connect_timeout=config.connect_timeout_seconds,
            read_timeout=config.read_timeout_seconds,
            user_agent_extra="clanavi",
        )
        stack = AsyncExitStack()
        try:
            ec2 = await stack.enter_async_context(
                session.client("ec2", endpoint_url=config.endpoint_url, config=client_config)
            )
            cloudwatch = await stack.enter_async_context(
                session.client(
                    "cloudwatch",
                    endpoint_url=config.cloudwatch_endpoint_url or config.endpoint_url,
                    config=client_config,
                )
            )
        except BaseException:
            await stack.aclose()
            raise
        return cls(account_id, config, ec2, cloudwatch, stack, **options)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._resources.aclose()

    # --- the one way out ------------------------------------------------------------------------------------------

    async def _call(
        self,
        action: str,
        send: Callable[[], Awaitable[T]],
        /,
        *,
        service: Service = "ec2",
        resources: int = 0,
        idempotent: bool | None = None,
    ) -> T:
        """Send one request: within the rate limit, retried while throttled, each attempt through the base's call."""
        repeatable = is_non_mutating(action) if idempotent is None else idempotent

        def retryable(error: Exception) -> bool:
            return isinstance(error, Throttled) or (repeatable and isinstance(error, CloudUnavailable))

        limits = self.config.throttle
        async for attempt in retrying(
            retryable,
            wait=backoff(limits),
            stop=stop_after_attempt(limits.max_attempts),
            sleep=self._sleep,
            log=log,
            level=logging.INFO,
            what=f"EC2 {action}",
        ):
            # Outside the attempt: a request the rate limit refuses was never sent, and is not retried.
            await self._throttle.acquire(service, action, resources)
            with attempt:
                answer = await super()._call(action, send)
        return answer

    async def _pages(
        self, action: str, operation: Callable[..., Awaitable[R]], /, *, service: Service = "ec2", **params: Any
    ) -> AsyncIterator[R]:
        """Each answer to `action` with `params`, following NextToken to the last page."""
        while True:
            answer = await self._call(action, functools.partial(operation, **params), service=service)
            yield answer
            token = answer.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    # --- regions, zones, flavors ----------------------------------------------------------------------------------

    async def list_regions(self) -> Sequence[Region]:
        answer = await self._call("DescribeRegions", lambda: self._ec2.describe_regions())
        names = sorted(r["RegionName"] for r in answer.get("Regions", []) if "RegionName" in r)
        return [Region(id=name, name=name) for name in names]

    async def list_zones(self) -> Sequence[Zone]:
        answer = await self._call("DescribeAvailabilityZones", lambda: self._ec2.describe_availability_zones())
        return [
            Zone(
                id=zone.get("ZoneName", ""),
                region_id=zone.get("RegionName", self.config.region),
                available=zone.get("State") == "available",
            )
            for zone in answer.get("AvailabilityZones", [])
        ]

    async def _default_zone(self) -> str:
        if self._zone is None:
            zones = [z.id for z in await self.list_zones() if z.available]
            if not zones:
                raise CloudUnavailable(f"EC2 region {self.config.region} has no available zone")
            self._zone = zones[0]
        return self._zone

    async def _describe_instance_types(self, names: Sequence[str] = ()) -> dict[str, Flavor]:
        describe = self._ec2.describe_instance_types
        if names:
            # With names EC2 answers them all at once (and refuses MaxResults).
            wanted = cast("list[InstanceTypeType]", list(names))
            answers = [await self._call("DescribeInstanceTypes", lambda: describe(InstanceTypes=wanted))]
        else:
            answers = [answer async for answer in self._pages("DescribeInstanceTypes", describe, MaxResults=100)]
        flavors = (m.to_flavor(raw) for answer in answers for raw in answer.get("InstanceTypes", []))
        return {flavor.id: flavor for flavor in flavors}

    async def _flavor_table(self) -> dict[str, Flavor]:
        # Instance types do not change while an adapter lives: read them once.
        if self._flavors is None:
            self._flavors = await self._describe_instance_types(self.config.instance_types)
        return self._flavors

    async def list_flavors(self) -> Sequence[Flavor]:
        table = await self._flavor_table()
        return sorted(table.values(), key=lambda f: (f.vcpus, f.ram_mb, f.id))

    async def get_flavor(self, flavor_id: str) -> Flavor:
        """Any instance type the region offers (configured `instance_types` only narrow `list_flavors`)."""
        if self._flavors is not None and flavor_id in self._flavors:
            return self._flavors[flavor_id]
        if self._flavors is not None and not self.config.instance_types:
            raise CloudNotFound(f"EC2 region {self.config.region} has no instance type {flavor_id!r}")
        found = await self._describe_instance_types([flavor_id])  # EC2 answers InvalidInstanceType if unknown
        if flavor_id not in found:
            raise CloudNotFound(f"EC2 region {self.config.region} has no instance type {flavor_id!r}")
        return found[flavor_id]

    # --- images ---------------------------------------------------------------------------------------------------

    async def list_images(self) -> Sequence[Image]:
        images: dict[str, Image] = {}
        if self.config.image_owners:
            owned = await self._call(
                "DescribeImages", lambda: self._ec2.describe_images(Owners=list(self.config.image_owners))
            )
            images.update((raw.get("ImageId", ""), m.to_image(raw)) for raw in owned.get("Images", []))
        if self.config.image_ids:
            # A filter, unlike ImageIds, does not fail the whole call for one image that is gone.
            named = await self._call(
                "DescribeImages",
                lambda: self._ec2.describe_images(
                    Filters=[{"Name": "image-id", "Values": list(self.config.image_ids)}]
                ),
            )
            images.update((raw.get("ImageId", ""), m.to_image(raw)) for raw in named.get("Images", []))
        return sorted(images.values(), key=lambda i: (i.name, i.id))

    async def get_image(self, image_id: str) -> Image:
        answer = await self._call("DescribeImages", lambda: self._ec2.describe_images(ImageIds=[image_id]))
        return m.to_image(_the_one(answer.get("Images", []), "image", image_id))

    async def ex_search_images(self, name: str, owners: Sequence[str] = ("amazon",)) -> Sequence[Image]:
        """Available images of `owners` whose name matches `name` (EC2 wildcards `*` and `?`), newest first; for
        finding, say, the current Amazon Linux AMI outside the configured `list_images` selection."""
        filters: list[FilterTypeDef] = [{"Name": "name", "Values": [name]}, {"Name": "state", "Values": ["available"]}]
        answer = await self._call(
            "DescribeImages", lambda: self._ec2.describe_images(Owners=list(owners), Filters=filters)
        )
        found = sorted(answer.get("Images", []), key=lambda raw: (raw.get("CreationDate", ""), raw.get("ImageId", "")))
        return [m.to_image(raw) for raw in reversed(found)]

    async def _image_by_token(self, token: str) -> Image | None:
        answer = await self._call(
            "DescribeImages", lambda: self._ec2.describe_images(Owners=["self"], Filters=_tagged(token))
        )
        found = answer.get("Images", [])
        return m.to_image(found[0]) if found else None

    async def create_image(self, instance_id: str, name: str, *, client_token: str) -> Image:
        """CreateImage has no ClientToken: the image is tagged with the token as it is made, and looked for first.
        Image names are unique in an account, so of two calls racing with one token, the second is refused as a
        duplicate and finds the first's image."""
        token = m.ec2_client_token(client_token)
        earlier = await self._image_by_token(token)
        if earlier is not None:
            return made_by_token("image", earlier, name=name)
        tags: list[TagSpecificationTypeDef] = [{"ResourceType": "image", "Tags": _tag_list({m.TOKEN_TAG: token})}]
        try:
            created = await self._call(
                "CreateImage",
                lambda: self._ec2.create_image(InstanceId=instance_id, Name=name, TagSpecifications=tags),
            )
        except InvalidCloudRequest as refused:
            duplicate = refused.__cause__ is not None and _errors.error_code(refused.__cause__) == _DUPLICATE_AMI
            raced = await self._image_by_token(token) if duplicate else None
            if raced is None:
                raise
            return made_by_token("image", raced, name=name)
        image_id = created["ImageId"]
        try:
            return await self.get_image(image_id)
        except CloudNotFound:
            # EC2 is eventually consistent: a brand-new image may not be described yet.
            return Image(
                id=image_id, name=name, os="", state=ImageState.PENDING, extra={"source_instance_id": instance_id}
            )

    async def deregister_image(self, image_id: str) -> None:
        await self._call("DeregisterImage", lambda: self._ec2.deregister_image(ImageId=image_id))

    # --- instances ------------------------------------------------------------------------------------------------

    async def _describe_instances(self, request: DescribeInstancesRequestTypeDef) -> list[InstanceTypeDef]:
        """Every instance a DescribeInstances request matches, following NextToken."""
        found: list[InstanceTypeDef] = []
        async for answer in self._pages("DescribeInstances", self._ec2.describe_instances, **request):
            for reservation in answer.get("Reservations", []):
                found.extend(reservation.get("Instances", []))
        return found

    async def _raw_instance(self, instance_id: str) -> InstanceTypeDef:
        return _the_one(await self._describe_instances({"InstanceIds": [instance_id]}), "instance", instance_id)

    def _instance(self, raw: InstanceTypeDef) -> Instance:
        """The contract's instance for an EC2 description, remembered for `terminate_instance`."""
        return self._remember(m.to_instance(raw))

    def _remember(self, instance: Instance) -> Instance:
        self._seen[instance.id] = instance
        return instance

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        limit = max(1, limit)
        token, skip, size = m.decode_cursor(cursor) if cursor else (None, 0, m.page_size(limit))
        if token:
            request = functools.partial(self._ec2.describe_instances, MaxResults=size, NextToken=token)
        else:
            request = functools.partial(self._ec2.describe_instances, MaxResults=size)
        answer = await self._call("DescribeInstances", request)
        items = [
            self._instance(raw)
            for reservation in answer.get("Reservations", [])
            for raw in reservation.get("Instances", [])
        ]
        chosen, next_cursor = m.window(items, token, answer.get("NextToken"), skip, limit, size)
        return Page(chosen, next_cursor)

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        wanted = [i for i in dict.fromkeys(instance_ids) if _INSTANCE_ID.match(i)]
        found: dict[str, Instance] = {}
        for chunk in _chunks(wanted, _IDS_PER_CALL):
            try:
                raws = await self._describe_instances({"InstanceIds": list(chunk)})
            except CloudNotFound:
                # EC2 fails the whole call when one id is unknown; a filter on the ids leaves the missing ones out.
                raws = []
                for part in _chunks(chunk, _FILTER_VALUES):
                    raws += await self._describe_instances(
                        {"Filters": [{"Name": "instance-id", "Values": list(part)}], "MaxResults": 1000}
                    )
            for raw in raws:
                instance = self._instance(raw)
                found[instance.id] = instance
        return [found[i] for i in wanted if i in found]

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        token = m.ec2_client_token(spec.client_token)
        if self.config.client_token_lookup:
            earlier = await self._describe_instances(
                {"Filters": [{"Name": f"tag:{m.TOKEN_TAG}", "Values": [token]}], "MaxResults": 5}
            )
            if earlier:
                return self._instance(earlier[0])
        tags: dict[str, str] = {**spec.tags, m.TOKEN_TAG: token}
        if spec.name:
            tags[m.NAME_TAG] = spec.name
        request: RunInstancesRequestTypeDef = {
            "ImageId": spec.image_id,
            "InstanceType": cast("InstanceTypeType", spec.flavor_id),
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": token,
            "TagSpecifications": [{"ResourceType": "instance", "Tags": _tag_list(tags)}],
        }
        if spec.key_name:
            request["KeyName"] = spec.key_name
        if spec.security_group_ids:
            request["SecurityGroupIds"] = list(spec.security_group_ids)
        if spec.user_data is not None:
            # botocore base64-encodes it, bytes as they are (its stubs type it as text only).
            request["UserData"] = spec.user_data  # type: ignore[typeddict-item]
        if spec.zone:
            request["Placement"] = {"AvailabilityZone": spec.zone}
        # The ClientToken makes a repeated RunInstances harmless, so transient failures are retried too.
        answer = await self._call(
            "RunInstances", lambda: self._ec2.run_instances(**request), resources=1, idempotent=True
        )
        return self._instance(answer["Instances"][0])

    async def _current(self, instance_id: str, action: str) -> Instance:
        instance = self._instance(await self._raw_instance(instance_id))
        refused = _REFUSED.get(action, frozenset())
        if instance.state in refused:
            raise InvalidCloudState(f"cannot {action} EC2 instance {instance_id} while it is {instance.state.value}")
        return instance

    def _moved(self, instance: Instance, changes: Sequence[Mapping[str, Any]]) -> Instance:
        """The instance in the state the action's answer reports."""
        for change in changes:
            if change.get("InstanceId") == instance.id:
                name = change.get("CurrentState", {}).get("Name")
                extra = {**instance.extra, "ec2_state": name}
                return self._remember(replace(instance, state=m.instance_state(name), extra=extra))
        return instance

    async def start_instance(self, instance_id: str) -> Instance:
        instance = await self._current(instance_id, "start")
        answer = await self._call("StartInstances", lambda: self._ec2.start_instances(InstanceIds=[instance_id]))
        return self._moved(instance, answer.get("StartingInstances", []))

    async def stop_instance(self, instance_id: str) -> Instance:
        instance = await self._current(instance_id, "stop")
        answer = await self._call("StopInstances", lambda: self._ec2.stop_instances(InstanceIds=[instance_id]))
        return self._moved(instance, answer.get("StoppingInstances", []))

    async def reboot_instance(self, instance_id: str) -> Instance:
        instance = await self._current(instance_id, "reboot")
        await self._call("RebootInstances", lambda: self._ec2.reboot_instances(InstanceIds=[instance_id]))
        return instance  # EC2 has no rebooting state: the instance reads running throughout

    async def terminate_instance(self, instance_id: str) -> Instance:
        """One TerminateInstances when the adapter has seen the instance (launched or described it): the answer is
        that description in the state EC2 reports now. Terminating needs no check first, and mass terminations
        (scaling in, the benchmark) must not cost a describe each."""
        instance = self._seen.get(instance_id)
        if instance is None:
            instance = await self._current(instance_id, "terminate")
        if instance.state is InstanceState.TERMINATED:
            return instance  # already gone (and EC2 keeps it described a while): nothing to ask
        answer = await self._call(
            "TerminateInstances", lambda: self._ec2.terminate_instances(InstanceIds=[instance_id])
        )
        return self._moved(instance, answer.get("TerminatingInstances", []))

    async def console_output(self, instance_id: str) -> str:
        answer = await self._call("GetConsoleOutput", lambda: self._ec2.get_console_output(InstanceId=instance_id))
        return answer.get("Output") or ""  # the SDK decodes EC2's base64

    # --- key pairs ------------------------------------------------------------------------------------------------

    async def list_key_pairs(self) -> Sequence[KeyPair]:
        answer = await self._call("DescribeKeyPairs", lambda: self._ec2.describe_key_pairs())
        return sorted((m.to_key_pair(raw) for raw in answer.get("KeyPairs", [])), key=lambda k: k.name)

    async def create_key_pair(self, name: str) -> KeyPair:
        answer = await self._call(
            "CreateKeyPair",
            lambda: self._ec2.create_key_pair(KeyName=name, KeyType=self.config.key_type),
        )
        return KeyPair(
            name=answer["KeyName"],
            fingerprint=answer["KeyFingerprint"],
            private_key=answer["KeyMaterial"],
            extra={"key_pair_id": answer.get("KeyPairId"), "key_type": self.config.key_type},
        )

    async def import_key_pair(self, name: str, public_key: str) -> KeyPair:
        answer = await self._call(
            "ImportKeyPair",
            lambda: self._ec2.import_key_pair(KeyName=name, PublicKeyMaterial=public_key.strip().encode()),
        )
        return KeyPair(
            name=answer["KeyName"], fingerprint=answer["KeyFingerprint"], extra={"key_pair_id": answer.get("KeyPairId")}
        )

    async def delete_key_pair(self, name: str) -> None:
        # EC2 deletes a missing key pair without a word; the contract says it is not found.
        await self._call("DescribeKeyPairs", lambda: self._ec2.describe_key_pairs(KeyNames=[name]))
        await self._call("DeleteKeyPair", lambda: self._ec2.delete_key_pair(KeyName=name))

    # --- security groups ------------------------------------------------------------------------------------------

    async def _vpc(self) -> str:
        if self._vpc_id is None:
            answer = await self._call(
                "DescribeVpcs", lambda: self._ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
            )
            vpcs = [v["VpcId"] for v in answer.get("Vpcs", []) if "VpcId" in v]
            if not vpcs:
                raise InvalidCloudState(f"EC2 region {self.config.region} has no default VPC: configure vpc_id")
            self._vpc_id = vpcs[0]
        return self._vpc_id

    async def _groups(self, filters: Sequence[FilterTypeDef]) -> list[SecurityGroup]:
        pages = self._pages(
            "DescribeSecurityGroups", self._ec2.describe_security_groups, Filters=list(filters), MaxResults=1000
        )
        return [m.to_security_group(raw) async for answer in pages for raw in answer.get("SecurityGroups", [])]

    async def _group(self, group_id: str) -> SecurityGroup:
        answer = await self._call(
            "DescribeSecurityGroups", lambda: self._ec2.describe_security_groups(GroupIds=[group_id])
        )
        return m.to_security_group(_the_one(answer.get("SecurityGroups", []), "security group", group_id))

    async def list_security_groups(self) -> Sequence[SecurityGroup]:
        groups = await self._groups([{"Name": "vpc-id", "Values": [await self._vpc()]}])
        return sorted(groups, key=lambda g: (g.name, g.id))

    async def create_security_group(self, name: str, description: str) -> SecurityGroup:
        vpc = await self._vpc()
        created = await self._call(
            "CreateSecurityGroup",
            lambda: self._ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc),
        )
        try:
            return await self._group(created["GroupId"])
        except CloudNotFound:
            # Not described yet (eventual consistency): EC2 gives a new VPC group one rule, all egress.
            egress = SecurityRule("egress", "all", None, None, "0.0.0.0/0")
            return SecurityGroup(created["GroupId"], name, description, (egress,), extra={"vpc_id": vpc})

    async def delete_security_group(self, group_id: str) -> None:
        await self._call("DeleteSecurityGroup", lambda: self._ec2.delete_security_group(GroupId=group_id))

    async def _change_rule(self, verb: str, group_id: str, rule: SecurityRule) -> SecurityGroup:
        """One of EC2's four rule actions, (Authorize|Revoke)SecurityGroup(Ingress|Egress); the group as it is after."""
        direction = "Ingress" if rule.direction == "ingress" else "Egress"
        send: Callable[..., Awaitable[object]] = getattr(
            self._ec2, f"{verb.lower()}_security_group_{direction.lower()}"
        )
        permissions = [m.permission_of(rule)]
        await self._call(f"{verb}SecurityGroup{direction}", lambda: send(GroupId=group_id, IpPermissions=permissions))
        return await self._group(group_id)

    async def authorize_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        return await self._change_rule("Authorize", group_id, rule)

    async def revoke_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        return await self._change_rule("Revoke", group_id, rule)

    # --- volumes and snapshots ------------------------------------------------------------------------------------

    async def _raw_volume(self, volume_id: str) -> VolumeTypeDef:
        answer = await self._call("DescribeVolumes", lambda: self._ec2.describe_volumes(VolumeIds=[volume_id]))
        return _the_one(answer.get("Volumes", []), "volume", volume_id)

    async def list_volumes(self) -> Sequence[Volume]:
        pages = self._pages("DescribeVolumes", self._ec2.describe_volumes, MaxResults=500)
        return [m.to_volume(raw) async for answer in pages for raw in answer.get("Volumes", [])]

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        """CreateVolume takes the ClientToken itself; the volume is tagged with it too, for `client_token_lookup`."""
        token = m.ec2_client_token(spec.client_token)
        if self.config.client_token_lookup:
            earlier = await self._call(
                "DescribeVolumes", lambda: self._ec2.describe_volumes(Filters=_tagged(token), MaxResults=5)
            )
            for raw in earlier.get("Volumes", []):
                return _same_volume(m.to_volume(raw), spec)
        tags = {m.TOKEN_TAG: token, **({m.NAME_TAG: spec.name} if spec.name else {})}
        request: CreateVolumeRequestTypeDef = {
            "AvailabilityZone": spec.zone or await self._default_zone(),
            "VolumeType": cast("VolumeTypeType", self.config.volume_type),
            "ClientToken": token,
            "TagSpecifications": [{"ResourceType": "volume", "Tags": _tag_list(tags)}],
        }
        if spec.snapshot_id:
            request["SnapshotId"] = spec.snapshot_id
        if spec.size_gb > 0 or not spec.snapshot_id:
            request["Size"] = spec.size_gb
        # The ClientToken makes a repeated CreateVolume harmless, so transient failures are retried too.
        answer = await self._call("CreateVolume", lambda: self._ec2.create_volume(**request), idempotent=True)
        return m.to_volume(cast("VolumeTypeDef", answer))

    async def delete_volume(self, volume_id: str) -> None:
        await self._call("DeleteVolume", lambda: self._ec2.delete_volume(VolumeId=volume_id))

    async def attach_volume(self, volume_id: str, instance_id: str, device: str | None = None) -> Volume:
        if device is None:
            raw_volume, raw_instance = await asyncio.gather(
                self._raw_volume(volume_id), self._raw_instance(instance_id)
            )
            used = {b.get("DeviceName") for b in raw_instance.get("BlockDeviceMappings", [])}
            used.add(raw_instance.get("RootDeviceName"))
            device = next((d for d in m.DEVICE_NAMES if d not in used), None)
            if device is None:
                raise InvalidCloudState(f"EC2 instance {instance_id} has no free device name among /dev/sd[f-p]")
        else:
            raw_volume = await self._raw_volume(volume_id)
        chosen = device
        answer = await self._call(
            "AttachVolume",
            lambda: self._ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=chosen),
        )
        volume = m.to_volume(raw_volume)
        state = m.ATTACHMENT_STATES.get(answer.get("State", ""), VolumeState.IN_USE)
        extra = {**volume.extra, "attachment_state": answer.get("State")}
        return replace(volume, state=state, instance_id=instance_id, device=answer.get("Device", chosen), extra=extra)

    async def detach_volume(self, volume_id: str) -> Volume:
        raw = await self._raw_volume(volume_id)
        attachments = raw.get("Attachments", [])
        if not attachments:
            raise InvalidCloudState(f"EC2 volume {volume_id} is not attached")
        attachment = attachments[0]
        instance_id, device = attachment.get("InstanceId", ""), attachment.get("Device", "")
        answer = await self._call(
            "DetachVolume",
            lambda: self._ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device),
        )
        volume = m.to_volume(raw)
        extra = {**volume.extra, "attachment_state": answer.get("State")}
        if answer.get("State") == "detached":
            return replace(volume, state=VolumeState.AVAILABLE, instance_id=None, device=None, extra=extra)
        return replace(volume, state=VolumeState.DETACHING, extra=extra)

    async def list_snapshots(self) -> Sequence[Snapshot]:
        pages = self._pages("DescribeSnapshots", self._ec2.describe_snapshots, OwnerIds=["self"], MaxResults=1000)
        return [m.to_snapshot(raw) async for answer in pages for raw in answer.get("Snapshots", [])]

    async def create_snapshot(self, volume_id: str, name: str, *, client_token: str) -> Snapshot:
        """CreateSnapshot has no ClientToken: the snapshot is tagged with the token as it is made, and looked for
        first (EC2 has nothing that would refuse a second one made at the same moment)."""
        token = m.ec2_client_token(client_token)
        earlier = await self._call(
            "DescribeSnapshots",
            lambda: self._ec2.describe_snapshots(OwnerIds=["self"], Filters=_tagged(token), MaxResults=5),
        )
        for raw in earlier.get("Snapshots", []):
            return made_by_token("snapshot", m.to_snapshot(raw), volume_id=volume_id)
        tagged = {m.TOKEN_TAG: token, **({m.NAME_TAG: name} if name else {})}
        tags: list[TagSpecificationTypeDef] = [{"ResourceType": "snapshot", "Tags": _tag_list(tagged)}]
        answer = await self._call(
            "CreateSnapshot",
            lambda: self._ec2.create_snapshot(VolumeId=volume_id, Description=name, TagSpecifications=tags),
        )
        return m.to_snapshot(cast("SnapshotTypeDef", answer))

    async def delete_snapshot(self, snapshot_id: str) -> None:
        await self._call("DeleteSnapshot", lambda: self._ec2.delete_snapshot(SnapshotId=snapshot_id))

    # --- addresses ------------------------------------------------------------------------------------------------

    async def _address(self, address_id: str) -> Address:
        answer = await self._call("DescribeAddresses", lambda: self._ec2.describe_addresses(AllocationIds=[address_id]))
        return m.to_address(_the_one(answer.get("Addresses", []), "address", address_id))

    async def list_addresses(self) -> Sequence[Address]:
        answer = await self._call("DescribeAddresses", lambda: self._ec2.describe_addresses())
        return [m.to_address(raw) for raw in answer.get("Addresses", [])]

    async def allocate_address(self, *, client_token: str) -> Address:
        """AllocateAddress has no ClientToken: the address is tagged with the token as it is allocated, and looked
        for first (EC2 has nothing that would refuse a second one allocated at the same moment)."""
        token = m.ec2_client_token(client_token)
        earlier = await self._call("DescribeAddresses", lambda: self._ec2.describe_addresses(Filters=_tagged(token)))
        for raw in earlier.get("Addresses", []):
            return m.to_address(raw)
        tags: list[TagSpecificationTypeDef] = [{"ResourceType": "elastic-ip", "Tags": _tag_list({m.TOKEN_TAG: token})}]
        answer = await self._call(
            "AllocateAddress", lambda: self._ec2.allocate_address(Domain="vpc", TagSpecifications=tags)
        )
        return Address(
            id=answer["AllocationId"],
            ip=answer["PublicIp"],
            extra={"association_id": None, "domain": answer.get("Domain", "vpc")},
        )

    async def associate_address(self, address_id: str, instance_id: str) -> Address:
        await self._call(
            "AssociateAddress",
            lambda: self._ec2.associate_address(AllocationId=address_id, InstanceId=instance_id),
        )
        return await self._address(address_id)

    async def disassociate_address(self, address_id: str) -> Address:
        address = await self._address(address_id)
        association = address.extra.get("association_id")
        if not association:
            raise InvalidCloudState(f"EC2 address {address_id} is not associated")
        await self._call("DisassociateAddress", lambda: self._ec2.disassociate_address(AssociationId=association))
        return replace(address, instance_id=None, extra={**address.extra, "association_id": None})

    async def release_address(self, address_id: str) -> None:
        await self._call("ReleaseAddress", lambda: self._ec2.release_address(AllocationId=address_id))

    # --- metrics --------------------------------------------------------------------------------------------------

    async def get_metrics(self, instance_id: str, since: datetime) -> Sequence[MetricSample]:
        """CloudWatch's AWS/EC2 samples for the instance since `since`: the CPU average and the byte sums of each
        period (`metrics_period_seconds`). CloudWatch knows nothing of unknown instances, so EC2 is asked first."""
        await self._raw_instance(instance_id)
        start = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        end = datetime.now(UTC)
        if start >= end:
            return []
        names = {f"m{index}": (name, unit) for index, (name, _, _, unit) in enumerate(m.METRICS)}
        request: GetMetricDataInputTypeDef = {
            "MetricDataQueries": m.metric_queries(
                instance_id, m.metric_period(self.config.metrics_period_seconds, start, end)
            ),
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        samples: list[MetricSample] = []
        async for answer in self._pages(
            "GetMetricData", self._cloudwatch.get_metric_data, service="cloudwatch", **request
        ):
            for result in answer.get("MetricDataResults", []):
                name, unit = names[result.get("Id", "")]
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    stamp = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
                    if stamp >= start:
                        samples.append(MetricSample(name=name, timestamp=stamp.astimezone(UTC), value=value, unit=unit))
        samples.sort(key=lambda s: (s.timestamp, s.name))
        return samples


def _tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _tagged(token: str) -> list[FilterTypeDef]:
    """The describe filter for what a create with this client token made."""
    return [{"Name": f"tag:{m.TOKEN_TAG}", "Values": [token]}]


def _same_volume(found: Volume, spec: VolumeSpec) -> Volume:
    # A volume made from a snapshot without a size has the snapshot's.
    sized = {"size_gb": spec.size_gb} if spec.size_gb > 0 else {}
    return made_by_token("volume", found, snapshot_id=spec.snapshot_id, **sized)


__all__ = ["Ec2Adapter"]
