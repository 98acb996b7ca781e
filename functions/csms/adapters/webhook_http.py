"""Posting webhooks over HTTP (urllib3, which botocore already ships) and resolving hosts.

No redirect is followed (a redirect could lead to an address the checks refused) and nothing
is retried here: the queue's schedule retries. The answer's body is not read beyond a little,
so a receiver cannot make the sender hold a large response.
"""

from __future__ import annotations

import socket
import time

import urllib3

from csms.domain.webhooks import AttemptResult

_USER_AGENT = "csms-webhooks/1"
# Enough of an error answer to log its cause; the rest is discarded.
_MAX_READ = 1024


class UrllibWebhookSender:
    """POSTs a signed JSON body with a timeout; never raises for the network or the receiver."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout_s, 5.0), read=timeout_s),
            retries=False,
        )

    def post(self, url: str, body: str, headers: dict[str, str]) -> AttemptResult:
        """Send one request; its status code, or what went wrong, and how long it took."""
        started = time.monotonic()
        try:
            response = self._http.request(
                "POST",
                url,
                body=body.encode(),
                headers={
                    "content-type": "application/json",
                    "user-agent": _USER_AGENT,
                    **headers,
                },
                redirect=False,
                preload_content=False,
            )
            try:
                response.read(_MAX_READ)
            finally:
                response.release_conn()
            status: int | None = response.status
            error = None
        except urllib3.exceptions.NewConnectionError:
            # (A subclass of the connect timeout in urllib3: told apart first.)
            status, error = None, "connection failed: refused or unreachable"
        except urllib3.exceptions.TimeoutError:
            status, error = None, "timeout"
        except urllib3.exceptions.HTTPError as exc:
            status, error = None, f"connection failed: {type(exc).__name__}"
        return AttemptResult(status, error, int((time.monotonic() - started) * 1000))


class SocketHostResolver:
    """The addresses a host name resolves to (every one is checked, not only the first)."""

    def resolve(self, host: str) -> list[str]:
        """The host's addresses; empty when it does not resolve."""
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            return []
        return sorted({str(info[4][0]) for info in infos})
