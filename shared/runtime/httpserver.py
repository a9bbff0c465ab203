"""The HTTP server every service runs: uvicorn with httptools, plus a deadline per request
and a limit on the size of its headers.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but waits forever for
a request that has begun and does not finish: a client that sends half its headers, or a
body slower than it announced, holds a connection (and a file descriptor) as long as it
likes. :class:`TimelyHttpProtocol` gives every request ``request_timeout_s`` from its first
byte (or from the connection's opening) until its last byte; a request not complete by
then has its connection closed. Headers larger than ``MAX_HEADER_BYTES`` are answered 431.
httptools (a C parser) rather than h11 (pure Python): the parser is a large share of a
request's CPU time (measured in the pipeline benchmark, docs/BENCHMARKS.md). What a
reverse proxy must still do in front (TLS, its own header/body timeouts, connection and
rate limits): docs/security.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 5
MAX_HEADER_BYTES = 16 * 1024
TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
             b"content-length: 33\r\nconnection: close\r\n\r\nrequest header fields too large\r\n")


class TimelyHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request does not arrive in
    time and refusing oversized headers."""

    request_timeout_s: float = 30.0
    _deadline: asyncio.TimerHandle | None = None
    _headers_done = False
    _header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is a slow request too

    def data_received(self, data: bytes) -> None:
        if not self._headers_done:
            self._header_bytes += len(data)
        super().data_received(data)
        if not self._headers_done and self._header_bytes > MAX_HEADER_BYTES \
                and not self.transport.is_closing():
            self.transport.write(TOO_LARGE)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm()  # the next request on a kept-alive connection has begun

    def on_headers_complete(self) -> None:
        self._headers_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._headers_done = False  # the next request's headers are counted afresh
        self._header_bytes = 0
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.request_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.info("http: closed a connection from %s whose request did not arrive within "
                 "%.0f s", self.client[0] if self.client else "?", self.request_timeout_s)
        self.transport.close()


def timely_protocol(request_timeout_s: float) -> type[TimelyHttpProtocol]:
    """The protocol class with this deadline (uvicorn instantiates the class itself)."""
    return type("TimelyHttpProtocol", (TimelyHttpProtocol,),
                {"request_timeout_s": request_timeout_s})


def server_config(app: Any, host: str, port: int, *, request_timeout_s: float,
                  keep_alive_s: int = KEEP_ALIVE_S,
                  trusted_proxies: Sequence[str] = ()) -> uvicorn.Config:
    """The uvicorn configuration of every ticketcore HTTP server. ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` count only from ``trusted_proxies`` (addresses or networks): then
    the client is the one the proxy names, for rate limits, throttling and Secure cookies;
    from anyone else (and by default from everyone) they are ignored."""
    return uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                          server_header=False, http=timely_protocol(request_timeout_s),
                          timeout_keep_alive=keep_alive_s,
                          proxy_headers=bool(trusted_proxies),
                          forwarded_allow_ips=list(trusted_proxies) or None)
