"""What a boot shell script prints, worked out from its text without running it.

SimCloud runs no user code, so it simulates what a `#!` user-data script writes to the console. The rule only ever
shows text that the script prints; it never shows the script itself:

1. The script is read as a POSIX shell reads it: quotes (which may span lines), backslash escapes and line
   continuations, comments, command substitutions and here-documents. A here-document's body is data, never
   a command.
2. A command prints only when all of these hold:
   - it is `echo` or `printf`;
   - all its words are literal text (see 3);
   - it stands alone: it starts the script, or follows a newline or `;`, and ends at a newline, a `;` or the
     end of the script (no `|`, `&&`, `||` or `&`), with no redirection;
   - it is at the top level, outside `if`, `case`, loops, functions, `{ }` and `( )`. Whether, and how often,
     commands in those run depends on evaluation that SimCloud does not do.
3. A word is literal when it needs no expansion: no `$` or backquote outside single quotes, and no unquoted
   glob (`*`, `?`, `[`), brace or leading `~`. Variables are never expanded. A simulator that expanded
   `echo "$DB_PASSWORD"` would print the secret assigned a few lines above, and printing the text
   `$DB_PASSWORD` would show source that the script does not print, so such a command prints nothing.
4. `echo` prints its arguments joined by spaces, then a newline; a leading `-n` leaves the newline out. An
   `echo` whose output differs between shells (any other option, or a backslash in its text) prints nothing.
   `printf` prints its format with `%s`, `%b` and `%%` filled in and the escapes that POSIX and bash share
   (`\\n`, `\\t`, `\\\\`, ...). It reuses the format while arguments remain, as the real one does. A format with
   any other conversion or escape prints nothing.
5. A top-level `exit` ends the script: nothing after it prints. Its status is the script's exit status, as the
   shells give it: a number is taken modulo 256, `exit` alone is the last command's (0, see 6), another literal
   word is 2 (dash's and bash's "illegal number"); one that needs expanding is taken as 0, like the commands it
   would come from. A script that ends without `exit` exits 0.
6. Every other command prints nothing, even one that prints on a real machine (`apt-get`, a `set -x` trace).
   Commands are taken to succeed.
7. A top-level `trap ACTION EXIT` (or `0`) with a literal ACTION runs ACTION as the script ends, by `exit` or at
   its end, under this same rule, where `$?` is the exit status (the one expansion made: it is a number, never a
   secret). A later `trap` on EXIT replaces it, `trap - EXIT` removes it; the action runs once and cannot change
   the status (POSIX restores `$?` after it).
8. Only shell interpreters (`sh`, `bash`, `dash`, `ash`, `ksh`, `mksh`, `zsh`, named directly or through
   `env`) are simulated; a script for any other interpreter prints nothing and exits 0.

What a script prints is cut at `MAX_OUTPUT_CHARS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple

from kernel.shebang import is_shell_script

__all__ = ["MAX_OUTPUT_CHARS", "Ran", "output", "run"]

# A `printf` reusing a long format can print far more than the script holds; the console would only keep its end.
MAX_OUTPUT_CHARS = 16 * 1024

# Longest first, so that `<<-` is not read as `<<` and `-`.
_OPERATORS = (
    "&>>",
    "<<<",
    "<<-",
    ";;&",
    "&&",
    "||",
    ";;",
    ";&",
    "|&",
    "<<",
    ">>",
    "<&",
    ">&",
    "<>",
    ">|",
    "&>",
    ";",
    "&",
    "|",
    "(",
    ")",
    "<",
    ">",
    "\n",
)
# What an operator starts with: any other character starts a word.
_OPERATOR_STARTS = frozenset(op[0] for op in _OPERATORS)
# A run of characters a word takes as they are, none of them quoting, expanding, globbing or ending the word: the
# lexer takes the run at once instead of one character at a time (a boot script is read on every console render).
_PLAIN_RUN = re.compile(r"""[^ \t\n;&|()<>\\'"$`*?\[\]{}~]+""")
# The same inside double quotes, where only `"`, `\\`, `$` and the backquote are not taken as they are.
_QUOTED_RUN = re.compile(r"""[^"\\$`]+""")
# What comes between tokens: blanks, line continuations and comments, in any order (each test of a character one at a
# time cost as much as the rest of the lexer).
_BLANKS = re.compile(r"(?:[ \t]+|\\\n|#[^\n]*)*")
# The operators, tried in the order of `_OPERATORS` (longest first): the first that matches is taken.
_OPERATOR = re.compile("|".join(re.escape(op) for op in _OPERATORS))
_REDIRECTIONS = frozenset({"&>>", "<<<", "<<-", "<<", ">>", "<&", ">&", "<>", ">|", "&>", "<", ">"})
_OPENERS = {"if": "if", "case": "case", "for": "loop", "while": "loop", "until": "loop", "select": "loop", "{": "{"}
_CLOSERS = {"fi": "if", "esac": "case", "done": "loop", "}": "{"}
# Reserved words after which the next word still starts a command.
_PREFIXES = frozenset({"then", "do", "else", "elif", "!", "time"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-]")
# Escapes that print the same under dash's and bash's printf.
_ESCAPES = {"\\": "\\", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
# Deep enough for any real script; a deeper one would exhaust Python's stack.
_MAX_NESTING = 64


# Tuples rather than frozen dataclasses: a boot script is read token by token on every console render, and a frozen
# dataclass is made at twice a tuple's cost.
class _Word(NamedTuple):
    text: str
    literal: bool
    quoted: bool


class _Op(NamedTuple):
    text: str


# Each operator's token, made once.
_OPS = {op: _Op(op) for op in _OPERATORS}


class _Unreadable(Exception):
    """The rest of the script cannot be followed: it prints nothing."""


class _Lexer:
    def __init__(self, source: str, status: int | None = None) -> None:
        self._src = source
        self._pos = 0
        # What `$?` stands for, in a trap's action; elsewhere it needs expanding like any parameter.
        self._status = status
        self._heredocs: list[tuple[str, bool]] = []
        self._nesting = 0

    def tokens(self) -> Iterator[_Word | _Op]:
        while (token := self._next()) is not None:
            yield token

    def _next(self) -> _Word | _Op | None:
        src = self._src
        skipped = _BLANKS.match(src, self._pos)
        if skipped is not None:  # always: it matches the empty text too
            self._pos = skipped.end()
        if self._pos >= len(src):
            return None
        found = _OPERATOR.match(src, self._pos) if src[self._pos] in _OPERATOR_STARTS else None
        if found is None:
            return self._word()
        op = found.group()
        self._pos = found.end()
        if op == "\n":
            self._skip_heredoc_bodies()
        elif op in ("<<", "<<-"):
            self._heredoc(strip_tabs=op == "<<-")
        return _OPS[op]

    def _heredoc(self, *, strip_tabs: bool) -> None:
        while self._src.startswith((" ", "\t"), self._pos):
            self._pos += 1
        start = self._pos
        delimiter = self._word()
        if not delimiter.text:
            raise _Unreadable
        # The delimiter is read again as the redirection's target; the caller must see it too.
        self._pos = start
        self._heredocs.append((delimiter.text, strip_tabs))

    def _skip_heredoc_bodies(self) -> None:
        src = self._src
        for delimiter, strip_tabs in self._heredocs:
            while self._pos < len(src):
                end = src.find("\n", self._pos)
                end = len(src) if end < 0 else end
                line = src[self._pos : end]
                self._pos = end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
        self._heredocs.clear()

    def _word(self) -> _Word:
        src = self._src
        text: list[str] = []
        literal = True
        quoted = False
        start = self._pos
        while self._pos < len(src):
            c = src[self._pos]
            if c in " \t\n;&|()<>":
                break
            run = _PLAIN_RUN.match(src, self._pos)
            if run is not None:
                text.append(run.group())
                self._pos = run.end()
            elif c == "\\":
                following = src[self._pos + 1 : self._pos + 2]
                if following != "\n":
                    text.append(following or "\\")
                    quoted = True
                self._pos += 2
            elif c == "'":
                end = src.find("'", self._pos + 1)
                if end < 0:
                    raise _Unreadable
                text.append(src[self._pos + 1 : end])
                quoted = True
                self._pos = end + 1
            elif c == '"':
                literal = self._double_quoted(text) and literal
                quoted = True
            elif self._exit_status(text):
                pass
            elif c in "$`":
                self._skip_expansion()
                literal = False
            else:
                if c in "*?[]{}" or (c == "~" and self._pos == start):
                    literal = False
                text.append(c)
                self._pos += 1
        return _Word("".join(text), literal, quoted)

    def _double_quoted(self, text: list[str]) -> bool:
        src = self._src
        literal = True
        self._pos += 1
        while self._pos < len(src) and src[self._pos] != '"':
            c = src[self._pos]
            run = _QUOTED_RUN.match(src, self._pos)
            if run is not None:
                text.append(run.group())
                self._pos = run.end()
            elif c == "\\" and src[self._pos + 1 : self._pos + 2] in ("$", "`", '"', "\\", "\n"):
                if src[self._pos + 1] != "\n":
                    text.append(src[self._pos + 1])
                self._pos += 2
            elif self._exit_status(text):
                pass
            elif c in "$`":
                self._skip_expansion()
                literal = False
            else:
                text.append(c)
                self._pos += 1
        if self._pos >= len(src):
            raise _Unreadable
        self._pos += 1
        return literal

    def _exit_status(self, text: list[str]) -> bool:
        """Whether a `$?` standing for a known status is at the position (then taken, as its value)."""
        if self._status is None or not self._src.startswith("$?", self._pos):
            return False
        text.append(str(self._status))
        self._pos += 2
        return True

    def _skip_expansion(self) -> None:
        src = self._src
        if src[self._pos] == "`":
            self._skip_to_unescaped("`", self._pos + 1)
            return
        following = src[self._pos + 1 : self._pos + 2]
        if following == "(":
            self._pos += 2
            self._skip_command_substitution()
        elif following == "{":
            self._pos += 1
            depth = 0
            while self._pos < len(src):
                c = src[self._pos]
                self._pos += 2 if c == "\\" else 1
                depth += {"{": 1, "}": -1}.get(c, 0)
                if depth == 0:
                    return
            raise _Unreadable
        elif following == "'":
            self._skip_to_unescaped("'", self._pos + 2)
        else:
            name = _NAME.match(src, self._pos + 1)
            self._pos = name.end() if name else self._pos + 1

    def _skip_to_unescaped(self, quote: str, start: int) -> None:
        src = self._src
        i = start
        while i < len(src) and src[i] != quote:
            i += 2 if src[i] == "\\" else 1
        if i >= len(src):
            raise _Unreadable
        self._pos = i + 1

    def _skip_command_substitution(self) -> None:
        # A fresh shell context: read its tokens (quotes, here-documents, nested substitutions) up to the `)`
        # that closes it, so that a `)` inside them does not end it early.
        self._nesting += 1
        if self._nesting > _MAX_NESTING:
            raise _Unreadable
        depth = 1
        while (token := self._next()) is not None:
            if isinstance(token, _Op) and token.text in ("(", ")"):
                depth += 1 if token.text == "(" else -1
                if depth == 0:
                    self._nesting -= 1
                    return
        raise _Unreadable


def _escape(text: str, i: int) -> tuple[str, int] | None:
    """The character the escape at `text[i]` (a backslash) stands for, and where the text goes on."""
    char = _ESCAPES.get(text[i + 1 : i + 2])
    return None if char is None else (char, i + 2)


def _unescape(text: str) -> str | None:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            escaped = _escape(text, i)
            if escaped is None:
                return None
            char, i = escaped
            out.append(char)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _echo(args: list[str]) -> str | None:
    newline = True
    while args and args[0] == "-n":
        newline = False
        args = args[1:]
    if args and re.fullmatch(r"-[neE]+", args[0]):
        return None
    text = " ".join(args)
    if "\\" in text:
        return None
    return text + "\n" if newline else text


def _printf(args: list[str]) -> str | None:
    if not args or args[0].startswith("-"):
        return None
    fmt, rest = args[0], args[1:]
    out: list[str] = []
    size = 0
    while size <= MAX_OUTPUT_CHARS:
        used = 0
        i = 0
        while i < len(fmt):
            c = fmt[i]
            if c == "\\":
                escaped = _escape(fmt, i)
                if escaped is None:
                    return None
                piece, i = escaped
            elif c == "%":
                conversion = fmt[i + 1 : i + 2]
                if conversion == "%":
                    piece = "%"
                elif conversion in ("s", "b"):
                    arg = rest[used] if used < len(rest) else ""
                    used += 1
                    unescaped = _unescape(arg) if conversion == "b" else arg
                    if unescaped is None:
                        return None
                    piece = unescaped
                else:
                    return None
                i += 2
            else:
                piece = c
                i += 1
            out.append(piece)
            size += len(piece)
        rest = rest[used:]
        if not rest or used == 0:
            break
    return "".join(out)


def _printed(words: list[_Word]) -> str | None:
    if not all(w.literal for w in words):
        return None
    args = [w.text for w in words[1:]]
    if words[0].text == "echo":
        return _echo(args)
    if words[0].text == "printf":
        return _printf(args)
    return None


def _exit_status(args: list[_Word]) -> int:
    """The status `exit ARGS` ends a script with (see rule 5)."""
    if not args:
        return 0
    word = args[0]
    if not word.literal:
        return 0
    return int(word.text) % 256 if word.text.isdigit() else 2


_EXIT_CONDITIONS = frozenset({"EXIT", "0", "SIGEXIT"})


def _trap(args: list[_Word], action: str | None) -> str | None:
    """The EXIT trap's action after `trap ARGS`, from `action` before it ("": one that prints nothing)."""
    if args and args[0].text == "--":
        args = args[1:]
    if len(args) < 2 and not (args and args[0].text.isdigit()):
        return action  # `trap` alone lists the traps; `trap ACTION` with no condition is an error
    first = args[0]
    reset = first.text == "-" or first.text.isdigit()
    conditions = args[1:] if not first.text.isdigit() else args
    if not any(c.text in _EXIT_CONDITIONS for c in conditions):
        return action
    if reset:
        return None
    # An action that needs expanding would run, but what it prints cannot be known.
    return first.text if first.literal else ""


class Ran(NamedTuple):
    """What a script printed and the status it exited with."""

    output: str
    status: int


@dataclass(slots=True)
class _Commands:
    """The top-level commands of one script (or trap action) as they run."""

    printed: list[str]
    size: int = 0
    status: int | None = None
    on_exit: str | None = None

    def print(self, text: str) -> bool:
        """Add what a command printed; False once the output is as long as it may be."""
        self.printed.append(text)
        self.size += len(text)
        return self.size <= MAX_OUTPUT_CHARS

    def top_level(self, words: list[_Word], redirected: bool) -> bool:
        """Run a top-level command standing alone; False when the script ends there."""
        name = words[0].text
        if name == "exit":
            self.status = _exit_status(words[1:])
            return False
        if name == "trap":
            self.on_exit = _trap(words[1:], self.on_exit)
            return True
        text = None if redirected else _printed(words)
        return self.print(text) if text else True


def _commands(body: str, dollar_q: int | None = None) -> _Commands:
    done = _Commands([])
    blocks: list[str] = []
    words: list[_Word] = []
    alone = True
    redirected = False
    target_next = False
    function_name_next = False
    try:
        # The script's last command ends where the script does.
        for token in chain(_Lexer(body, dollar_q).tokens(), [_OPS["\n"]]):
            if isinstance(token, _Word):
                if target_next:
                    target_next = False
                elif function_name_next:
                    function_name_next = False
                elif not words and not token.quoted and token.text in _OPENERS:
                    blocks.append(_OPENERS[token.text])
                elif not words and not token.quoted and token.text in _CLOSERS:
                    if blocks and blocks[-1] == _CLOSERS[token.text]:
                        blocks.pop()
                elif not words and not token.quoted and token.text in _PREFIXES:
                    alone = False
                elif not words and not token.quoted and token.text == "function":
                    function_name_next = True
                else:
                    words.append(token)
                continue
            if token.text in _REDIRECTIONS:
                redirected = target_next = True
                continue
            ends_alone = token.text in ("\n", ";")
            if words and alone and ends_alone and not blocks and not done.top_level(words, redirected):
                break
            if token.text == "(":
                blocks.append("(")
            elif token.text == ")" and blocks and blocks[-1] == "(":
                blocks.pop()
            words = []
            alone = ends_alone
            redirected = target_next = False
    except _Unreadable:
        pass
    return done


def run(script: str) -> Ran:
    """What the `#!` script `script` prints to the console under the module's rule, and its exit status."""
    first, _, body = script.partition("\n")
    if not is_shell_script(first):
        return Ran("", 0)
    done = _commands(body)
    status = done.status if done.status is not None else 0
    printed = done.printed
    if done.on_exit and done.size <= MAX_OUTPUT_CHARS:
        action = _commands(done.on_exit, status)
        printed = [*printed, *action.printed]
        # `exit` inside the EXIT trap's action is the one way it changes the status.
        status = action.status if action.status is not None else status
    return Ran("".join(printed)[:MAX_OUTPUT_CHARS], status)


def output(script: str) -> str:
    """What the `#!` script `script` prints to the console under the module's rule."""
    return run(script).output
