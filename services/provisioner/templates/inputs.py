"""Typed inputs: what a script or a template declares, the values set at each level, and their resolution at launch.

Levels, lowest first: a declaration's `default` (the script's, or the template's own), the template version's
values, a cluster role's values (for a cluster's members), then the launch request's (the server's). A value set
at a higher level wins. Every problem is named by the field it came from (`body.inputs.<name>`), all at once, before
anything is recorded. No I/O here: what a value of
type `key_pair` or `security_group` names in the cloud is checked by the launch.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

InputType = Literal["text", "number", "boolean", "choice", "secret", "key_pair", "security_group", "cloud_resource"]
INPUT_TYPES: tuple[InputType, ...] = (
    "text",
    "number",
    "boolean",
    "choice",
    "secret",
    "key_pair",
    "security_group",
    "cloud_resource",
)
Level = Literal["script", "template", "cluster", "server"]
# What the instance, the answers and the events show of a secret.
MASK = "********"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
_NAME = re.compile(NAME_PATTERN)

Value = str | int | float | bool


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One declared input. `minimum`/`maximum` bound a number; `pattern` a text, secret or cloud resource (the whole
    value must match); `choices` are what a choice may be."""

    name: str
    type: InputType
    required: bool = False
    default: Value | None = None
    description: str | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def secret(self) -> bool:
        return self.type == "secret"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "description": self.description,
            "pattern": self.pattern,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InputSpec:
        return cls(**{**data, "choices": tuple(data.get("choices") or ())})


@dataclass(frozen=True, slots=True)
class Resolved:
    """One input's value at launch and the level it came from."""

    spec: InputSpec
    value: Value
    level: Level

    def shown(self) -> dict[str, Any]:
        """What the instance records and shows: a secret's value masked."""
        return {"value": MASK if self.spec.secret else self.value, "level": self.level, "type": self.spec.type}


# A value is matched against a pattern only up to this length, and a pattern may hold at most this many repetitions
# of variable length: with neither nested repetitions nor alternatives inside one (below), matching then stays well
# under a second however the pattern and the value were chosen (Python's engine backtracks; it has no time limit).
PATTERN_VALUE_CHARS = 512
_MAX_VARIABLE_REPEATS = 3
# CPython's own parser of regular expressions (`re` compiles with it; it has no public name and no type stubs).
_sre_parse: Any = importlib.import_module("re._parser")


def pattern_problem(pattern: str) -> str | None:
    """Why a pattern is refused: not a regular expression, or one whose matching may take exponential (or high
    polynomial) time: a back-reference, a repetition inside a repetition, alternatives inside a repetition, or more
    than a few repetitions of variable length."""
    try:
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return "not a regular expression"
    variable = 0

    def walk(items: Any, in_repeat: bool) -> str | None:
        nonlocal variable
        for op, arg in items:
            name = str(op)
            if name in ("GROUPREF", "GROUPREF_EXISTS"):
                return "back-references are not allowed"
            if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, high, sub = arg
                if high != low:
                    variable += 1
                if in_repeat and high > 1:
                    return "a repetition inside a repetition is not allowed"
                found = walk(sub, in_repeat or high > 1)
            elif name == "BRANCH":
                if in_repeat:
                    return "alternatives inside a repetition are not allowed"
                found = next((f for branch in arg[1] if (f := walk(branch, in_repeat))), None)
            elif name in ("SUBPATTERN", "ATOMIC_GROUP", "ASSERT", "ASSERT_NOT"):
                found = walk(arg[-1], in_repeat)
            else:
                found = None
            if found:
                return found
        return None

    found = walk(parsed, False)
    if found is None and variable > _MAX_VARIABLE_REPEATS:
        return f"at most {_MAX_VARIABLE_REPEATS} repetitions of variable length"
    return found


def _problem(location: str, message: str) -> dict[str, str]:
    return {"location": location, "message": message}


def declaration_problems(specs: Sequence[InputSpec], location: str) -> list[dict[str, str]]:
    """What is wrong with a list of declarations (`location`: where the list is in the request)."""
    problems: list[dict[str, str]] = []
    seen: set[str] = set()
    for n, spec in enumerate(specs):
        at = f"{location}.{n}"
        if not _NAME.match(spec.name):
            problems.append(_problem(f"{at}.name", "lower-case letters, digits and '_', starting with a letter"))
        if spec.name in seen:
            problems.append(_problem(f"{at}.name", f"{spec.name} is declared twice"))
        seen.add(spec.name)
        if spec.type == "choice" and not spec.choices:
            problems.append(_problem(f"{at}.choices", "a choice needs its choices"))
        if spec.type != "choice" and spec.choices:
            problems.append(_problem(f"{at}.choices", "only a choice has choices"))
        if spec.pattern is not None:
            if spec.type not in ("text", "secret", "cloud_resource"):
                problems.append(_problem(f"{at}.pattern", "only a text, secret or cloud resource has a pattern"))
            else:
                wrong = pattern_problem(spec.pattern)
                if wrong is not None:
                    problems.append(_problem(f"{at}.pattern", wrong))
        if (spec.minimum is not None or spec.maximum is not None) and spec.type != "number":
            problems.append(_problem(f"{at}.minimum", "only a number has a minimum or maximum"))
        if spec.minimum is not None and spec.maximum is not None and spec.minimum > spec.maximum:
            problems.append(_problem(f"{at}.maximum", "less than the minimum"))
        if spec.secret and spec.default is not None:
            # A default is stored in the clear with the declaration: a secret's value is set where it is sealed.
            problems.append(_problem(f"{at}.default", "a secret has no default: set it on a template or at launch"))
        elif spec.default is not None:
            wrong = value_problem(spec, spec.default)
            if wrong is not None:
                problems.append(_problem(f"{at}.default", wrong))
    return problems


