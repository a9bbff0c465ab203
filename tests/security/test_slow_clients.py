"""Finding 8: a request whose headers or body do not arrive in time is closed by the server
(shared.runtime.httpserver), while complete requests are answered as always."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI, Request

from tests.support import serve_app

GENEROUS_S = 30.0  # the server's deadline is 1 s; this bound only stops a hanging test


def app() -> FastAPI:
    api = FastAPI()

    @api.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return api


async def closed_by_server(base_url: str, first_bytes: bytes) -> bool:
    """Send ``first_bytes`` and nothing more; True once the server closes the connection
    (False if it answered instead, or never closed within the generous bound)."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(first_bytes)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), GENEROUS_S)
        return answer == b""
    except TimeoutError:
        return False
    finally:
        writer.close()


async def test_half_sent_headers_body_or_nothing_get_the_connection_closed() -> None:
    async with serve_app(app(), request_timeout_s=1.0) as base:
        half_headers = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le"
        half_body = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 100\r\n\r\n" + b"x" * 10)
        results = await asyncio.gather(closed_by_server(base, half_headers),
                                       closed_by_server(base, half_body),
                                       closed_by_server(base, b""))
        assert results == [True, True, True]
        # Whole requests, also a second one on the same kept-alive connection, are answered.
        async with httpx.AsyncClient(base_url=base) as client:
            for size in (0, 5000):
                answer = await client.post("/echo", content=b"y" * size)
                assert answer.json() == {"bytes": size}


async def test_oversized_headers_are_refused_with_431() -> None:
    async with serve_app(app(), request_timeout_s=5.0) as base:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 20_000)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), GENEROUS_S)
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 431 ")
        async with httpx.AsyncClient(base_url=base) as client:  # normal headers still pass
            answer = await client.post("/echo", content=b"z", headers={"X-Small": "s" * 2000})
            assert answer.json() == {"bytes": 1}
