"""Instances: launched idempotently within the account's quotas, moved through the state machine, observed through
their console and metrics. Every phase change is kept (`instance_phases`), and so is every load profile set
(`instance_loads`), so the console and the metrics can tell what happened when."""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.base import (
    CloudNotFound,
    ImageState,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    LaunchSpec,
    Limit,
    MetricSample,
    Page,
    QuotaExceeded,
    Quotas,
)
from adapters.simcloud import console, faults, guest_ssh, keypairs, load, machine, outages, own_cpu, telemetry
from adapters.simcloud.addresses import disassociate_all
from adapters.simcloud.catalogue import Catalogue
from adapters.simcloud.config import SimCloudConfig
from adapters.simcloud.security_groups import missing_groups
from adapters.simcloud.store import (
    ALIVE,
    INSTANCE_COLUMNS,
    SCHEMA,
    SimStore,
    check_client_token,
    new_instance_id,
    new_private_ip,
    phase_from_row,
)
from adapters.simcloud.timeline import Entry, spans
from adapters.simcloud.volumes import detach_all
from kernel import db

# The tag that sets an instance's CPU load profile at launch.
LOAD_TAG = "simcloud:load"
MAX_NAME = 255
MAX_USER_DATA_BYTES = 16 * 1024
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_PAGE = 1000


def _encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidCloudRequest("the cursor is not one this cloud gave out") from None
    if not isinstance(after, str):
        raise InvalidCloudRequest("the cursor is not one this cloud gave out")
    return after


def _profile(text: str) -> load.LoadProfile:
    try:
        return load.parse(text)
    except load.BadProfile as exc:
        raise InvalidCloudRequest(str(exc)) from None


def _user_data_text(spec: LaunchSpec) -> str | None:
    """The user data as the guest's cloud-init reads it: gzip unpacked, as cloud-init does before anything else."""
    data = spec.user_data_bytes()
    if data is None:
        return None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            pass  # cloud-init then treats it as unhandled data, as the console shows
    return data.decode(errors="replace").replace("\x00", "\ufffd")


def _check_spec(spec: LaunchSpec) -> None:
    if not 1 <= len(spec.name) <= MAX_NAME or not spec.name.isprintable():
        raise InvalidCloudRequest(f"an instance name is 1 to {MAX_NAME} printable characters")
    check_client_token(spec.client_token)
    if spec.user_data is not None and len(spec.user_data_bytes() or b"") > MAX_USER_DATA_BYTES:
        raise InvalidCloudRequest(f"user data is limited to {MAX_USER_DATA_BYTES} bytes")
    if len(spec.tags) > MAX_TAGS:
        raise InvalidCloudRequest(f"an instance carries at most {MAX_TAGS} tags")
    for key, value in spec.tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise InvalidCloudRequest(f"tag keys are 1 to {MAX_TAG_KEY} characters, values up to {MAX_TAG_VALUE}")


