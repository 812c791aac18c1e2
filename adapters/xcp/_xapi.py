"""A typed door onto XenAPI's untyped `Session`: one session, one call at a time, errors translated on the way out.

XenAPI's `Session` is an `xmlrpc.client.ServerProxy`, whose transport keeps one HTTP connection and is not safe to
use from two threads at once, so calls are serialised by a lock; the adapter runs them in worker threads.
On `SESSION_INVALID` (xapi restarted, the session expired) XenAPI's request loop logs in again with the same
credentials and retries the call.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import XenAPI

from adapters.base import guarded
from adapters.xcp import _errors

ORIGINATOR = "clanavi"
API_VERSION = "2.0"


class Xapi:
    def __init__(self, url: str, *, ignore_ssl: bool = False) -> None:
        self._session: Any = XenAPI.Session(url, ignore_ssl=ignore_ssl)
        self._lock = threading.Lock()
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
