"""A typed door onto XenAPI's untyped `Session`: one session, one call at a time, errors translated on the way out.

XenAPI's `Session` is an `xmlrpc.client.ServerProxy`, whose transport keeps one HTTP connection and is not safe to
use from two threads at once, so calls are serialised by a lock; the adapter runs them in worker threads.
On `SESSION_INVALID` (xapi restarted, the session expired) XenAPI's request loop logs in again with the same
credentials and retries the call.

Some of what xapi knows is served over plain HTTP beside XML-RPC (xcp-rrdd's `/rrd_updates`): `get` asks for it
with this session, as xapi's HTTP handlers take it (`session_id` in the query), from the pool master or from the
host a VM runs on.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.parse
from collections.abc import Sequence
from typing import Any, cast

import XenAPI

from adapters.base import guarded, translating
from adapters.xcp import _errors

ORIGINATOR = "clanavi"
API_VERSION = "2.0"
HTTP_TIMEOUT_SECONDS = 60.0


class Xapi:
    def __init__(self, url: str, *, ignore_ssl: bool = False) -> None:
        self._session: Any = XenAPI.Session(url, ignore_ssl=ignore_ssl)
        self._lock = threading.Lock()
        self._url = urllib.parse.urlsplit(url)
        self._tls = ssl.create_default_context()
        if ignore_ssl:
            self._tls.check_hostname = False
            self._tls.verify_mode = ssl.CERT_NONE
        self.logged_in = False

    def login(self, username: str, password: str) -> None:
        with self._lock:
            guarded(
                _errors,
                "session.login_with_password",
                self._session.login_with_password,
                username,
                password,
                API_VERSION,
                ORIGINATOR,
            )
            self.logged_in = True

    def logout(self) -> None:
        """End the session (when there is one) and close the HTTP connection the transport keeps open."""
        with self._lock:
            try:
                if self.logged_in:
                    self.logged_in = False
                    guarded(_errors, "session.logout", self._session.xenapi.session.logout)
            finally:
                self._session("close")()  # ServerProxy's way to close its transport

    def call(self, method: str, *args: object) -> Any:
        """`method` ("VM.start", ...) with the session reference put first, as every XAPI call takes it."""
        with self._lock:
            return guarded(_errors, method, self._session.xenapi_request, method, args)

    def record(self, cls: str, ref: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.call(f"{cls}.get_record", ref))

    def records(self, cls: str) -> dict[str, dict[str, Any]]:
        return cast(dict[str, dict[str, Any]], self.call(f"{cls}.get_all_records"))

    def get(self, path: str, query: Sequence[tuple[str, str]], address: str | None = None) -> tuple[bytes, str | None]:
        """GET `path` with `query` (which names the session as `session_id`: see `handle`) from the pool master, or
        from the host at `address` (reached as the master is, by https or http on their default port); the body and
        its content type. An answer other than 200 raises `_errors.HttpRefused` with its status: the URL holds the
        session, so neither it nor what came back is put in the error."""
        scheme = self._url.scheme
        if address is None:
            host, port = self._url.hostname or "", self._url.port
        else:
            host, port = address, None
        target = f"{path}?{urllib.parse.urlencode(list(query))}"
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=HTTP_TIMEOUT_SECONDS, context=self._tls)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT_SECONDS)
        with translating(_errors, f"GET {path}"):
            try:
                # XML unless told otherwise: newer xapi answers JSON to a client that accepts anything.
                connection.request("GET", target, headers={"Accept": "text/xml", "User-Agent": ORIGINATOR})
                answer = connection.getresponse()
                body = answer.read()
            finally:
                connection.close()
            if answer.status != http.client.OK:
                raise _errors.HttpRefused(answer.status)
            return body, answer.getheader("Content-Type")

    @property
    def handle(self) -> str:
        """This session's reference, as xapi's HTTP handlers take it; XenAPI logs in again on a call that finds it
        expired, so it is read after one."""
        with self._lock:
            return str(self._session.handle)
