"""The identity use cases on in-memory repositories: users, projects, members, API keys and who am I, with the events
each change commits and the scope (a project, or the platform's) each is recorded in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from kernel.errors import Conflict, Forbidden, NotFound
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Identity, Role
from kernel.keyset import PageRequest
from kernel.unit_of_work import FakeUnitOfWork
from services.gateway.identity.domain import KeyGrant, Subject, UserGrant, key_subject, user_subject
from services.gateway.identity.handlers import Actor, IdentityService
from services.gateway.identity.passwords import PasswordHashing
from services.gateway.identity.ports import IdentityRepositories
from services.gateway.identity.tokens import secret_hash
from tests.fakes.identity import fake_identity, tables

# Argon2 at its cheapest: the use cases are under test here, not the hash's cost.
HASHING = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
PASSWORD = "a long passphrase"
PAGE = PageRequest(50)


class World:
    """The use cases over fresh tables, an admin who acts, and a count of the authenticator's cache drops."""

    def __init__(self) -> None:
        self.uow: FakeUnitOfWork[IdentityRepositories] = fake_identity()
        self.forgotten = 0
        self.service = IdentityService(self.uow, hashing=HASHING, on_change=self.forget)
        self.admin = Actor("user:admin", "cid-admin")

    def forget(self) -> None:
        self.forgotten += 1

    def events(self) -> list[tuple[str, str, dict[str, object]]]:
        """(type, project, payload) of every event committed."""
        return [(e.type, e.project_id, e.payload) for e in self.uow.events]

    async def user(self, email: str, **roles: Role) -> str:
        """A user who is a member of the projects named (made if missing), with those roles."""
        user = await self.service.create_user(
            self.admin, email=email, name=email.split("@")[0], password=PASSWORD, admin=False
        )
        for project, role in roles.items():
            if await self._missing(project):
                await self.service.create_project(self.admin, project, project.upper())
            await self.service.put_member(self.admin, admin_in(project), ADMIN_SUBJECT, user.id, role)
        return user.id

    async def _missing(self, project: str) -> bool:
        async with self.uow.reading() as repos:
            return await repos.projects.get(project) is None

    async def subject_of(self, user_id: str) -> Subject:
        async with self.uow.reading() as repos:
            grant = await repos.grants.user(user_id)
        assert grant is not None
        return user_subject(grant)


ADMIN_SUBJECT = user_subject(UserGrant("admin", True, {}))


def admin_in(project: str) -> Identity:
    return Identity("user:admin", project, Role.OWNER, admin=True)


def member_of(subject: Subject, project: str) -> Identity:
    role = subject.role_in(project)
    assert role is not None
    return Identity(subject.principal, project, role)


def actor_of(subject: Subject) -> Actor:
    return Actor(subject.principal, f"cid-{subject.principal}")


@pytest.fixture
def world() -> World:
    return World()


# --- users -----------------------------------------------------------------------------------------------------


async def test_a_new_user_is_stored_with_a_hash_and_recorded_in_the_platform_scope(world: World) -> None:
    user = await world.service.create_user(
        world.admin, email="ana@example.com", name="Ana", password=PASSWORD, admin=False
    )

    assert (user.email, user.name, user.admin, user.disabled) == ("ana@example.com", "Ana", False, False)
    stored = tables(world.uow).password_hashes[user.id]
    assert stored != PASSWORD and HASHING.verify(stored, PASSWORD)
    [event] = world.uow.events
    assert (event.type, event.project_id, event.correlation_id) == ("user.created", PLATFORM_SCOPE, "cid-admin")
    assert event.payload == {"user_id": user.id, "admin": False, "actor": "user:admin"}
    assert PASSWORD not in event.model_dump_json()


async def test_an_email_taken_in_any_case_is_a_conflict_that_records_nothing(world: World) -> None:
    await world.user("ana@example.com")
    with pytest.raises(Conflict):
        await world.user("ANA@Example.COM")
    assert len(tables(world.uow).users) == 1
    assert [t for t, _, _ in world.events()] == ["user.created"]


@pytest.mark.parametrize("user_id", ["00000000-0000-4000-8000-000000000000", "not-a-uuid"])
async def test_an_unknown_user_is_not_found(world: World, user_id: str) -> None:
    with pytest.raises(NotFound):
        await world.service.get_user(user_id)
    with pytest.raises(NotFound):
        await world.service.update_user(world.admin, user_id, name="X")


