"""`clanavi projects`, `members`, `api-keys` and `users`: who may call the API, and in which project.

A new API key is shown this once; passwords are typed at a prompt that does not echo them, or read from stdin's
first line with `--password-stdin`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from clanavi.cli.invocation import Invocation, command
from clanavi.cli.listing import Filter, add_list
from clanavi.cli.records import add_one
from clanavi.client.models import (
    ApiKeyCreate,
    ApiKeyOut,
    MemberOut,
    MemberPut,
    ProjectCreate,
    ProjectOut,
    Role,
    UserCreate,
    UserOut,
    UserUpdate,
)

__all__ = ["api_keys", "members", "projects", "users"]

ROLES = tuple(role.value for role in Role)
RoleOption = Annotated[Role, typer.Option("--role", help="owner, operator or viewer.", show_default=False)]
UserId = Annotated[str, typer.Argument(metavar="USER_ID", show_default=False)]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin's first line instead of a prompt.")
]

projects = typer.Typer(help="Projects: everything Clanavi manages belongs to one.")
members = typer.Typer(help="Members of the project and their roles (owners manage them).")
api_keys = typer.Typer(help="API keys of the project, for automation (owners).")
users = typer.Typer(help="Users (platform admins).")

add_list(
    projects,
    of=lambda client: client.projects.list,
    model=ProjectOut,
    help="Your projects, with your role in each (platform admins: every project).",
    sorts=("created_at", "name"),
)
add_list(
    members,
    of=lambda client: client.members.list,
    model=MemberOut,
    help="The project's members.",
    filters=(Filter("role", "--role", "Only those with this role.", choices=ROLES),),
    sorts=("created_at", "email", "name", "role"),
)
add_list(
    api_keys,
    of=lambda client: client.api_keys.list,
    model=ApiKeyOut,
    help="The project's API keys (never the keys themselves).",
    filters=(
        Filter("user_id", "--user", "Only those this user made."),
        Filter("revoked", "--revoked", "Only revoked keys (or, --no-revoked, the others).", kind=bool),
        Filter("admin", "--admin", "The platform admin keys instead (admins).", kind=bool),
    ),
    sorts=("created_at", "name"),
)
add_list(
    users,
    of=lambda client: client.users.list,
    model=UserOut,
    help="Every user.",
    filters=(
        Filter("email", "--email", "Only this email."),
        Filter("admin", "--admin", "Only platform admins (or, --no-admin, the others).", kind=bool),
        Filter("disabled", "--disabled", "Only disabled users (or, --no-disabled, the others).", kind=bool),
    ),
    sorts=("created_at", "email", "name"),
)


add_one(projects, "show", lambda client, project_id: client.projects.get(project_id), "One project.", "PROJECT_ID")


@command(projects, "create")
def project_create(
    cli: Invocation,
    project_id: Annotated[str, typer.Option("--id", help="Lower-case letters, digits and dashes; 2 to 63.")],
    name: Annotated[str, typer.Option("--name", help="Its name.")],
) -> None:
    """Create a project (platform admins); then add its members."""
    with cli.client() as client:
        cli.display.record(client.projects.create(ProjectCreate(id=project_id, name=name)))


add_one(members, "show", lambda client, user_id: client.members.get(user_id), "One member of the project.", "USER_ID")


@command(members, "set")
def member_set(cli: Invocation, user_id: UserId, role: RoleOption) -> None:
    """Add a user to the project with a role, or change its role (owners: users they share a project with)."""
    with cli.client() as client:
        cli.display.record(client.members.put(user_id, MemberPut(role=role)))


@command(members, "remove", prints=False)
def member_remove(cli: Invocation, user_id: UserId) -> None:
    """Remove a member from the project (never its last owner)."""
    with cli.client() as client:
        client.members.remove(user_id)
    cli.display.note(f"user {user_id} is no longer a member")


add_one(
    api_keys,
    "show",
    lambda client, key_id: client.api_keys.get(key_id),
    "One key's record (never the key itself).",
    "KEY_ID",
)


@command(api_keys, "create")
def key_create(
    cli: Invocation,
    name: Annotated[str, typer.Option("--name", help="What it is for.")],
    role: Annotated[Role | None, typer.Option("--role", help="Default: your role (never more).")] = None,
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", min=1, max=365, help="1-365 (90).")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="A platform admin key, of no project (admins).")] = False,
) -> None:
    """A new API key: the key is shown this once (send it as `Authorization: Bearer <key>`, or log in with it)."""
    given: dict[str, Any] = {"name": name, "role": role, "expires_in_days": expires_in_days, "admin": admin or None}
    asked = ApiKeyCreate.model_validate({key: value for key, value in given.items() if value is not None})
    with cli.client() as client:
        made = client.api_keys.create(asked)
    cli.display.record(made)
    cli.display.note("the key is shown this once: keep it now")


add_one(
    api_keys,
    "revoke",
    lambda client, key_id: client.api_keys.revoke(key_id),
    "Revoke a key: it stops working everywhere within a second (repeating it is harmless).",
    "KEY_ID",
)


add_one(users, "show", lambda client, user_id: client.users.get(user_id), "One user.", "USER_ID")


@command(users, "create")
def user_create(
    cli: Invocation,
    email: Annotated[str, typer.Option("--email", help="The email they log in with.")],
    name: Annotated[str, typer.Option("--name", help="Their name.")],
    admin: Annotated[bool, typer.Option("--admin", help="A platform admin.")] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user (then make them a member of a project)."""
    password = cli.secret("Password", from_stdin=password_stdin, option="--password-stdin", confirm=True)
    with cli.client() as client:
        cli.display.record(client.users.create(UserCreate(email=email, name=name, password=password, admin=admin)))


@command(users, "update")
def user_update(
    cli: Invocation,
    user_id: UserId,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    password: Annotated[bool, typer.Option("--password", help="Set a new password (asked for).")] = False,
    password_stdin: PasswordStdin = False,
    admin: Annotated[bool | None, typer.Option("--admin/--no-admin", help="Make or unmake a platform admin.")] = None,
    disabled: Annotated[
        bool | None, typer.Option("--disable/--enable", help="Disable the user (ending their logins) or enable.")
    ] = None,
) -> None:
    """Change a user; a new password or disabling ends their logins."""
    change: dict[str, Any] = {"name": name, "admin": admin, "disabled": disabled}
    if password or password_stdin:
        change["password"] = cli.secret("Password", from_stdin=password_stdin, option="--password-stdin", confirm=True)
    asked = UserUpdate.model_validate({key: value for key, value in change.items() if value is not None})
    with cli.client() as client:
        cli.display.record(client.users.update(user_id, asked))
