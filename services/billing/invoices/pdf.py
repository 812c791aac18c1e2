"""A minimal PDF 1.4 document of text lines (Helvetica, A4, as many pages as the lines need), written by hand: no
PDF library is at hand, and an invoice needs none of what one offers. No I/O."""

from __future__ import annotations

from collections.abc import Sequence

_WIDTH, _HEIGHT = 595, 842
_MARGIN = 56
_LEADING = 14
_LINES_A_PAGE = (_HEIGHT - 2 * _MARGIN) // _LEADING


def _escaped(line: str) -> str:
    # Helvetica's standard encoding covers Latin-1 here; anything else is shown as "?".
    text = line.encode("latin-1", "replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def document(lines: Sequence[str], *, title: str = "") -> bytes:
    """The lines as a PDF 1.4 file: a catalog, a page tree, one page and content stream per page, one font, an
    info dictionary with the title, and a cross-reference table with the byte offset of every object."""
    pages = [lines[i : i + _LINES_A_PAGE] for i in range(0, len(lines), _LINES_A_PAGE)] or [[]]
    font = 3
    first_page = 4
    info = first_page + 2 * len(pages)
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{first_page + 2 * n} 0 R".encode() for n in range(len(pages)))
        + f"] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for n, page in enumerate(pages):
        content_id = first_page + 2 * n + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_WIDTH} {_HEIGHT}] "
            f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content_id} 0 R >>".encode()
        )
        text = [f"BT /F1 10 Tf {_LEADING} TL {_MARGIN} {_HEIGHT - _MARGIN} Td"]
        text += [f"({_escaped(line)}) '" for line in page]
        text.append("ET")
        stream = "\n".join(text).encode("latin-1")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    objects.append(f"<< /Title ({_escaped(title)}) /Producer (Clanavi) >>".encode("latin-1"))
    assert len(objects) == info
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


__all__ = ["document"]
