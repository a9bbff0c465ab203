"""The pipeline benchmark's own parts: the lean SMTP sink (spoken to by aiosmtplib, as the
ack service's mailer does) and the keep-alive HTTP client (against a real uvicorn)."""

from __future__ import annotations

import asyncio
import sys
from email.message import EmailMessage

import aiosmtplib
from fastapi import FastAPI, Request

from benchmarks.http_client import ConnectionPool
from shared.adapters.natsserver import free_port
from tests.support import serve_app


def mail(case: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[SA#{case}] Drucker druckt nicht"
    message["From"], message["To"] = "auftrag@msp.example", "kunde@example.de"
    message.set_content(body)
    return message


async def test_the_sink_accepts_mails_on_one_connection_and_reports_each_case() -> None:
    port = free_port()
    sink = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.smtp_sink", "--port", str(port),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert sink.stdout is not None and sink.stdin is not None
    try:
        assert (await sink.stdout.readline()).strip() == b"ready"
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=5)
        await client.connect()
        # A line with a lone dot is dot-stuffed by the client and must not end the message.
        for case, body in (("111", "erste\n.\nZeile"), ("222", "x" * 100_000)):
            errors, answer = await client.send_message(mail(case, body))
            assert errors == {} and answer == "Message accepted for delivery"
        await client.quit()
        lines = [(await sink.stdout.readline()).split() for _ in range(2)]
        assert [case for case, _ in lines] == [b"111", b"222"]
        assert all(float(accepted) > 0 for _, accepted in lines)
    finally:
        sink.stdin.close()
        await asyncio.wait_for(sink.wait(), 10)


async def closed_by_the_server(pool: ConnectionPool, timeout_s: float = 15.0) -> bool:
    """True once the pool's one connection has seen the server's close (EOF)."""
    [connection] = pool._all
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        streams = connection._streams
        if streams is not None and streams[0].at_eof():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_the_client_reuses_connections_and_survives_the_servers_keep_alive_timeout(
        ) -> None:
    app = FastAPI()
    seen: list[tuple[int, str | None]] = []  # (client port: which connection, key)

    @app.post("/api/requests", status_code=201)
    async def create(request: Request) -> dict[str, object]:
        assert request.client is not None
        seen.append((request.client.port, request.headers.get("idempotency-key")))
        return {"case_number": str(len(seen)), "echo": await request.json()}

    async with serve_app(app, keep_alive_s=1) as base_url:
        pool = ConnectionPool(base_url, 1)
        try:
            first = await pool.post_json("/api/requests", b'{"n": 1}', None)
            assert (first.status, first.json()) == (201, {"case_number": "1",
                                                           "echo": {"n": 1}})
            again = await pool.post_json("/api/requests", b'{"n": 2}', None)
            assert again.json() == {"case_number": "2", "echo": {"n": 2}}
            # The server closes the idle connection after its keep-alive timeout (1 s):
            # wait for that close to arrive rather than sleeping a guessed time.
            assert await closed_by_the_server(pool)
            late = await pool.post_json("/api/requests", b'{"n": 3}', "key-3")
            assert late.status == 201 and late.json() == {"case_number": "3",
                                                          "echo": {"n": 3}}
        finally:
            await pool.close()
    ports = [port for port, _ in seen]
    assert ports[0] == ports[1] != ports[2]  # kept alive, then a new connection
    assert [key for _, key in seen] == [None, None, "key-3"]
