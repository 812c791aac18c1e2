"""The HTTP protocol every service serves: uvicorn's httptools protocol, except that a request it cannot parse (a
header line that is not one, an empty Content-Length) is refused in the problem JSON every other refusal has.

uvicorn answers those before any app sees them, in plain text; a client, and the API's own schema, expect one shape
of error from every route.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from kernel.errors import BadRequest, problem_from_error

_MALFORMED = BadRequest("The request is not valid HTTP/1.1: a request line or header that cannot be parsed.")
_BODY = json.dumps(problem_from_error(_MALFORMED), separators=(",", ":")).encode()


class ProblemHttpTools(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        # uvicorn's own answer but for its body: the connection still closes, as nothing after the error can be read.
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: application/problem+json\r\n",
                b"content-length: " + str(len(_BODY)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
            ]
        )
        self.transport.write(b"".join(head) + _BODY)
        self.transport.close()


__all__ = ["ProblemHttpTools"]
