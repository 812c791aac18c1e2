"""What a launch from a template asks for, as the command line and the console show it: the inputs of the template
and of the script versions it runs, merged as the launch merges them, with what the template already sets; and a
value typed as text read as its input's type. And what a run of an operational script asks for, given what the
instance's template sets."""

from __future__ import annotations

from typing import Any

import pytest

from clanavi.client import launch_inputs, run_inputs, typed_input
from clanavi.client.models import ScriptVersionOut, TemplateVersionOut
from tests.client_kit import MOMENT


def declared(name: str, kind: str, **more: Any) -> dict[str, Any]:
    found = {"name": name, "type": kind, "required": False, "default": None, "description": None, "pattern": None}
    return {**found, "minimum": None, "maximum": None, "choices": [], **more}


def script(script_id: str, version: int, *inputs: dict[str, Any], phase: str = "boot") -> ScriptVersionOut:
    return ScriptVersionOut(
        script_id=script_id, version=version, body="#!/bin/sh\n", phase=phase, timeout_seconds=300,
        inputs=list(inputs), deprecated=False, created_at=MOMENT,
    )  # fmt: skip


def template(**spec: Any) -> TemplateVersionOut:
    empty: dict[str, Any] = {
        "clouds": [],
        "requirements": None,
        "key_name": None,
        "security_group_ids": [],
        "zone": None,
        "tags": {},
    }
    lists: dict[str, Any] = {
        "boot_scripts": [],
        "operational_scripts": [],
        "decommission_scripts": [],
        "inputs": [],
        "values": {},
    }
    return TemplateVersionOut.model_validate(
        {"template_id": "t", "version": 1, "alerts": [], "deprecated": False, "created_at": MOMENT}
        | empty | lists | spec
    )  # fmt: skip


def test_the_template_declares_last_and_its_values_are_presets() -> None:
    boot = script("s1", 2, declared("site", "text", required=True), declared("size", "number", default=1))
    ops = script("s2", 1, declared("password", "secret", required=True), phase="operational")
    version = template(
        boot_scripts=[{"script_id": "s1", "version": 2}],
        operational_scripts=[{"script_id": "s2", "version": 1}],
        inputs=[declared("size", "number", default=2, maximum=8), declared("tier", "choice", choices=["a", "b"])],
        values={"site": "shop.example.org"},
    )

    found = launch_inputs(version, {("s1", 2): boot, ("s2", 1): ops})

    shown = {i.spec.name: (i.spec.type, i.preset, i.needed, i.spec.maximum) for i in found}
    assert shown == {
        "site": ("text", "shop.example.org", False, None),  # set by the template: no longer needed
        "size": ("number", 2, False, 8),  # the template's declaration wins
        "password": ("secret", None, True, None),
        "tier": ("choice", None, False, None),
    }
    assert [i.spec.name for i in found if i.secret] == ["password"]


def test_a_secret_set_by_the_template_is_not_needed_and_its_mask_is_no_preset() -> None:
    version = template(inputs=[declared("token", "secret", required=True)], values={"token": "********"})
    (token,) = launch_inputs(version, {})
    assert (token.preset, token.needed) == (None, False)


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("number", "3", 3),
        ("number", " 2.5 ", 2.5),
        ("number", "many", "many"),  # sent as it is: the API names the field it refuses
        ("number", "inf", "inf"),
        ("boolean", "yes", True),
        ("boolean", "FALSE", False),
        ("boolean", "", False),  # an unticked box
        ("boolean", "maybe", "maybe"),
        ("text", "42", "42"),
        ("secret", " s p ", " s p "),
        ("choice", "a", "a"),
    ],
)
def test_a_value_typed_as_text_is_read_as_its_type(kind: Any, text: str, value: object) -> None:
    found = typed_input(kind, text)
    assert found == value and type(found) is type(value)


def test_a_run_asks_for_the_script_inputs_with_what_the_instance_template_sets() -> None:
    deploy = script(
        "s3", 4, declared("release", "text", required=True), declared("token", "secret", required=True),
        declared("site", "text", required=True), declared("pause", "number", default=0), phase="operational",
    )  # fmt: skip

    found = run_inputs(deploy, {"site": "shop.example.org", "token": "********", "other": "x"})

    assert [(i.spec.name, i.preset, i.needed) for i in found] == [
        ("release", None, True),
        ("token", None, False),  # the template sets it; a secret is never a preset
        ("site", "shop.example.org", False),
        ("pause", 0, False),
    ]
    assert [i.secret for i in found] == [False, True, False, False]
    assert [(i.spec.name, i.needed) for i in run_inputs(deploy)][:3] == [
        ("release", True), ("token", True), ("site", True),
    ]  # fmt: skip
