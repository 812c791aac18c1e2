"""Typed inputs, script and template rules, and boot rendering: pure functions, no I/O."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime
from email import message_from_bytes
from email.charset import Charset
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from adapters.base import Flavor, Image, ImageState
from kernel.errors import ValidationFailed
from services.provisioner.templates import boot, domain, inputs
from services.provisioner.templates.domain import (
    Requirements,
    ScriptContent,
    ScriptRef,
    ScriptVersion,
    TemplateSpec,
)
from services.provisioner.templates.inputs import InputSpec

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def test_a_value_of_each_type_is_checked_against_its_constraints() -> None:
    port = InputSpec("port", "number", minimum=1, maximum=65535)
    assert inputs.value_problem(port, 8080) is None
    assert inputs.value_problem(port, 0) == "must be at least 1"
    assert inputs.value_problem(port, 70000) == "must be at most 65535"
    assert inputs.value_problem(port, True) == "must be a number"
    assert inputs.value_problem(port, "80") == "must be a number"
    flag = InputSpec("debug", "boolean")
    assert inputs.value_problem(flag, False) is None
    assert inputs.value_problem(flag, "false") == "must be true or false"
    size = InputSpec("size", "choice", choices=("s", "m"))
    assert inputs.value_problem(size, "m") is None
    assert inputs.value_problem(size, "xl") == "must be one of s, m"
    word = InputSpec("password", "secret", pattern=r"[A-Za-z0-9]{8,}")
    assert inputs.value_problem(word, "hunter2hunter2") is None
    # The message never quotes the value: it may be a secret.
    assert inputs.value_problem(word, "short") == "does not match the pattern"
    assert inputs.value_problem(InputSpec("key", "key_pair"), "") == "must not be empty"
    assert inputs.value_problem(InputSpec("t", "text"), "a\x00b") == "must not contain NUL"


def test_patterns_whose_matching_could_take_exponential_time_are_refused() -> None:
    for fine in (r"[A-Za-z0-9-]{12,}", r"[a-z]+-[0-9]+", r"(prod|dev)-[0-9]{3}", r"(?:ab)+", r"[a-z][a-z0-9-]{0,62}"):
        assert inputs.pattern_problem(fine) is None, fine
    assert inputs.pattern_problem(r"(\w+\s?)*!") == "a repetition inside a repetition is not allowed"
    assert inputs.pattern_problem(r"(a|aa)+") == "alternatives inside a repetition are not allowed"
    assert inputs.pattern_problem(r"(a)\1") == "back-references are not allowed"
    assert inputs.pattern_problem(r"\w*\w*\w*\w*!") == "at most 3 repetitions of variable length"
    assert inputs.pattern_problem("(") == "not a regular expression"
    long = InputSpec("t", "text", pattern=r"\w*\w*\w*!")
    assert inputs.value_problem(long, "a" * 513) == "must be at most 512 characters"
    assert inputs.value_problem(long, "a" * 512) == "does not match the pattern"


def test_declarations_are_refused_with_each_problem_named() -> None:
    problems = inputs.declaration_problems(
        [
            InputSpec("Bad-Name", "text"),
            InputSpec("size", "choice"),
            InputSpec("size", "number", pattern="x"),
            InputSpec("pw", "secret", default="s3cret"),
            InputSpec("n", "number", minimum=5, maximum=1, default=3),
            InputSpec("re", "text", pattern="("),
        ],
        "body.inputs",
    )
    assert {(p["location"], p["message"]) for p in problems} == {
        ("body.inputs.0.name", "lower-case letters, digits and '_', starting with a letter"),
        ("body.inputs.1.choices", "a choice needs its choices"),
        ("body.inputs.2.name", "size is declared twice"),
        ("body.inputs.2.pattern", "only a text, secret or cloud resource has a pattern"),
        ("body.inputs.3.default", "a secret has no default: set it on a template or at launch"),
        ("body.inputs.4.maximum", "less than the minimum"),
        ("body.inputs.4.default", "must be at least 5"),
        ("body.inputs.5.pattern", "not a regular expression"),
    }


def test_values_resolve_by_level_server_over_template_over_script() -> None:
    specs = {
        "port": InputSpec("port", "number", default=80),
        "env": InputSpec("env", "choice", choices=("dev", "prod"), default="dev"),
        "motd": InputSpec("motd", "text", default="hello"),
        "token": InputSpec("token", "secret", required=True),
        "region": InputSpec("region", "text", default="eu"),
    }
    resolved, problems = inputs.resolve(
        specs,
        {"env": "prod", "token": "tok-template"},
        {"port": 8080, "token": "tok-server"},
        template_declared={"region"},
    )
    assert problems == []
    assert {n: (r.value, r.level) for n, r in resolved.items()} == {
        "port": (8080, "server"),
        "env": ("prod", "template"),
        "motd": ("hello", "script"),
        "token": ("tok-server", "server"),
        "region": ("eu", "template"),
    }
    assert resolved["token"].shown() == {"value": inputs.MASK, "level": "server", "type": "secret"}
    assert resolved["port"].shown() == {"value": 8080, "level": "server", "type": "number"}


def test_missing_unknown_and_invalid_inputs_are_each_named() -> None:
    specs = {
        "token": InputSpec("token", "secret", required=True),
        "port": InputSpec("port", "number", maximum=10),
        "opt": InputSpec("opt", "text"),
    }
    resolved, problems = inputs.resolve(specs, {}, {"port": 11, "nobody": "x"})
    assert sorted((p["location"], p["message"]) for p in problems) == [
        ("body.inputs.nobody", "no script or template declares this input"),
        ("body.inputs.port", "must be at most 10"),
        ("body.inputs.token", "required"),
    ]
    assert "opt" not in resolved


def test_a_name_declared_by_two_owners_keeps_one_type() -> None:
    merged, problems = inputs.merge(
        [
            ("body.boot_scripts.0.inputs", [InputSpec("port", "number", default=80)]),
            ("body.inputs", [InputSpec("port", "number", default=8080), InputSpec("env", "text")]),
            ("body.operational_scripts.0.inputs", [InputSpec("env", "number")]),
        ]
    )
    assert merged["port"].default == 8080
    assert problems == [
        {"location": "body.operational_scripts.0.inputs.0.type", "message": "env is declared as text elsewhere"}
    ]


def test_a_script_body_may_only_use_inputs_it_declares() -> None:
    content = ScriptContent("#!/bin/sh\necho {{ greeting }} {{name}}\n", "boot", 60, (InputSpec("name", "text"),))
    assert domain.script_problems(content) == [
        {"location": "body.body", "message": "{{ greeting }}: no input greeting is declared"}
    ]
    assert domain.script_problems(ScriptContent("echo hi", "boot", 60)) == [
        {"location": "body.body", "message": "starts with #! (a script) or #cloud-config"}
    ]
    assert domain.script_problems(ScriptContent("#cloud-config\n{}", "operational", 60)) == [
        {"location": "body.phase", "message": "only a boot script may be #cloud-config"}
    ]
    assert domain.script_problems(ScriptContent("#!/bin/sh\necho ${HOME} {x}\n", "boot", 60)) == []


def test_a_template_names_live_script_versions_of_the_right_phase() -> None:
    boot_v1 = ScriptVersion("s1", 1, "#!/bin/sh\n", "boot", 60, (), NOW)
    old = ScriptVersion("s1", 2, "#!/bin/sh\n", "boot", 60, (), NOW, deprecated=True)
    op = ScriptVersion("s2", 1, "#!/bin/sh\n", "operational", 60, (), NOW)
    spec = TemplateSpec(
        boot_scripts=(ScriptRef("s1", 1), ScriptRef("s1", 2), ScriptRef("s2", 1), ScriptRef("s9", 3)),
        decommission_scripts=(ScriptRef("s9", domain.LATEST),),
    )
    versions = {
        ScriptRef("s1", 1): boot_v1,
        ScriptRef("s1", 2): old,
        ScriptRef("s2", 1): op,
    }
    problems = domain.scripts_problems(spec, {r: versions.get(r) for r in spec.script_refs()})
    assert problems == [
        {"location": "body.boot_scripts.1", "message": "version 2 is deprecated"},
        {"location": "body.boot_scripts.2", "message": "phase operational, not boot"},
        {"location": "body.boot_scripts.3", "message": "no version 3 of script s9"},
        {"location": "body.decommission_scripts.0", "message": "no script s9"},
    ]
    assert domain.template_problems(TemplateSpec()) == [
        {"location": "body.clouds", "message": "name an image and flavor per cloud, or requirements"}
    ]


def test_requirements_choose_the_smallest_fitting_flavor_and_the_named_image() -> None:
    flavors = [
        Flavor("big", "big", 8, 32768, 100),
        Flavor("small", "small", 1, 1024, 10),
        Flavor("medium", "medium", 2, 4096, 20),
    ]
    req = Requirements(image_name="Debian 12", min_vcpus=2, min_ram_mb=2048, min_disk_gb=20)
    assert domain.smallest_flavor(flavors, req) == flavors[2]
    assert domain.smallest_flavor(flavors, Requirements("x", min_vcpus=16)) is None
    images = [
        Image("img-b", "Debian 12", "linux"),
        Image("img-a", "Debian 12", "linux", state=ImageState.PENDING),
        Image("img-c", "Ubuntu 24.04", "linux"),
    ]
    assert domain.image_named(images, req) == images[0]
    assert domain.image_named(images, Requirements("Windows")) is None


def _parts(data: bytes) -> list[tuple[str, str, str]]:
    message = message_from_bytes(data)
    assert message.is_multipart()
    found = []
    for part in message.get_payload():
        assert not isinstance(part, str)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found.append((part.get_content_type(), part.get_filename() or "", payload.decode()))
    return found


def test_boot_scripts_become_one_mime_part_each_in_order() -> None:
    values: dict[str, inputs.Value] = {"name": "web", "port": 8080.0, "debug": True}
    shell = boot.fill("#!/bin/sh\necho {{ name }}:{{port}} debug={{ debug }} x={{ unset }}\n", values)
    assert shell == "#!/bin/sh\necho web:8080 debug=true x=\n"
    data = boot.user_data(
        [boot.BootPart("01-a", shell), boot.BootPart("02-b", "#cloud-config\npackages: [nginx]\n")], 16 * 1024
    )
    assert data.startswith(b"Content-Type: multipart/mixed")
    assert _parts(data) == [
        ("text/x-shellscript-per-instance", "01-a", shell),
        ("text/cloud-config", "02-b", "#cloud-config\npackages: [nginx]\n"),
    ]
    assert boot.referenced("#!/bin/sh\n{{a}} {{ b }} {{a}}") == ["a", "b"]
    # The parts travel readable (8bit), not base64.
    assert shell.encode() in data


def _by_the_standard_library(parts: list[boot.BootPart]) -> bytes:
    """The same message written by the `email` package (utf-8 parts, 8bit: no transfer encoding)."""
    charset = Charset("utf-8")
    charset.body_encoding = None  # type: ignore[assignment]  # the documented "no encoding"; typeshed says int
    message = MIMEMultipart(boundary=boot.multipart(parts).split(b'boundary="')[1].split(b'"')[0].decode())
    for part in parts:
        text = MIMEText(part.body, boot.part_type(part.body), charset)  # type: ignore[arg-type]
        text.add_header("Content-Disposition", "attachment", filename=part.filename)
        message.attach(text)
    return message.as_bytes()


@pytest.mark.parametrize(
    "bodies",
    [
        ["#!/bin/sh\necho x\n"],
        ["#!/bin/sh\necho caf\u00e9 \u2603\n", "#cloud-config\npackages: [nginx]\n", "#!/bin/bash\necho no end"],
        ["#!/bin/sh\r\necho crlf\r\necho cr\recho lf\n\n\n", "#!/bin/sh\n" + "echo a long line " * 40 + "\n"],
        ["#!/bin/sh\nFrom here\n--not-a-boundary\n.\n", "#cloud-config\n"],
    ],
)
def test_boot_user_data_is_what_the_standard_librarys_mime_generator_writes(bodies: list[str]) -> None:
    # File names as launches make them (a script's id and version), and shorter and longer ones around the length
    # at which a header line is folded.
    names = ["01-0b6f9f0e-2d7c-4a4e-9a57-5c1de3a1a2b3-v1", "02-short", "03-" + "x" * 52, "4-" + "y" * 40]
    parts = [boot.BootPart(names[n % len(names)], body) for n, body in enumerate(bodies)]
    data = boot.multipart(parts)
    assert data == _by_the_standard_library(parts)
    assert [body for _, _, body in _parts(data)] == [b.replace("\r\n", "\n").replace("\r", "\n") for b in bodies]
    for length in range(1, 65):
        one = [boot.BootPart("f" * length, "#!/bin/sh\necho x\n")]
        assert boot.multipart(one) == _by_the_standard_library(one), length


def test_a_boot_part_file_name_is_a_plain_token() -> None:
    with pytest.raises(ValueError, match="file name"):
        boot.multipart([boot.BootPart('01-a"; evil="1', "#!/bin/sh\necho x\n")])


def test_a_value_cannot_add_mime_parts_of_its_own() -> None:
    first = boot.multipart([boot.BootPart("01-a", "#!/bin/sh\necho x\n")])
    boundary = first.split(b"boundary=")[1].split(b"\n")[0].strip(b'"').decode()
    forged = f"#!/bin/sh\necho x\n--{boundary}\nContent-Type: text/x-shellscript\n\n#!/bin/sh\nevil\n"
    data = boot.multipart([boot.BootPart("01-a", forged)])
    assert [body for _, _, body in _parts(data)] == [forged]


def test_user_data_too_large_is_compressed_and_refused_when_it_still_does_not_fit() -> None:
    repetitive = "#!/bin/sh\n" + "echo the same line again and again\n" * 1000
    data = boot.user_data([boot.BootPart("01-a", repetitive)], 16 * 1024)
    assert data[:2] == b"\x1f\x8b"
    assert len(data) <= 16 * 1024
    assert _parts(gzip.decompress(data))[0][2] == repetitive
    # Random text does not compress below the limit.
    noise = "#!/bin/sh\n: " + os.urandom(16 * 1024).hex() + "\n"
    with pytest.raises(ValidationFailed) as refused:
        boot.user_data([boot.BootPart("01-a", noise)], 16 * 1024)
    assert refused.value.extensions["errors"][0]["location"] == "body.template_id"
