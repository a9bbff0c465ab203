"""A lean HTTP/1.1 client for the load generator: keep-alive connections, requests written
as prepared bytes, answers read by Content-Length.

The pipeline benchmark first used httpx; measured with ``ps`` during the throughput phase it
took more CPU than the whole system it was loading (0.79 against 0.58 of a core), on the same
two cores. This client does what the benchmark needs and nothing else (no redirects, no
cookies, no TLS, no chunked bodies), which leaves the CPU to the system under test.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import msgspec

MAX_HEAD = 64 * 1024


class HttpProtocolError(RuntimeError):
    """The server answered with something this client does not read (e.g. a chunked body)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> object:
        return msgspec.json.decode(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post_json(self, path: str, body: bytes, idempotency_key: str | None) -> Answer:
        """POST ``body``. With an Idempotency-Key it is sent again once on a new connection
        when a reused one turns out closed by the server (its keep-alive timeout); without
        one the failure is the caller's (a POST is not repeated blindly)."""
        key = f"Idempotency-Key: {idempotency_key}\r\n" if idempotency_key else ""
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
                f"{key}Content-Length: {len(body)}\r\n\r\n").encode()
        reused = self._streams is not None
        try:
            return await self._exchange(head + body)
        except (OSError, asyncio.IncompleteReadError):
            if not (reused and idempotency_key):
                raise
            return await self._exchange(head + body)

    async def _exchange(self, request: bytes) -> Answer:
        reader, writer = await self._open()
        try:
            writer.write(request)
            return await self._read_answer(reader)
        except (OSError, asyncio.IncompleteReadError, HttpProtocolError):
            self.close()
            raise

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is not None and self._streams[0].at_eof():
            self.close()  # closed by the server while idle
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        return self._streams

    async def _read_answer(self, reader: asyncio.StreamReader) -> Answer:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEAD:
            raise HttpProtocolError("answer head too large")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise HttpProtocolError(f"answer without Content-Length: {headers}")
        body = await reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, body)

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class ConnectionPool:
    """Up to ``size`` keep-alive connections; a request waits for a free one."""

    def __init__(self, base_url: str, size: int) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"need http://host:port, not {base_url!r}")
        self._all = [Connection(parts.hostname, parts.port) for _ in range(size)]
        self._free: asyncio.Queue[Connection] = asyncio.Queue()
        for connection in self._all:
            self._free.put_nowait(connection)

    async def post_json(self, path: str, body: bytes, idempotency_key: str | None) -> Answer:
        connection = await self._free.get()
        try:
            return await connection.post_json(path, body, idempotency_key)
        finally:
            self._free.put_nowait(connection)

    async def close(self) -> None:
        for connection in self._all:
            with contextlib.suppress(OSError):
                connection.close()
