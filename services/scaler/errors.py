"""The scaler's refusals that users see."""

from kernel.errors import Conflict, InvalidState, NotFound

__all__ = [
    "GroupHasMembers",
    "GroupNameTaken",
    "GroupNotFound",
    "MemberNotFound",
    "NotWaiting",
    "PolicyNameTaken",
    "PolicyNotFound",
]


class GroupNotFound(NotFound, code="scaling_group_not_found", title="No such scaling group"): ...


class MemberNotFound(NotFound, code="member_not_found", title="No such member of the group"): ...


class PolicyNotFound(NotFound, code="policy_not_found", title="No such scaling policy"): ...


class GroupNameTaken(Conflict, code="scaling_group_name_taken", title="A scaling group has this name"): ...


class PolicyNameTaken(Conflict, code="policy_name_taken", title="A policy of the group has this name"): ...


class GroupHasMembers(InvalidState, code="scaling_group_has_members", title="The scaling group still has members"): ...


class NotWaiting(InvalidState, code="not_waiting_in_hook", title="The member does not wait in this hook"): ...