class Instances:
    def __init__(self, store: SimStore, config: SimCloudConfig, catalogue: Catalogue) -> None:
        self._store = store
        self._config = config
        self._timings = config.timings()
        self._catalogue = catalogue
        ssh = config.guest_ssh
        # Where a guest answers SSH, for whoever runs scripts on it (other clouds: port 22 at its address).
        self._ssh = {} if ssh is None else {"ssh_host": ssh.host, "ssh_port": ssh.port, "ssh_user": ssh.user}

    def _instance(self, row: Any, now: datetime) -> Instance:
        phase = machine.settle(phase_from_row(row), now)
        return Instance(
            id=row["id"],
            name=row["name"],
            state=phase.state,
            image_id=row["image_id"],
            flavor_id=row["flavor_id"],
            created_at=row["created_at"],
            private_ips=(row["private_ip"],),
            public_ips=tuple(row["public_ips"]),
            zone=row["zone"],
            key_name=row["key_name"],
            security_group_ids=tuple(row["security_group_ids"]),
            tags=dict(row["tags"] or {}),
            reason=row["reason"] if phase.state == InstanceState.ERROR else None,
            extra={
                "region": self._config.region,
                "load": row["load_profile"] or self._config.default_load,
                **self._ssh,
            },
        )

    async def _existing(self, conn: db.Connection, instance_id: str) -> Any:
        row = await self._store.instance_row(conn, instance_id)
        if row is None:
            raise CloudNotFound(f"instance {instance_id} does not exist")
        return row

    async def _used(self, conn: db.Connection | db.Pool, now: datetime) -> Any:
        return await conn.fetchrow(
            f"""SELECT count(*) AS instances, coalesce(sum(f.vcpus), 0) AS vcpus, coalesce(sum(f.ram_mb), 0) AS ram_mb
                FROM {SCHEMA}.instances i JOIN {SCHEMA}.flavors f ON f.id = i.flavor_id
                WHERE i.account_id = $1 AND {ALIVE}""",
            self._store.account,
            now,
        )

    async def quotas(self) -> Quotas:
        """The account's limits (its settings; None: unlimited) and what its instances not terminated use."""
        used = await self._used(self._store.pool, self._store.clock())
        config = self._config
        return Quotas(
            instances=Limit(used["instances"], config.max_instances),
            vcpus=Limit(used["vcpus"], config.max_vcpus),
            ram_mb=Limit(used["ram_mb"], config.max_ram_mb),
        )

    async def _check_quota(self, conn: db.Connection, now: datetime, vcpus: int) -> None:
        max_instances, max_vcpus = self._config.max_instances, self._config.max_vcpus
        if max_instances is None and max_vcpus is None:
            return
        used = await self._used(conn, now)
        if max_instances is not None and used["instances"] + 1 > max_instances:
            raise QuotaExceeded(
                f"the account may have {max_instances} instances that are not terminated; it has {used['instances']}"
            )
        if max_vcpus is not None and used["vcpus"] + vcpus > max_vcpus:
            raise QuotaExceeded(
                f"the account may use {max_vcpus} vCPUs; it uses {used['vcpus']} and this launch needs {vcpus}"
            )

    async def launch(self, spec: LaunchSpec) -> Instance:
        _check_spec(spec)
        zone = self._catalogue.zone(spec.zone)
        profile = spec.tags.get(LOAD_TAG, self._config.default_load)
        _profile(profile)
        group_ids = list(dict.fromkeys(spec.security_group_ids))
        async with self._store.writing() as conn:
            row = await conn.fetchrow(
                f"SELECT {INSTANCE_COLUMNS} FROM {SCHEMA}.instances i WHERE i.account_id = $1 AND i.client_token = $2",
                self._store.account,
                spec.client_token,
            )
            if row is not None:
                return self._instance(row, self._store.clock())  # launched before with this token
            now = self._store.clock()
            image = await self._catalogue.image(spec.image_id, conn)
            if image.state != ImageState.AVAILABLE:
                raise InvalidCloudState(f"image {image.id} is {image.state.value}, not available")
            flavor = await self._catalogue.flavor(spec.flavor_id, conn)
            if flavor.disk_gb < image.min_disk_gb:
                raise InvalidCloudRequest(
                    f"image {image.id} needs a {image.min_disk_gb} GB disk; flavor {flavor.id} has {flavor.disk_gb} GB"
                )
            if spec.key_name is not None and not await keypairs.exists(self._store, conn, spec.key_name):
                raise CloudNotFound(f"key pair {spec.key_name} does not exist")
            missing = await missing_groups(self._store, conn, group_ids)
            if missing:
                raise CloudNotFound(f"security groups {', '.join(missing)} do not exist")
            await self._check_quota(conn, now, flavor.vcpus)
            fails = faults.launch_fails(spec.client_token, self._config.launch_failure_rate)
            why = faults.REASON if fails else None
            if await outages.is_down(self._store, conn, zone):
                fails, why = True, outages.reason(zone)
            phase = machine.launched(now, self._timings, fails=fails)
            instance_id = new_instance_id()
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.instances
                    (account_id, id, client_token, name, image_id, flavor_id, state, target_state, due_at, created_at,
                     private_ip, user_data, tags, reason, zone, key_name, security_group_ids)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)""",
                self._store.account,
                instance_id,
                spec.client_token,
                spec.name,
                spec.image_id,
                spec.flavor_id,
                phase.state.value,
                phase.target.value if phase.target else None,
                phase.due_at,
                now,
                new_private_ip(),
                _user_data_text(spec),
                dict(spec.tags),
                why,
                zone,
                spec.key_name,
                group_ids,
            )
            await self._record_phase(conn, instance_id, now, phase)
            await self._record_load(conn, instance_id, now, profile)
            authorized = await self._authorized_keys(conn, spec)
        if self._config.guest_ssh is not None and authorized:
            await asyncio.to_thread(guest_ssh.authorize, self._config.guest_ssh.authorized_keys_file, authorized)
        return self._instance(await self._store.instance_row(self._store.pool, instance_id), now)

    async def _authorized_keys(self, conn: db.Connection, spec: LaunchSpec) -> list[str]:
        """The public keys cloud-init would install for the guest: its key pair's and its user data's."""
        if self._config.guest_ssh is None:
            return []
        found = guest_ssh.user_data_keys(_user_data_text(spec) or "")
        if spec.key_name is not None:
            public = await keypairs.public_key(self._store, conn, spec.key_name)
            if public is not None:
                found.insert(0, public)
        return found

    async def _record_phase(self, conn: db.Connection, instance_id: str, at: datetime, phase: machine.Phase) -> None:
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.instance_phases (account_id, instance_id, at, state, target_state, due_at)
                VALUES ($1, $2, $3, $4, $5, $6)""",
            self._store.account,
            instance_id,
            at,
            phase.state.value,
            phase.target.value if phase.target else None,
            phase.due_at,
        )

    async def _record_load(self, conn: db.Connection, instance_id: str, at: datetime, profile: str) -> None:
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.instance_loads (account_id, instance_id, since, profile)
                VALUES ($1, $2, $3, $4)""",
            self._store.account,
            instance_id,
            at,
            profile.strip(),
        )

    async def page(self, cursor: str | None, limit: int) -> Page[Instance]:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidCloudRequest(f"limit must be between 1 and {MAX_PAGE}")
        after = _decode_cursor(cursor) if cursor is not None else ""
        rows = await self._store.pool.fetch(
            f"""SELECT {INSTANCE_COLUMNS} FROM {SCHEMA}.instances i
                WHERE i.account_id = $1 AND i.id > $2 ORDER BY i.id LIMIT $3""",
            self._store.account,
            after,
            limit + 1,
        )
        now = self._store.clock()
        items = [self._instance(r, now) for r in rows[:limit]]
        return Page(items, _encode_cursor(items[-1].id) if len(rows) > limit else None)

    async def get_many(self, instance_ids: Sequence[str]) -> list[Instance]:
        if not instance_ids:
            return []
        rows = await self._store.pool.fetch(
            f"SELECT {INSTANCE_COLUMNS} FROM {SCHEMA}.instances i WHERE i.account_id = $1 AND i.id = ANY($2::text[])",
            self._store.account,
            list(instance_ids),
        )
        now = self._store.clock()
        return [self._instance(r, now) for r in rows]

    async def act(self, instance_id: str, action: machine.Action) -> Instance:
        async with self._store.writing() as conn:
            now = self._store.clock()
            row = await self._existing(conn, instance_id)
            stored = phase_from_row(row)
            phase = machine.apply(stored, action, now, self._timings)
            if phase == machine.settle(stored, now):
                return self._instance(row, now)  # asked again: under way or done
            await conn.execute(
                f"""UPDATE {SCHEMA}.instances SET state = $3, target_state = $4, due_at = $5
                    WHERE account_id = $1 AND id = $2""",
                self._store.account,
                instance_id,
                phase.state.value,
                phase.target.value if phase.target else None,
                phase.due_at,
            )
            await self._record_phase(conn, instance_id, now, phase)
            if action == "terminate":
                await detach_all(self._store, conn, instance_id, now, phase.due_at or now)
                await disassociate_all(self._store, conn, instance_id)
            return self._instance(await self._existing(conn, instance_id), now)

    async def set_load(self, instance_id: str, profile: str) -> Instance:
        _profile(profile)
        async with self._store.writing() as conn:
            now = self._store.clock()
            row = await self._existing(conn, instance_id)
            state = machine.settle(phase_from_row(row), now).state
            if state in (InstanceState.TERMINATING, InstanceState.TERMINATED):
                raise InvalidCloudState(f"cannot set the load of an instance that is {state.value}")
            await self._record_load(conn, instance_id, now, profile)
            return self._instance(await self._existing(conn, instance_id), now)

    async def set_zone_state(self, zone: str, state: str) -> list[str]:
        """Take a zone down or bring it up again; the ids of the instances a zone taken down put in error."""
        zone = self._catalogue.zone(zone)
        if state not in ("down", "up"):
            raise InvalidCloudRequest(f"a zone's state is down or up, not {state}")
        async with self._store.writing() as conn:
            if state == "up":
                await outages.set_up(self._store, conn, zone)
                return []
            return await outages.set_down(self._store, conn, zone)

    async def _history(self, conn: db.Pool, instance_id: str) -> list[Entry]:
        rows = await conn.fetch(
            f"""SELECT at, state, target_state, due_at FROM {SCHEMA}.instance_phases
                WHERE account_id = $1 AND instance_id = $2 ORDER BY seq""",
            self._store.account,
            instance_id,
        )
        return [Entry(r["at"], phase_from_row(r)) for r in rows]

    async def console_output(self, instance_id: str) -> str:
        # One statement for the instance, its image, its flavor and its history: a console is read often.
        row = await self._store.pool.fetchrow(
            f"""SELECT i.id, i.name, i.image_id, i.flavor_id, i.private_ip, i.user_data, i.key_name, i.reason,
                       im.name AS image_name, im.os, f.vcpus, f.ram_mb, h.ats, h.states, h.targets, h.dues
                FROM {SCHEMA}.instances i
                LEFT JOIN {SCHEMA}.images im ON im.id = i.image_id
                LEFT JOIN {SCHEMA}.flavors f ON f.id = i.flavor_id
                CROSS JOIN LATERAL (
                    SELECT array_agg(p.at ORDER BY p.seq) AS ats, array_agg(p.state ORDER BY p.seq) AS states,
                           array_agg(p.target_state ORDER BY p.seq) AS targets,
                           array_agg(p.due_at ORDER BY p.seq) AS dues
                    FROM {SCHEMA}.instance_phases p WHERE p.account_id = i.account_id AND p.instance_id = i.id
                ) h
                WHERE i.account_id = $1 AND i.id = $2""",
            self._store.account,
            instance_id,
        )
        if row is None:
            raise CloudNotFound(f"instance {instance_id} does not exist")
        if row["vcpus"] is None:
            raise CloudNotFound(f"flavor {row['flavor_id']} does not exist")
        history = [
            Entry(at, machine.Phase(InstanceState(state), InstanceState(target) if target else None, due))
            for at, state, target, due in zip(
                row["ats"] or (), row["states"] or (), row["targets"] or (), row["dues"] or (), strict=True
            )
        ]
        guest = console.Guest(
            instance_id=row["id"],
            name=row["name"],
            os=row["os"] or "linux",
            image_name=row["image_name"] or row["image_id"],
            vcpus=row["vcpus"],
            ram_mb=row["ram_mb"],
            private_ip=row["private_ip"],
            user_data=row["user_data"],
            key_name=row["key_name"],
            reason=row["reason"],
            host_keys=tuple(self._config.guest_ssh.host_keys) if self._config.guest_ssh else (),
        )
        with own_cpu.simulating("console"):
            return console.render(guest, history, self._store.clock(), self._config.speedup)

    async def metrics(self, instance_id: str, since: datetime) -> list[MetricSample]:
        if since.tzinfo is None:
            raise InvalidCloudRequest("`since` must carry a time zone")
        pool = self._store.pool
        row = await self._store.instance_row(pool, instance_id)
        if row is None:
            raise CloudNotFound(f"instance {instance_id} does not exist")
        now = self._store.clock()
        history = await self._history(pool, instance_id)
        load_rows = await pool.fetch(
            f"""SELECT since, profile FROM {SCHEMA}.instance_loads
                WHERE account_id = $1 AND instance_id = $2 ORDER BY seq""",
            self._store.account,
            instance_id,
        )
        loads = [telemetry.LoadChange(r["since"], load.parse(r["profile"])) for r in load_rows] or [
            telemetry.LoadChange(row["created_at"], load.parse(self._config.default_load))
        ]
        return telemetry.samples(
            instance_id=instance_id,
            created_at=row["created_at"],
            spans=spans(history, now),
            loads=loads,
            since=since,
            now=now,
            speedup=self._config.speedup,
            period=self._config.metrics_period_seconds,
        )
