"""Finding 1: no secret at a published default. ``serve`` refuses to start without its
secrets, naming each; ``up`` creates random ones in the data folder (0600) and reuses them;
a cookie signed with the old published default opens nothing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.runtime.auth import session_cookie_value
from shared.runtime.secrets import SECRETS_FILE, ensure_secrets, require_secrets
from shared.runtime.signing import SESSION, sign_expiring
from shared.settings import ConfigurationError, Settings, load_settings
from tests.oncall.conftest import TOKENS, new_case
from tests.security.conftest import web_system

TICKETCORE = str(Path(sys.executable).parent / "ticketcore")
OLD_DEFAULT = "change-me-in-production-0123456789"


def serve(service: str, tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETCORE_")}
    # A NATS URL nobody listens on: the start must stop before it is ever tried.
    env |= {"TICKETCORE_NATS__URL": "nats://127.0.0.1:9", "TICKETCORE_DATA_DIR": str(tmp_path),
            "TICKETCORE_NATS__CONNECT_TIMEOUT_S": "1", **variables}
    return subprocess.run([TICKETCORE, "serve", service], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)


@pytest.mark.slow
def test_serve_refuses_to_start_without_a_secret_and_names_it(tmp_path: Path) -> None:
    result = serve("intake", tmp_path)
    assert result.returncode == 2, result.stderr
    assert "TICKETCORE_SECRET_KEY: not set" in result.stderr


@pytest.mark.slow
def test_serve_refuses_the_published_defaults(tmp_path: Path) -> None:
    result = serve("oncall", tmp_path, TICKETCORE_SECRET_KEY=OLD_DEFAULT,
                   TICKETCORE_ONCALL__WEBHOOK_SECRET="change-me-webhook-secret")
    assert result.returncode == 2, result.stderr
    assert "TICKETCORE_SECRET_KEY: is a published default" in result.stderr
    assert "TICKETCORE_ONCALL__WEBHOOK_SECRET: is a published default" in result.stderr


def test_each_service_needs_only_its_own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    settings = load_settings(secret_key="a-real-random-secret-0f3c9a")
    require_secrets(settings, ("intake", "billing"))  # no webhooks there
    with pytest.raises(ConfigurationError, match="TICKETCORE_ONCALL__WEBHOOK_SECRET: not set"):
        require_secrets(settings, ("oncall",))


def test_up_creates_private_random_secrets_once_and_reuses_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    first = ensure_secrets(load_settings(data_dir=tmp_path))
    path = tmp_path / SECRETS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    require_secrets(first, ("intake", "ack", "oncall", "billing"))
    assert first.secret_key != first.oncall.webhook_secret
    again = ensure_secrets(load_settings(data_dir=tmp_path))
    assert (again.secret_key, again.oncall.webhook_secret) == (
        first.secret_key, first.oncall.webhook_secret)
    assert json.loads(path.read_text())["TICKETCORE_SECRET_KEY"] == first.secret_key
    # A secret set by the operator wins over the file.
    chosen = ensure_secrets(load_settings(data_dir=tmp_path,
                                          secret_key="operator-chosen-secret-77ab"))
    assert chosen.secret_key == "operator-chosen-secret-77ab"
    assert chosen.oncall.webhook_secret == first.oncall.webhook_secret


async def test_a_cookie_signed_with_the_old_default_opens_nothing(
        web_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigurationError, match="TICKETCORE_SECRET_KEY: is a published"):
        async with web_system(web_settings(secret_key=OLD_DEFAULT), ("billing",)):
            pass
    # Started as `up` starts it: without a configured secret.
    async with web_system(ensure_secrets(web_settings(secret_key="")),
                          ("oncall", "billing")) as (_, http):
        expiry = int(time.time()) + 3600
        forgeries = [  # the cookie format of the finding, and today's
            f"anna.{expiry}.{sign_expiring(OLD_DEFAULT, SESSION, expiry, 'anna')}",
            session_cookie_value(OLD_DEFAULT, "anna", "some-session")]
        case = new_case()
        for forged in ({"tc_session": value} for value in forgeries):
            for path in (f"/api/tickets/{case}/billing", f"/api/oncall/tickets/{case}"):
                assert (await http.get(path, cookies=forged)).status_code == 401
                token = {"Authorization": f"Bearer {TOKENS['anna']}"}
                assert (await http.get(path, headers=token)).status_code == 404
            console = await http.get("/console", cookies=forged)
            assert console.status_code == 303
            assert console.headers["location"] == "/console/login"
