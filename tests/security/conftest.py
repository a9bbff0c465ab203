"""The whole web surface as an attacker meets it: intake, oncall (with the console) and
billing in one app, served over real HTTP, against a real nats-server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.adapters.natsserver import EmbeddedNats
from shared.runtime.app import RunningSystem, running_system
from shared.settings import Settings, load_settings
from tests.conftest import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET
from tests.oncall.conftest import write_accounts, write_rota
from tests.support import SmtpSink, serve_app

SERVICES = ("intake", "oncall", "billing")


@pytest.fixture
def web_settings(tmp_path: Path, nats_server: EmbeddedNats, smtp_sink: SmtpSink,
                 monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Settings of the web test system; keyword arguments override top-level settings."""
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    accounts = write_accounts(tmp_path / "accounts.toml")
    rota = write_rota(tmp_path / "rota.toml")

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data", "nats": {"url": nats_server.url},
            "http": {"port": 0}, "inbound_mail": {"smtp_port": 0},
            "smtp": {"host": "127.0.0.1", "port": smtp_sink.port, "security": "none"},
            "accounts_file": accounts, "secret_key": TEST_SECRET_KEY,
            "oncall": {"rota_file": rota, "webhook_secret": TEST_WEBHOOK_SECRET}}
        return load_settings(**(values | overrides))

    return build


@contextlib.asynccontextmanager
async def web_system(settings: Settings, services: tuple[str, ...] = SERVICES
                     ) -> AsyncIterator[tuple[RunningSystem, httpx.AsyncClient]]:
    """The services running and served over real HTTP, with a client for them."""
    async with running_system(settings, services) as system, \
            serve_app(system.http_app()) as base, \
            httpx.AsyncClient(base_url=base, timeout=30, follow_redirects=False) as http:
        yield system, http
