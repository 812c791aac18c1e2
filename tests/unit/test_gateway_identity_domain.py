"""Which project and role a request acts as: the project selection rules."""

from __future__ import annotations

import pytest

from kernel.errors import BadRequest, NotFound
from kernel.identity import Identity, Role
from services.gateway.identity.domain import (
    KeyGrant,
    Subject,
    UserGrant,
    key_subject,
    min_role,
    role_at_most,
    select_project,
    user_subject,
)

OWNER, OPERATOR, VIEWER = Role.OWNER, Role.OPERATOR, Role.VIEWER


def user(memberships: dict[str, Role], *, admin: bool = False) -> UserGrant:
    return UserGrant("u1", admin, memberships)


def key(*, user_id: str | None = "u1", project: str | None = "p1", role: Role = OWNER, admin: bool = False) -> KeyGrant:
    return KeyGrant("k1", user_id, project, role, admin, None)


def test_role_order() -> None:
    assert min_role(OWNER, VIEWER) is VIEWER
    assert min_role(OPERATOR, OWNER) is OPERATOR
    assert min_role(VIEWER, VIEWER) is VIEWER
    assert role_at_most(VIEWER, OPERATOR) and role_at_most(OWNER, OWNER) and not role_at_most(OWNER, OPERATOR)


# --- users ------------------------------------------------------------------------------------------------------


def test_a_user_acts_in_the_project_it_names() -> None:
    subject = user_subject(user({"p1": VIEWER, "p2": OPERATOR}))

    assert select_project(subject, "p2") == Identity("user:u1", "p2", OPERATOR)
    assert select_project(subject, "p1") == Identity("user:u1", "p1", VIEWER)


def test_without_the_header_a_user_acts_in_its_only_project() -> None:
    assert select_project(user_subject(user({"p1": VIEWER})), None) == Identity("user:u1", "p1", VIEWER)


def test_without_the_header_a_user_of_several_projects_acts_in_default() -> None:
    subject = user_subject(user({"p1": OWNER, "default": VIEWER}))
    assert select_project(subject, None) == Identity("user:u1", "default", VIEWER)


def test_without_the_header_a_user_of_several_projects_but_not_default_must_choose() -> None:
    with pytest.raises(BadRequest) as caught:
        select_project(user_subject(user({"p1": OWNER, "p2": VIEWER})), None)
    assert "X-Clanavi-Project" in caught.value.detail
    assert caught.value.extensions["projects"] == ["p1", "p2"]


def test_a_user_of_no_project_must_be_added_first() -> None:
    with pytest.raises(BadRequest):
        select_project(user_subject(user({})), None)


@pytest.mark.parametrize("requested", ["p3", "default", "nope", "NOT-A-SLUG", "a", "x" * 64])
def test_a_project_the_user_is_no_member_of_is_not_found(requested: str) -> None:
    with pytest.raises(NotFound) as caught:
        select_project(user_subject(user({"p1": OWNER})), requested)
    assert caught.value.detail == f"Project {requested} not found."


def test_an_admin_reaches_every_existing_project_as_owner() -> None:
    subject = user_subject(user({}, admin=True))

    assert select_project(subject, "p9", requested_exists=True) == Identity("user:u1", "p9", OWNER, admin=True)
    assert select_project(subject, None) == Identity("user:u1", "default", OWNER, admin=True)
    with pytest.raises(NotFound):
        select_project(subject, "p9", requested_exists=False)


def test_existence_does_not_matter_to_non_admins() -> None:
    with pytest.raises(NotFound):
        select_project(user_subject(user({"p1": OWNER})), "p2", requested_exists=True)


# --- API keys ---------------------------------------------------------------------------------------------------


def test_a_bound_key_acts_in_its_project_only() -> None:
    subject = key_subject(key(role=OPERATOR), user({"p1": OWNER, "p2": OWNER}))

    assert select_project(subject, None) == Identity("key:k1", "p1", OPERATOR)
    assert select_project(subject, "p1") == Identity("key:k1", "p1", OPERATOR)
    with pytest.raises(NotFound):
        select_project(subject, "p2")


