"""SimCloud's simulation of what a boot shell script prints: literal `echo` and `printf` output, never its text."""

from __future__ import annotations

import pytest

from adapters.simcloud.shell import MAX_OUTPUT_CHARS, output


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
