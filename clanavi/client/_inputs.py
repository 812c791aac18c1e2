"""What a launch from a template asks for: the inputs its version and the versions of its scripts declare, merged as
the launch merges them (scripts first, the template last, the later declaration of a name winning), with what the
template already sets; what a run of an operational script asks for (its inputs, with what the instance's template
sets); and a value typed as text (a command line's `--input`, a form's field) read as its input's
type. Nothing is checked here: the API checks every value and names each one it refuses."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.provisioner.templates.domain import SCRIPT_LISTS
from services.provisioner.templates.inputs import InputSpec, InputType, Value, merge
from services.provisioner.templates.schemas import InputOut, ScriptRefOut, ScriptVersionOut, TemplateVersionOut

__all__ = ["LaunchInput", "launch_inputs", "run_inputs", "script_refs", "typed_input"]

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0", ""})


@dataclass(frozen=True)
class LaunchInput:
    """One input a launch may set: its declaration, the value it has unless the launch sets one (`preset`: the
    template's value, else the declared default; never a secret's), and whether the launch must set it."""

    spec: InputOut
    preset: Value | None
    needed: bool

    @property
    def secret(self) -> bool:
        return self.spec.type == "secret"


def script_refs(version: TemplateVersionOut) -> list[ScriptRefOut]:
    """The script versions a template version runs, in the order their inputs are declared."""
    return [ref for name in SCRIPT_LISTS for ref in getattr(version, name)]


def _specs(declared: list[InputOut]) -> list[InputSpec]:
    return [InputSpec.from_json(each.model_dump()) for each in declared]


def launch_inputs(
    version: TemplateVersionOut, scripts: Mapping[tuple[str, int], ScriptVersionOut]
) -> list[LaunchInput]:
    """The inputs of `version`, given the script versions it runs (by script id and version)."""
    owners = [(ref.script_id, _specs(scripts[(ref.script_id, ref.version)].inputs)) for ref in script_refs(version)]
    merged, _ = merge([*owners, ("template", _specs(version.inputs))])
    return _asked(merged.values(), version.values)


def run_inputs(script: ScriptVersionOut, template_values: Mapping[str, Value] | None = None) -> list[LaunchInput]:
    """The inputs a run of `script` may set, given the values the instance's template version sets (a run resolves
    the script's defaults, then the template's values, then the run's own)."""
    return _asked(_specs(script.inputs), template_values or {})


def _asked(specs: Iterable[InputSpec], values: Mapping[str, Value]) -> list[LaunchInput]:
    found = []
    for spec in specs:
        set_by_template = spec.name in values
        preset = values.get(spec.name) if set_by_template else spec.default
        if spec.secret:
            preset = None
        found.append(
            LaunchInput(InputOut.model_validate(spec.as_json()), preset, spec.required and not set_by_template)
        )
    return found


def typed_input(kind: InputType, text: str) -> Value:
    """`text` as a value of an input of `kind`: a number or true/false where it reads as one; as it is otherwise,
    for the API to refuse by name."""
    if kind == "number":
        for read in (int, float):
            try:
                number = read(text.strip())
            except ValueError:
                continue
            # JSON has no infinity and no NaN.
            return number if math.isfinite(number) else text
        return text
    if kind == "boolean":
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return text