@pytest.mark.parametrize(
    ("key_role", "member_role", "expected"),
    [(OWNER, VIEWER, VIEWER), (VIEWER, OWNER, VIEWER), (OPERATOR, OPERATOR, OPERATOR), (OWNER, OPERATOR, OPERATOR)],
)
def test_a_users_key_has_the_lesser_of_its_role_and_the_users(
    key_role: Role, member_role: Role, expected: Role
) -> None:
    subject = key_subject(key(role=key_role), user({"p1": member_role}))
    assert select_project(subject, None).role is expected


def test_a_users_key_fails_once_the_user_left_its_project() -> None:
    subject = key_subject(key(role=VIEWER), user({"p2": OWNER}))
    with pytest.raises(NotFound):
        select_project(subject, None)


def test_a_key_of_an_admin_user_keeps_its_own_role_anywhere_it_is_bound() -> None:
    subject = key_subject(key(project="p7", role=OPERATOR), user({}, admin=True))
    assert select_project(subject, None) == Identity("key:k1", "p7", OPERATOR)


def test_a_key_nobody_owns_has_its_own_role() -> None:
    subject = key_subject(key(user_id=None, role=VIEWER), None)
    assert select_project(subject, None) == Identity("key:k1", "p1", VIEWER)


def test_an_admin_key_is_bound_to_no_project() -> None:
    subject = key_subject(key(user_id=None, project=None, admin=True), None)

    assert subject.admin
    assert select_project(subject, None) == Identity("key:k1", "default", OWNER, admin=True)
    assert select_project(subject, "p4", requested_exists=True) == Identity("key:k1", "p4", OWNER, admin=True)
    with pytest.raises(NotFound):
        select_project(subject, "p4")


def test_an_admin_key_of_a_user_who_is_no_admin_any_more_is_no_admin_key() -> None:
    subject = key_subject(key(project=None, admin=True), user({"p1": VIEWER}))

    assert not subject.admin
    assert select_project(subject, "p1") == Identity("key:k1", "p1", VIEWER)
    with pytest.raises(NotFound):
        select_project(subject, "p2", requested_exists=True)


def test_an_unbound_key_of_a_user_follows_the_users_projects() -> None:
    subject = key_subject(key(project=None, role=OPERATOR), user({"p1": OWNER, "default": VIEWER}))

    assert select_project(subject, None) == Identity("key:k1", "default", VIEWER)
    assert select_project(subject, "p1") == Identity("key:k1", "p1", OPERATOR)


def test_a_subject_without_user_or_binding_reaches_nothing() -> None:
    subject = Subject("key:k1", None, "k1", admin=False, role_cap=OWNER)
    with pytest.raises(NotFound):
        select_project(subject, "p1")


# --- the projects a subject is a member of (whose members it may add elsewhere) ---------------------------------


@pytest.mark.parametrize(
    ("subject", "projects"),
    [
        (user_subject(user({"p2": VIEWER, "p1": OWNER})), ["p1", "p2"]),
        (user_subject(user({})), []),
        # A platform admin reaches every project, but is a member of its own only.
        (user_subject(user({"p1": VIEWER}, admin=True)), ["p1"]),
        (key_subject(key(role=VIEWER), user({"p1": OWNER, "p2": OWNER})), ["p1"]),
        (key_subject(key(role=VIEWER), user({"p2": OWNER})), []),  # its user left the key's project
        (key_subject(key(user_id=None, project="p3"), None), ["p3"]),
        (key_subject(key(project=None, admin=True), user({"p1": VIEWER})), ["p1"]),
        (key_subject(key(user_id=None, project=None, admin=True), None), []),
    ],
)
def test_a_subjects_projects_are_those_it_may_act_in_as_a_member(subject: Subject, projects: list[str]) -> None:
    assert subject.projects() == projects
