"""SimCloud reads MIME user data to the same parts as the standard library's `email` package (cloud-init's reader),
whether the plain form is split directly or anything else is left to `email`."""

from __future__ import annotations

import email
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from adapters.simcloud import multipart
from services.provisioner.templates.boot import BootPart
from services.provisioner.templates.boot import multipart as clanavi_multipart

SHELL = "#!/bin/sh\nset -eu\necho 'ready on web-1'\n"
CONFIG = "#cloud-config\nusers:\n  - default\n"


def by_email(data: str) -> list[multipart.Part]:
    found = []
    for part in email.message_from_string(data).walk():
        if part.get_content_maintype() == "multipart":
            continue
        payload = part.get_payload(decode=True)
        decoded = payload if isinstance(payload, bytes) else None
        found.append(multipart.Part(part.get_content_type(), part.get_filename(), decoded))
    return found


def clanavi(*bodies: str) -> str:
    parts = [BootPart(f"{n:02d}-script-v1", body) for n, body in enumerate(bodies, start=1)]
    return clanavi_multipart(parts).decode()


def stdlib(*bodies: str, named: bool = True) -> str:
    message = MIMEMultipart()
    for n, body in enumerate(bodies, start=1):
        part = MIMEText(body, "cloud-config" if body.startswith("#cloud-config") else "x-shellscript")
        if named:
            part.add_header("Content-Disposition", "attachment", filename=f"part-{n}.sh")
        message.attach(part)
    return message.as_string()


PLAIN = {
    "a launch's boot scripts (its Content-Type header folded)": clanavi(SHELL, CONFIG, SHELL + "exit 3\n"),
    "one part": clanavi(SHELL),
    "bodies without a final newline, or empty": clanavi("#!/bin/sh\necho a", "", "\n\n"),
    "a long file name folds its header": clanavi_multipart([BootPart("a" * 64, SHELL)]).decode(),
    "the standard library's own writing": stdlib(SHELL, CONFIG),
}


@pytest.mark.parametrize("data", PLAIN.values(), ids=PLAIN.keys())
def test_the_plain_form_is_split_directly_to_what_email_reads(data: str) -> None:
    assert multipart._plain(data) is not None
    assert multipart.parts(data) == by_email(data)


def with_delimiter_inside_a_line() -> str:
    data = clanavi("#!/bin/sh\necho x\n")
    boundary = data.split('boundary="', 1)[1].split('"', 1)[0]
    return data.replace("echo x", f"echo x--{boundary}y", 1)


OTHER = {
    "no parts": clanavi(),
    "text in a body": clanavi("#!/bin/sh\necho 'café'\n"),
    "CRLF line ends": clanavi(SHELL).replace("\n", "\r\n"),
    "a preamble": clanavi(SHELL).replace("\n\n--", "\n\nThis is a multi-part message.\n--", 1),
    "an epilogue": clanavi(SHELL) + "trailing words\n",
    "base64": stdlib(SHELL).replace("Content-Transfer-Encoding: 7bit", "Content-Transfer-Encoding: base64"),
    "a part without a file name": stdlib(SHELL, named=False),
    "a header of another kind": clanavi(SHELL).replace("7bit\n", "7bit\nX-Note: 1\n", 1),
    "the delimiter inside a line of a body": with_delimiter_inside_a_line(),
    "a nested multipart": stdlib(SHELL).replace("text/x-shellscript", "multipart/mixed", 1),
    "not MIME at all": SHELL,
}


@pytest.mark.parametrize("data", OTHER.values(), ids=OTHER.keys())
def test_anything_else_is_left_to_email(data: str) -> None:
    assert multipart._plain(data) is None
    assert multipart.parts(data) == by_email(data)


def test_a_launchs_parts_keep_their_order_names_and_bodies() -> None:
    found = multipart.parts(clanavi(SHELL, CONFIG))
    assert found == [
        multipart.Part("text/x-shellscript-per-instance", "01-script-v1", SHELL.encode()),
        multipart.Part("text/cloud-config", "02-script-v1", CONFIG.encode()),
    ]
