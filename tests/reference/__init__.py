"""Sample bodies from the clouds' own references (see README.md for where each came from), and the comparison that
holds a stand-in's answers to them: the same keys, shapes and types, never the same values."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).parent

# Objects whose keys are data (a network's name, a metadata key, an extra spec), not fields: their values are
# compared with the sample's first value, whatever the keys.
MAPS = frozenset({"addresses", "metadata", "extra_specs", "properties", "scheduler_hints"})


def sample(path: str) -> Any:
    """A sample body, by its path under this folder (such as "openstack/nova-server-get-v2.100.json")."""
    return json.loads((_HERE / path).read_text())


# JSON's types; a bool is not an integer here (as it is to `isinstance`).
_KINDS: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def shape_differences(
    answer: Any,
    reference: Any,
    *,
    absent: Iterable[str] = (),
    extra: Iterable[str] = (),
    maps: Iterable[str] = MAPS,
    path: str = "",
) -> list[str]:
    """Where `answer` is not shaped like `reference`: a key one has and the other lacks, or a value of another type.

    A null on either side stands for a value of any type (the references print one or the other as examples).
    `absent` lists the paths (such as "server.OS-EXT-SRV-ATTR:host" or "servers[].host_status") of the reference's
    keys that may be missing from the answer, `extra` those of keys the answer may have beyond the reference's,
    each for a reason its caller states. An array's items are compared
    with the reference's item at the same place, else its first (references list links, say, in a fixed order).
    """
    absent, extra, maps = frozenset(absent), frozenset(extra), frozenset(maps)
    more = {"absent": absent, "extra": extra, "maps": maps}
    if answer is None or reference is None:
        return []
    if _kind(answer) != _kind(reference) and {_kind(answer), _kind(reference)} != {"integer", "number"}:
        return [f"{path or '.'}: {_kind(answer)}, the reference has {_kind(reference)}"]
    found: list[str] = []
    if isinstance(reference, list) and reference:
        for i, item in enumerate(answer):
            like = reference[i] if i < len(reference) else reference[0]
            found += shape_differences(item, like, **more, path=f"{path}[]")
    elif isinstance(reference, dict):
        if path.rsplit(".", 1)[-1] in maps:
            if reference:
                first = next(iter(reference.values()))
                for key, value in answer.items():
                    found += shape_differences(value, first, **more, path=f"{path}.{key}")
            return found
        for key in reference.keys() - answer.keys():
            where = f"{path}.{key}" if path else key
            if where not in absent:
                found.append(f"{where}: missing (the reference has it)")
        for key in answer.keys() - reference.keys():
            where = f"{path}.{key}" if path else key
            if where not in extra:
                found.append(f"{where}: not in the reference")
        for key in answer.keys() & reference.keys():
            where = f"{path}.{key}" if path else key
            found += shape_differences(answer[key], reference[key], **more, path=where)
    return found


def assert_shaped_like(
    answer: Any, reference: Any, *, absent: Iterable[str] = (), extra: Iterable[str] = (), maps: Iterable[str] = MAPS
) -> None:
    differences = shape_differences(answer, reference, absent=absent, extra=extra, maps=maps)
    assert not differences, "\n".join(differences)


__all__ = ["MAPS", "assert_shaped_like", "sample", "shape_differences"]
