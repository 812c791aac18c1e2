"""What the identity listings may be sorted by, and their query parameters (the repository maps each sort to its
column; the first is the default)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends

from kernel.keyset import PageRequest
from kernel.listing_query import page_query

UserSort = Literal["created_at", "email", "name"]
ProjectSort = Literal["created_at", "name"]
MemberSort = Literal["created_at", "email", "name", "role"]
ApiKeySort = Literal["created_at", "name"]

UserPaging = Annotated[PageRequest, Depends(page_query(UserSort))]
ProjectPaging = Annotated[PageRequest, Depends(page_query(ProjectSort))]
MemberPaging = Annotated[PageRequest, Depends(page_query(MemberSort))]
ApiKeyPaging = Annotated[PageRequest, Depends(page_query(ApiKeySort))]

__all__ = [
    "ApiKeyPaging",
    "ApiKeySort",
    "MemberPaging",
    "MemberSort",
    "ProjectPaging",
    "ProjectSort",
    "UserPaging",
    "UserSort",
]