async def test_a_rename_is_recorded_with_what_changed_and_ends_no_login(world: World) -> None:
    ana = await world.user("ana@example.com")
    renamed = await world.service.update_user(world.admin, ana, name="Ana Lima")

    assert renamed.name == "Ana Lima"
    assert world.events()[-1] == (
        "user.updated",
        PLATFORM_SCOPE,
        {"user_id": ana, "changed": ["name"], "admin": False, "disabled": False, "actor": "user:admin"},
    )
    assert world.forgotten == 1


async def test_a_change_to_nothing_records_nothing(world: World) -> None:
    ana = await world.user("ana@example.com")
    before = len(world.uow.events)
    await world.service.update_user(world.admin, ana, name="ana", admin=False, disabled=False)
    assert len(world.uow.events) == before
    assert world.forgotten == 0


@pytest.mark.parametrize("change", [{"password": "another long passphrase"}, {"disabled": True}])
async def test_a_new_password_or_disabling_ends_every_login_of_the_user(
    world: World, change: dict[str, object]
) -> None:
    ana = await world.user("ana@example.com")
    async with world.uow.transaction() as tx:
        for family in ("f1", "f2"):
            await tx.repos.refresh_tokens.insert(
                token_hash=secret_hash(family), user_id=ana, family_id=family, ttl_seconds=60
            )

    await world.service.update_user(world.admin, ana, **change)  # type: ignore[arg-type]

    assert all(row.revoked_at is not None for row in tables(world.uow).refresh.values())
    assert world.events()[-1][2]["changed"] == list(change)


async def test_enabling_a_user_again_revives_no_login(world: World) -> None:
    ana = await world.user("ana@example.com")
    await world.service.update_user(world.admin, ana, disabled=True)
    enabled = await world.service.update_user(world.admin, ana, disabled=False)
    assert not enabled.disabled
    async with world.uow.reading() as repos:
        assert await repos.grants.user(ana) is not None


@pytest.mark.parametrize("change", [{"disabled": True}, {"admin": False}])
async def test_nobody_disables_themselves_or_takes_their_own_admin_rights(
    world: World, change: dict[str, object]
) -> None:
    with pytest.raises(Conflict):
        await world.service.update_user(Actor("user:u1", "c"), "u1", **change)  # type: ignore[arg-type]
    assert world.uow.events == []


async def test_users_are_listed_by_their_filters(world: World) -> None:
    ana = await world.user("ana@example.com")
    bob = await world.user("bob@example.com")
    await world.service.update_user(world.admin, bob, admin=True, disabled=True)

    async def emails(email: str | None = None, admin: bool | None = None, disabled: bool | None = None) -> list[str]:
        users, _ = await world.service.list_users(email=email, admin=admin, disabled=disabled, paging=PAGE)
        return [u.email for u in users]

    assert await emails() == ["ana@example.com", "bob@example.com"]
    assert await emails(admin=True) == await emails(disabled=True) == ["bob@example.com"]
    assert await emails(email="ANA@example.com") == ["ana@example.com"]
    assert (await world.service.get_user(ana)).email == "ana@example.com"


# --- projects --------------------------------------------------------------------------------------------------


async def test_a_new_project_is_recorded_in_the_platform_scope(world: World) -> None:
    project = await world.service.create_project(world.admin, "web", "Web team")

    assert (project.id, project.name) == ("web", "Web team")
    assert world.events() == [
        ("project.created", PLATFORM_SCOPE, {"project_id": "web", "name": "Web team", "actor": "user:admin"})
    ]
    with pytest.raises(Conflict):
        await world.service.create_project(world.admin, "web", "Again")
    assert len(world.uow.events) == 1


async def test_a_project_is_found_only_by_whoever_may_reach_it(world: World) -> None:
    ana = await world.subject_of(await world.user("ana@example.com", web=Role.OPERATOR))
    await world.service.create_project(world.admin, "ops", "Ops")

    project, role = await world.service.get_project(member_of(ana, "web"), ana, "web")
    assert (project.id, role) == ("web", Role.OPERATOR)
    assert (await world.service.get_project(admin_in("default"), ADMIN_SUBJECT, "ops"))[1] is Role.OWNER
    for unreachable in ("ops", "nowhere", "NOT A PROJECT"):
        with pytest.raises(NotFound):
            await world.service.get_project(member_of(ana, "web"), ana, unreachable)
    with pytest.raises(NotFound):
        await world.service.get_project(admin_in("default"), ADMIN_SUBJECT, "nowhere")


