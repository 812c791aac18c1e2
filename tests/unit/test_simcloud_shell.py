"""SimCloud's simulation of what a boot shell script prints: literal `echo` and `printf` output, never its text."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from adapters.simcloud.shell import MAX_OUTPUT_CHARS, output, run


def sh(body: str, interpreter: str = "/bin/sh") -> str:
    return output(f"#!{interpreter}\n{body}")


def test_the_review_example_prints_the_echo_and_not_the_secret() -> None:
    printed = sh("DB_PASSWORD='s3cr3t-value'\necho \"configuring web\"\n")

    assert printed == "configuring web\n"


@pytest.mark.parametrize(
    "line",
    [
        'echo "$DB_PASSWORD"',
        "echo $DB_PASSWORD",
        'echo "${DB_PASSWORD}"',
        'echo "password: ${DB_PASSWORD:-none}"',
        "echo `cat /etc/secret`",
        'echo "$(cat /etc/secret)"',
        "printf '%s\\n' \"$DB_PASSWORD\"",
        "echo $'\\x41'",
    ],
)
def test_nothing_that_needs_expanding_prints(line: str) -> None:
    # Expanding would print the secret; printing the text would print source that is not output.
    assert sh(f"DB_PASSWORD='s3cr3t-value'\n{line}\necho after\n") == "after\n"


def test_quoting_is_removed_as_the_shell_removes_it() -> None:
    printed = sh("echo 'single $HOME' \"double\" plain\\ word\necho \"cost \\$5\" 'it''s'\necho\n")

    assert printed == "single $HOME double plain word\ncost $5 its\n\n"


def test_echo_options_and_shell_dependent_echoes() -> None:
    assert sh("echo -n 'no newline, '\necho then one\n") == "no newline, then one\n"
    # dash and bash disagree on these: nothing is better than a guess.
    assert sh("echo -e 'a\\nb'\necho 'a\\nb'\necho -E x\n") == ""


def test_printf_fills_its_format_and_reuses_it() -> None:
    assert sh("printf '%s=%s\\n' a 1 b 2 c\n") == "a=1\nb=2\nc=\n"
    assert sh("printf 'tab\\there 100%%\\n'\nprintf '%b\\n' 'x\\ty'\n") == "tab\there 100%\nx\ty\n"
    assert sh("printf 'no args\\n' extra\n") == "no args\n"
    assert sh("printf '%d\\n' 3\nprintf -v x hi\nprintf '\\x41\\n'\n") == ""


def test_commands_that_do_not_stand_alone_print_nothing() -> None:
    body = "echo a && echo b\necho c || true\necho d | tee /tmp/d\necho e > /tmp/e\necho f 2>&1\necho g &\n"

    assert sh(body + "echo h; echo i # a comment\n") == "h\ni\n"


def test_commands_in_compound_commands_print_nothing() -> None:
    body = (
        "if [ -f /etc/x ]; then\n  echo in-if\nfi\n"
        "for i in 1 2; do echo in-for; done\n"
        "while false\ndo\n  echo in-while\ndone\n"
        'case "$1" in\n  a) echo in-case ;;\n  (b) echo in-case-b ;;\nesac\n'
        "greet() {\n  echo in-function\n}\n"
        "function other {\n  echo in-function-2\n}\n"
        "{ echo in-group; }\n( echo in-subshell )\n"
        "echo top\n"
    )

    assert sh(body) == "top\n"


def test_data_is_never_taken_for_commands() -> None:
    body = (
        "cat > /etc/app.env <<EOF\necho heredoc-secret\nEOF\n"
        "cat <<-'END' > /etc/b\n\techo tabbed-secret\n\tEND\n"
        "CONFIG='line one\necho quoted-secret\n'\n"
        "X=$(cat <<EOF\necho ) substituted-secret\nEOF\n)\n"
        "echo after\n"
    )

    assert sh(body) == "after\n"


def test_continued_lines_join() -> None:
    assert sh("echo one \\\n  two\n") == "one two\n"


def test_a_top_level_exit_ends_the_script() -> None:
    assert sh("echo before\nexit 0\necho after\n") == "before\n"
    assert sh("if false; then exit 1; fi\necho after\n") == "after\n"


def test_an_unreadable_rest_prints_nothing() -> None:
    assert sh("echo before\necho 'never closed\necho after\n") == "before\n"
    assert sh("echo before\n" + "$(" * 1000 + "\necho after\n") == "before\n"


@pytest.mark.parametrize(
    ("interpreter", "printed"),
    [
        ("/bin/bash", "hi\n"),
        ("/usr/bin/env bash", "hi\n"),
        ("/usr/bin/env -S bash -e", "hi\n"),
        (" /bin/dash -x", "hi\n"),
        ("/usr/bin/python3", ""),
        ("/usr/bin/perl", ""),
    ],
)
def test_only_shell_scripts_are_simulated(interpreter: str, printed: str) -> None:
    assert sh("echo hi\n", interpreter) == printed


def test_not_a_script_prints_nothing() -> None:
    assert output("echo hi\n") == ""
    assert output("#cloud-config\nruncmd:\n  - echo hi\n") == ""


def test_output_is_bounded() -> None:
    # A format reused for each argument prints far more than the 16 KiB of user data a launch may carry.
    printed = sh("printf '" + "x" * 8000 + "%s\\n' 1 2 3 4 5 6\n")

    assert len(printed) == MAX_OUTPUT_CHARS


# Scripts whose every command is simulated, so the real shells must agree with the simulation on output and status.
_LITERAL_SCRIPTS = [
    "echo a\nexit 3\necho b\n",
    "echo a\n",
    "echo a\nexit\n",
    "exit 300\n",
    "exit nope\n",
    "trap 'echo \"done with $?\"' EXIT\necho a\nexit 7\n",
    "trap 'echo \"done with $?\"' EXIT\necho a\n",
    "trap 'echo \"done with $?\"' 0\ntrap - EXIT\necho a\nexit 4\n",
    "trap 'echo first' EXIT\ntrap 'echo \"second $?\"' EXIT\nexit 5\n",
    "trap 'echo \"then $?\"; exit 9' EXIT\nexit 5\n",
    "trap 'echo 'quoted $?'' EXIT\nexit 1\n",
    "echo 'clanavi: boot script 01-a-v1 started'; trap 'echo \"clanavi: boot script 01-a-v1 exited with $?\"' EXIT\n"
    "echo work\nexit 3\n",
]


@pytest.mark.parametrize("shell", ["dash", "bash"])
@pytest.mark.parametrize("body", _LITERAL_SCRIPTS)
def test_output_and_status_are_what_the_real_shells_give(shell: str, body: str) -> None:
    path = shutil.which(shell)
    assert path is not None, f"{shell} is needed to check the simulation against"
    real = subprocess.run([path, "-c", body], capture_output=True, text=True, timeout=10, check=False)  # noqa: S603

    assert run(f"#!/bin/{shell}\n{body}") == (real.stdout, real.returncode)


def test_a_status_that_needs_expanding_is_taken_as_zero() -> None:
    assert run("#!/bin/sh\nrc=4\nexit $rc\n").status == 0
    assert run("#!/bin/sh\nif true; then exit 1; fi\n").status == 0


def test_an_exit_trap_that_needs_expanding_prints_nothing_and_replaces_the_earlier_one() -> None:
    ran = run("#!/bin/sh\ntrap 'echo bye' EXIT\ntrap \"rm -f $TMP\" EXIT\necho a\n")

    assert ran.output == "a\n"


def test_other_interpreters_exit_zero() -> None:
    assert run("#!/usr/bin/python3\nimport sys\nsys.exit(3)\n") == ("", 0)
