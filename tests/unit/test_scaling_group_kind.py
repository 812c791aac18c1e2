"""A scaling group is over a template version or over a cluster role: the body names one pair, whole."""

from __future__ import annotations

import pytest

from kernel.errors import ValidationFailed
from services.scaler.groups.domain import check_kind


def location(*given: object) -> str:
    with pytest.raises(ValidationFailed) as caught:
        check_kind(*given)  # type: ignore[arg-type]
    errors = caught.value.extensions["errors"]
    assert len(errors) == 1
    return str(errors[0]["location"])


def test_either_pair_whole_is_a_group() -> None:
    check_kind("tpl-1", 3, None, None)
    check_kind(None, None, "c-1", "web")


def test_both_kinds_are_refused_naming_the_cluster_field() -> None:
    assert location("tpl-1", 3, "c-1", "web") == "body.cluster_id"
    assert location("tpl-1", None, None, "web") == "body.cluster_role"


def test_neither_kind_is_refused_naming_the_template() -> None:
    assert location(None, None, None, None) == "body.template_id"


def test_half_a_pair_is_refused_naming_the_missing_half() -> None:
    assert location("tpl-1", None, None, None) == "body.template_version"
    assert location(None, 2, None, None) == "body.template_id"
    assert location(None, None, "c-1", None) == "body.cluster_role"
    assert location(None, None, None, "web") == "body.cluster_id"