async def test_projects_are_listed_for_their_members_admins_and_bound_keys(world: World) -> None:
    ana = await world.subject_of(await world.user("ana@example.com", web=Role.VIEWER))
    await world.service.create_project(world.admin, "ops", "Ops")

    mine, _ = await world.service.list_projects(ana, paging=PAGE)
    assert [(p.id, r) for p, r in mine] == [("web", Role.VIEWER)]
    every, _ = await world.service.list_projects(ADMIN_SUBJECT, paging=PAGE)
    assert {p.id for p, _ in every} == {"default", "web", "ops"} and {r for _, r in every} == {Role.OWNER}
    key = key_subject(KeyGrant("k", None, "ops", Role.OPERATOR, False, None), None)
    bound, _ = await world.service.list_projects(key, paging=PAGE)
    assert [(p.id, r) for p, r in bound] == [("ops", Role.OPERATOR)]
    assert await world.service.list_projects(key, paging=PageRequest(50, cursor="1")) == ([], None)


# --- members ---------------------------------------------------------------------------------------------------


async def test_adding_a_member_then_changing_its_role_is_recorded_in_the_project(world: World) -> None:
    ana = await world.user("ana@example.com", web=Role.OWNER, ops=Role.VIEWER)
    bob = await world.user("bob@example.com", ops=Role.VIEWER)
    owner = await world.subject_of(ana)
    start = len(world.uow.events)

    member, added = await world.service.put_member(actor_of(owner), member_of(owner, "web"), owner, bob, Role.VIEWER)
    assert (member.role, added) == (Role.VIEWER, True)
    changed, added_again = await world.service.put_member(
        actor_of(owner), member_of(owner, "web"), owner, bob, Role.OPERATOR
    )
    same, added_third = await world.service.put_member(
        actor_of(owner), member_of(owner, "web"), owner, bob, Role.OPERATOR
    )

    assert (changed.role, added_again, same.role, added_third) == (Role.OPERATOR, False, Role.OPERATOR, False)
    assert world.events()[start:] == [
        ("member.added", "web", {"user_id": bob, "role": "viewer", "actor": f"user:{ana}"}),
        (
            "member.changed",
            "web",
            {"user_id": bob, "role": "operator", "previous_role": "viewer", "actor": f"user:{ana}"},
        ),
    ]
    assert "members:web" in tables(world.uow).locks


