"""Who may do what: a member's role in a project, the permissions each role holds, and the caller of one request
(`Identity`). Pure values, so that clients and schemas can name roles without the services' HTTP stack;
`kernel.identity` carries them between the gateway and the services."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kernel.errors import Forbidden


class Role(StrEnum):
    """A member's role in a project. Platform admins act as owners of every project."""

    OWNER = "owner"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Permission(StrEnum):
    READ = "read"  # see the project's resources
    OPERATE = "operate"  # create, change and delete the project's cloud resources
    MANAGE = "manage"  # the project's cloud accounts, members and API keys
    ADMIN = "admin"  # the platform: users, projects, adapter modules, the whole audit chain


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.OPERATE}),
    Role.OWNER: frozenset({Permission.READ, Permission.OPERATE, Permission.MANAGE}),
}


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller of one request: `principal` is `user:<id>` or `key:<id>`; `role` is its role in `project_id`."""

    principal: str
    project_id: str
    role: Role
    admin: bool = False

    def can(self, permission: Permission) -> bool:
        return self.admin or permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            if permission is Permission.ADMIN:
                raise Forbidden("Only platform admins may do this.")
            raise Forbidden(
                f"Your role in project {self.project_id} is {self.role.value}; this needs the {permission.value} "
                "permission.",
                role=self.role.value,
                permission=permission.value,
            )

    def claims(self) -> dict[str, Any]:
        return {"sub": self.principal, "prj": self.project_id, "rol": self.role.value, "adm": self.admin}

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Identity:
        return cls(
            principal=str(claims["sub"]),
            project_id=str(claims["prj"]),
            role=Role(claims["rol"]),
            admin=bool(claims.get("adm", False)),
        )
