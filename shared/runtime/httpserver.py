"""The HTTP server every service runs: uvicorn with h11, plus a deadline per request.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but waits forever for
a request that has begun and does not finish: a client that sends half its headers, or a
body slower than it announced, holds a connection (and a file descriptor) as long as it
likes. :class:`TimelyH11Protocol` gives every request ``request_timeout_s`` from its first
byte (or from the connection's opening) until its last byte; a request not complete by
then has its connection closed. h11 itself limits the size of the headers
(``h11_max_incomplete_event_size``). What a reverse proxy must still do in front (TLS,
its own header/body timeouts, connection and rate limits): docs/security.md.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 5
MAX_HEADER_BYTES = 16 * 1024
# h11 states in which the client has nothing more to send for this request.
_REQUEST_OVER = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


class TimelyH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request does not arrive in time."""

    request_timeout_s: float = 30.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is a slow request too

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in _REQUEST_OVER:
            self._disarm()
        elif self._deadline is None and self.conn.their_state != h11.IDLE:
            self._arm()  # the next request on a kept-alive connection has begun

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
        if self.conn.their_state in _REQUEST_OVER or self.transport.is_closing():
            return
        log.info("http: closed a connection from %s whose request did not arrive within "
                 "%.0f s", self.client[0] if self.client else "?", self.request_timeout_s)
        self.transport.close()


def timely_protocol(request_timeout_s: float) -> type[TimelyH11Protocol]:
    """The protocol class with this deadline (uvicorn instantiates the class itself)."""
    return type("TimelyH11Protocol", (TimelyH11Protocol,),
                {"request_timeout_s": request_timeout_s})


def server_config(app: Any, host: str, port: int, *, request_timeout_s: float,
                  keep_alive_s: int = KEEP_ALIVE_S) -> uvicorn.Config:
    """The uvicorn configuration of every ticketcore HTTP server."""
    return uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                          server_header=False, http=timely_protocol(request_timeout_s),
                          timeout_keep_alive=keep_alive_s,
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES)
