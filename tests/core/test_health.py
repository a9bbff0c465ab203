"""Health for orchestrators, over real HTTP against a real nats-server: ``/health/live``,
``/health/ready`` and the ``/health`` report, also while NATS is away (then every answer
comes at once, instead of after each consumer's 10 s request timeout), and never with the
credentials of the NATS URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from shared.adapters.natsserver import EmbeddedNats
from shared.runtime.app import running_system
from shared.runtime.health import CHECK_TIMEOUT_S
from shared.settings import Settings
from tests.support import SmtpSink, serve_app

# Only a hang guard: a report that waited for the consumers' own request timeouts (10 s
# each, one after the other: ack has three) would run into it.
HANG_GUARD_S = 20.0


def with_smtp(settings: Settings, sink: SmtpSink) -> Settings:
    return settings.model_copy(update={"smtp": settings.smtp.model_copy(update={
        "host": "127.0.0.1", "port": sink.port, "security": "none"})})


async def test_ack_is_live_and_ready_and_says_so_at_once_when_nats_is_away(
        settings: Settings, smtp_sink: SmtpSink, nats_server: EmbeddedNats) -> None:
    async with running_system(with_smtp(settings, smtp_sink), ("ack",)) as system, \
            serve_app(system.http_app()) as base, \
            httpx.AsyncClient(base_url=base, timeout=HANG_GUARD_S) as http:
        ready, live, report = (await http.get("/health/ready"), await http.get("/health/live"),
                               await http.get("/health"))
        assert (ready.status_code, live.status_code, report.status_code) == (200, 200, 200)
        assert report.json()["ready"] and report.json()["log"] == {"ok": True}
        assert set(report.json()["services"]["ack"]) == {
            "ack-receipts", "ack-notices", "ack-conversation"}

        nats_server.stop()
        ready, live, report = (await http.get("/health/ready"), await http.get("/health/live"),
                               await http.get("/health"))
        assert ready.status_code == 503 and ready.headers["Retry-After"]
        assert "NATS: not connected" in ready.json()["problems"]
        assert live.status_code == 200  # a restart would not bring NATS back
        assert report.status_code == 503 and report.json()["status"] == "degraded"
        consumers = report.json()["services"]["ack"]
        assert all("error" in lag for lag in consumers.values()), consumers

        nats_server.start()  # back: ready again once the client reconnected
        for _ in range(200):
            if (await http.get("/health/ready")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert (await http.get("/health/ready")).status_code == 200
    assert CHECK_TIMEOUT_S < HANG_GUARD_S / 6


async def test_intake_is_not_ready_while_its_log_does_not_answer(
        settings: Settings, nats_server: EmbeddedNats) -> None:
    """Intake runs no consumers; ready means it can store: the log answers."""
    async with running_system(settings, ("intake",)) as system, \
            serve_app(system.http_app()) as base, \
            httpx.AsyncClient(base_url=base, timeout=HANG_GUARD_S) as http:
        assert (await http.get("/health/ready")).status_code == 200
        nats_server.stop()
        ready = await http.get("/health/ready")
        health = await http.get("/health")
        nats_server.start()
    assert ready.status_code == 503
    assert any(p.startswith("log:") for p in ready.json()["problems"]), ready.json()
    assert health.status_code == 503 and health.json()["log"]["ok"] is False


async def test_health_never_shows_the_credentials_of_the_nats_url(
        settings: Settings, nats_server: EmbeddedNats, tmp_path: Path) -> None:
    port = nats_server.url.rsplit(":", 1)[1]
    url = f"nats://someone:s3cret-password@127.0.0.1:{port},nats://tok3n@127.0.0.1:{port}"
    with_password = settings.model_copy(update={"nats": settings.nats.model_copy(
        update={"url": url})})
    async with running_system(with_password, ("intake",)) as system, \
            serve_app(system.http_app()) as base, \
            httpx.AsyncClient(base_url=base, timeout=HANG_GUARD_S) as http:
        report = await http.get("/health")
    assert report.status_code == 200
    assert "s3cret" not in report.text and "tok3n" not in report.text
    assert "someone" not in report.text
    assert report.json()["nats"]["url"] == (f"nats://127.0.0.1:{port},"
                                            f"nats://127.0.0.1:{port}")