def value_problem(spec: InputSpec, value: object) -> str | None:
    """Why `value` cannot be the value of `spec` (None: it can)."""
    if spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if spec.minimum is not None and value < spec.minimum:
            return f"must be at least {spec.minimum:g}"
        if spec.maximum is not None and value > spec.maximum:
            return f"must be at most {spec.maximum:g}"
        return None
    if spec.type == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if not isinstance(value, str):
        return "must be a string"
    if "\x00" in value:
        return "must not contain NUL"
    if spec.type == "choice":
        return None if value in spec.choices else f"must be one of {', '.join(spec.choices)}"
    if spec.type in ("key_pair", "security_group") and not value:
        return "must not be empty"
    if spec.pattern is not None and len(value) > PATTERN_VALUE_CHARS:
        return f"must be at most {PATTERN_VALUE_CHARS} characters"
    if spec.pattern is not None and re.fullmatch(spec.pattern, value) is None:
        # Never quote the value: it may be a secret.
        return "does not match the pattern"
    return None


def merge(declared: Iterable[tuple[str, Sequence[InputSpec]]]) -> tuple[dict[str, InputSpec], list[dict[str, str]]]:
    """The inputs declared by several owners (`(location, specs)`: scripts first, the template last), by name; the
    later owner's declaration of a name wins (its default, its constraints), but a name may not change its type."""
    merged: dict[str, InputSpec] = {}
    problems: list[dict[str, str]] = []
    for location, specs in declared:
        for n, spec in enumerate(specs):
            before = merged.get(spec.name)
            if before is not None and before.type != spec.type:
                problems.append(_problem(f"{location}.{n}.type", f"{spec.name} is declared as {before.type} elsewhere"))
                continue
            merged[spec.name] = spec
    return merged, problems


def values_problems(
    specs: Mapping[str, InputSpec], values: Mapping[str, object], location: str
) -> list[dict[str, str]]:
    """What is wrong with values set at one level: names nobody declares, values of the wrong type or out of bounds."""
    problems = []
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            problems.append(_problem(f"{location}.{name}", "no script or template declares this input"))
            continue
        wrong = value_problem(spec, value)
        if wrong is not None:
            problems.append(_problem(f"{location}.{name}", wrong))
    return problems


def resolve(
    specs: Mapping[str, InputSpec],
    template: Mapping[str, Value],
    server: Mapping[str, object],
    *,
    template_declared: Collection[str] = (),
    cluster: Mapping[str, object] | None = None,
) -> tuple[dict[str, Resolved], list[dict[str, str]]]:
    """Each declared input's value and level, from the defaults (a script's, or the template's for the names in
    `template_declared`), the template's values, a cluster role's (`cluster`) and the launch's; the problems name
    `body.inputs.<name>`: a value nobody declares, a wrong one, a required one nobody set."""
    cluster = cluster or {}
    problems = values_problems(specs, {**cluster, **server}, "body.inputs")
    resolved: dict[str, Resolved] = {}
    for name, spec in specs.items():
        given = next(
            ((level, values[name]) for level, values in (("server", server), ("cluster", cluster)) if name in values),
            None,
        )
        if given is not None:
            level, value = given
            if value_problem(spec, value) is None:
                assert isinstance(value, str | int | float | bool)
                resolved[name] = Resolved(spec, value, "server" if level == "server" else "cluster")
        elif name in template:
            resolved[name] = Resolved(spec, template[name], "template")
        elif spec.default is not None:
            resolved[name] = Resolved(spec, spec.default, "template" if name in template_declared else "script")
        elif spec.required:
            problems.append(_problem(f"body.inputs.{name}", "required"))
    return resolved, problems


def rendered(value: Value) -> str:
    """A value as it goes into a script."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


__all__ = [
    "INPUT_TYPES",
    "MASK",
    "NAME_PATTERN",
    "PATTERN_VALUE_CHARS",
    "InputSpec",
    "InputType",
    "Level",
    "Resolved",
    "Value",
    "declaration_problems",
    "merge",
    "pattern_problem",
    "rendered",
    "resolve",
    "value_problem",
    "values_problems",
]