async def test_an_owner_adds_only_users_it_shares_a_project_with(world: World) -> None:
    ana = await world.subject_of(await world.user("ana@example.com", web=Role.OWNER, ops=Role.VIEWER))
    colleague = await world.user("cy@example.com", ops=Role.VIEWER)
    stranger = await world.user("dee@example.com", elsewhere=Role.OWNER)

    _, added = await world.service.put_member(actor_of(ana), member_of(ana, "web"), ana, colleague, Role.VIEWER)
    assert added
    for unknown in (stranger, "00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        with pytest.raises(NotFound) as caught:
            await world.service.put_member(actor_of(ana), member_of(ana, "web"), ana, unknown, Role.VIEWER)
        assert caught.value.detail == f"User {unknown} not found."
    # A platform admin adds anybody.
    _, added = await world.service.put_member(world.admin, admin_in("web"), ADMIN_SUBJECT, stranger, Role.VIEWER)
    assert added


async def test_a_key_adds_only_members_of_its_own_project(world: World) -> None:
    ana = await world.user("ana@example.com", web=Role.OWNER, ops=Role.OWNER)
    ops_only = await world.user("cy@example.com", ops=Role.VIEWER)
    web_member = await world.user("dee@example.com", web=Role.VIEWER, ops=Role.VIEWER)
    owner = await world.subject_of(ana)
    grant = UserGrant(ana, False, dict(owner.memberships))
    key = key_subject(KeyGrant("k1", ana, "web", Role.OWNER, False, None), grant)

    with pytest.raises(NotFound):
        await world.service.put_member(actor_of(key), member_of(key, "web"), key, ops_only, Role.VIEWER)
    _, added = await world.service.put_member(actor_of(key), member_of(key, "web"), key, web_member, Role.OPERATOR)
    assert not added  # a member already: its role changed


async def test_a_project_always_keeps_an_owner(world: World) -> None:
    ana = await world.user("ana@example.com", web=Role.OWNER)
    bob = await world.user("bob@example.com", web=Role.VIEWER)
    web = admin_in("web")

    with pytest.raises(Conflict):
        await world.service.put_member(world.admin, web, ADMIN_SUBJECT, ana, Role.OPERATOR)
    with pytest.raises(Conflict):
        await world.service.remove_member(world.admin, "web", ana)
    await world.service.put_member(world.admin, web, ADMIN_SUBJECT, bob, Role.OWNER)
    await world.service.remove_member(world.admin, "web", ana)

    assert world.events()[-1] == ("member.removed", "web", {"user_id": ana, "role": "owner", "actor": "user:admin"})
    with pytest.raises(NotFound):
        await world.service.get_member("web", ana)


async def test_members_are_found_and_listed_in_their_project_only(world: World) -> None:
    ana = await world.user("ana@example.com", web=Role.OWNER)
    await world.user("bob@example.com", web=Role.VIEWER, ops=Role.OWNER)

    assert (await world.service.get_member("web", ana)).role is Role.OWNER
    for project, user in (("ops", ana), ("web", "not-a-uuid")):
        with pytest.raises(NotFound):
            await world.service.get_member(project, user)
    with pytest.raises(NotFound):
        await world.service.remove_member(world.admin, "ops", ana)
    members, _ = await world.service.list_members("web", role=None, paging=PageRequest(50, sort="email"))
    assert [m.email for m in members] == ["ana@example.com", "bob@example.com"]
    viewers, _ = await world.service.list_members("web", role=Role.VIEWER, paging=PAGE)
    assert [m.email for m in viewers] == ["bob@example.com"]


# --- API keys --------------------------------------------------------------------------------------------------


async def test_a_new_key_is_bound_to_the_project_with_the_callers_role_and_shown_once(world: World) -> None:
    ana = await world.subject_of(await world.user("ana@example.com", web=Role.OPERATOR))
    start = len(world.uow.events)

    created = await world.service.create_api_key(
        actor_of(ana), member_of(ana, "web"), ana, name="ci", role=None, expires_in_days=30, admin=False
    )

    record = created.record
    assert (record.project_id, record.role, record.admin, record.user_id) == ("web", Role.OPERATOR, False, ana.user_id)
    assert created.key.startswith("clk_") and record.prefix == created.key[:8]
    assert tables(world.uow).key_hashes[record.id] == secret_hash(created.key)
    assert record.expires_at is not None
    assert abs(record.expires_at - record.created_at - timedelta(days=30)) < timedelta(seconds=5)
    [event] = world.uow.events[start:]
    assert (event.type, event.project_id) == ("api_key.created", "web")
    assert event.payload["bound"] is True and event.payload["admin"] is False and event.payload["role"] == "operator"
    assert created.key not in event.model_dump_json()


async def test_a_key_never_has_more_than_its_maker(world: World) -> None:
    ana = await world.subject_of(await world.user("ana@example.com", web=Role.OPERATOR))
    start = len(world.uow.events)
    for role, admin in ((Role.OWNER, False), (None, True)):
        with pytest.raises(Forbidden):
            await world.service.create_api_key(
                actor_of(ana), member_of(ana, "web"), ana, name="k", role=role, expires_in_days=1, admin=admin
            )
    viewer = await world.service.create_api_key(
        actor_of(ana), member_of(ana, "web"), ana, name="k", role=Role.VIEWER, expires_in_days=1, admin=False
    )
    assert viewer.record.role is Role.VIEWER
    assert len(world.uow.events) == start + 1


async def test_an_admin_key_is_bound_to_no_project_and_recorded_with_the_platform(world: World) -> None:
    created = await world.service.create_api_key(
        world.admin, admin_in("web"), ADMIN_SUBJECT, name="ops", role=Role.VIEWER, expires_in_days=1, admin=True
    )
    assert (created.record.project_id, created.record.role, created.record.admin) == (None, Role.OWNER, True)
    revoked = await world.service.revoke_api_key(world.admin, admin_in("default"), created.record.id)

    assert revoked.revoked_at is not None
    assert [(t, p) for t, p, _ in world.events()] == [
        ("api_key.created", PLATFORM_SCOPE),
        ("api_key.revoked", PLATFORM_SCOPE),
    ]
    assert world.events()[0][2]["bound"] is False and world.events()[0][2]["admin"] is True


async def test_revoking_a_key_is_recorded_once_and_forgets_the_cache(world: World) -> None:
    ana = await world.subject_of(await world.user("ana@example.com", web=Role.OWNER))
    web = member_of(ana, "web")
    created = await world.service.create_api_key(
        actor_of(ana), web, ana, name="ci", role=None, expires_in_days=1, admin=False
    )
    forgotten = world.forgotten

    first = await world.service.revoke_api_key(actor_of(ana), web, created.record.id)
    again = await world.service.revoke_api_key(actor_of(ana), web, created.record.id)

    assert first.revoked_at is not None and again.revoked_at == first.revoked_at
    assert [t for t, _, _ in world.events()].count("api_key.revoked") == 1
    assert world.events()[-1] == (
        "api_key.revoked",
        "web",
        {"key_id": first.id, "name": "ci", "actor": f"user:{ana.user_id}"},
    )
    assert world.forgotten == forgotten + 1
    assert f"key:{first.id}" in tables(world.uow).locks


async def test_keys_of_another_project_and_admin_keys_are_not_found_by_owners(world: World) -> None:
    ana = await world.subject_of(await world.user("ana@example.com", web=Role.OWNER, ops=Role.OWNER))
    in_ops = await world.service.create_api_key(
        actor_of(ana), member_of(ana, "ops"), ana, name="o", role=None, expires_in_days=1, admin=False
    )
    admin_key = await world.service.create_api_key(
        world.admin, admin_in("web"), ADMIN_SUBJECT, name="a", role=None, expires_in_days=1, admin=True
    )
    web = member_of(ana, "web")

    for key_id in (in_ops.record.id, admin_key.record.id, "not-a-uuid"):
        with pytest.raises(NotFound):
            await world.service.get_api_key(web, key_id)
        with pytest.raises(NotFound):
            await world.service.revoke_api_key(actor_of(ana), web, key_id)
    assert (await world.service.get_api_key(admin_in("web"), admin_key.record.id)).admin
    with pytest.raises(Forbidden):
        await world.service.list_api_keys(web, admin_keys=True, user_id=None, revoked=None, paging=PAGE)
    admin_keys, _ = await world.service.list_api_keys(
        admin_in("web"), admin_keys=True, user_id=None, revoked=None, paging=PAGE
    )
    assert [k.id for k in admin_keys] == [admin_key.record.id]
    ops_keys, _ = await world.service.list_api_keys(
        member_of(ana, "ops"), admin_keys=False, user_id=ana.user_id, revoked=False, paging=PAGE
    )
    assert [k.id for k in ops_keys] == [in_ops.record.id]


# --- who am I --------------------------------------------------------------------------------------------------


async def test_me_shows_a_user_its_projects_and_a_key_its_own(world: World) -> None:
    ana_id = await world.user("ana@example.com", web=Role.OWNER, ops=Role.VIEWER)
    ana = await world.subject_of(ana_id)
    me = await world.service.me(ana, None)
    assert me.user is not None and me.user.id == ana_id and me.api_key is None
    assert [(p.id, r) for p, r in me.projects] == [("ops", Role.VIEWER), ("web", Role.OWNER)]

    created = await world.service.create_api_key(
        actor_of(ana), member_of(ana, "ops"), ana, name="k", role=None, expires_in_days=1, admin=False
    )
    grant = await world.subject_of(ana_id)
    key = key_subject(
        KeyGrant(created.record.id, ana_id, "ops", Role.VIEWER, False, None),
        UserGrant(ana_id, False, dict(grant.memberships)),
    )
    key_me = await world.service.me(key, member_of(key, "ops"))
    assert key_me.api_key is not None and key_me.api_key.id == created.record.id
    assert [(p.id, r) for p, r in key_me.projects] == [("ops", Role.VIEWER)]
    # A key nobody owns sees the project it is bound to.
    unowned = key_subject(KeyGrant("k2", None, "web", Role.OPERATOR, False, None), None)
    assert [(p.id, r) for p, r in (await world.service.me(unowned, None)).projects] == [("web", Role.OPERATOR)]
