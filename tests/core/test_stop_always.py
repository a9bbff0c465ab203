"""Stop always: SIGTERM and SIGINT end a service in every state (while it connects, while
it waits for the streams to be provisioned, while it serves, while NATS is away and it
reconnects), and `up` checks its ports before it creates anything. Before, a service that
was reconnecting or starting ignored both signals, logged about 7 warnings a second while
NATS was away, and `up` on a busy port printed the new password, then a traceback.
Stop times are printed; the tests only guard against hangs."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from shared.adapters.natsserver import EmbeddedNats, free_port
from shared.runtime.cli import main
from shared.runtime.credentials import all_permissions
from shared.runtime.natsconfig import authorization_block, ensure_passwords
from tests.processes import (
    SERVE,
    run,
    running,
    stop_with,
    wait_for_output,
    wait_healthy,
)

pytestmark = pytest.mark.slow


def billing_env(data_dir: Path, nats_url: str, http_port: int, **more: str) -> dict[str, str]:
    return {"TICKETCORE_DATA_DIR": str(data_dir), "TICKETCORE_NATS__URL": nats_url,
            "TICKETCORE_HTTP__PORT": str(http_port), **SERVE, **more}


def nats_warnings(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if " WARNING shared.runtime.connection" in line]


def test_sigterm_while_reconnecting_stops_the_service(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    port, log = free_port(), tmp_path / "billing.log"
    try:
        with running("serve", "billing", log=log, **billing_env(
                tmp_path / "data", server.url, port, TICKETCORE_LOG_LEVEL="DEBUG")) as service:
            wait_healthy(f"http://127.0.0.1:{port}", service, log)
            server.kill()  # NATS goes away: the service reconnects, again and again
            wait_for_output(log, "NATS: lost the connection", service)
            # Several failed attempts (at DEBUG), and still the one warning.
            while log.read_text().count("still reconnecting") < 3:
                wait_for_output(log, "still reconnecting", service)
            seconds = stop_with(service, signal.SIGTERM)
            content = log.read_text()
    finally:
        server.stop()
    print(f"\nSIGTERM while reconnecting: stopped after {seconds:.2f} s")
    assert service.returncode == 0, content
    assert len(nats_warnings(content)) == 1, content
    assert "Traceback" not in content


def test_a_signal_during_the_start_stops_it(tmp_path: Path) -> None:
    """Waiting for `ticketcore nats provision` (the service's own user may not create the
    log): SIGINT ends the wait; so does SIGTERM while the connection is still being made."""
    folder = tmp_path / "users"
    passwords = ensure_passwords(folder, all_permissions())
    server = EmbeddedNats(folder / "nats", authorization=authorization_block(passwords))
    server.start()
    try:
        log = tmp_path / "waiting.log"
        with running("serve", "billing", log=log, **billing_env(
                tmp_path / "a", server.url, free_port(), TICKETCORE_NATS__USER="billing",
                TICKETCORE_NATS__PASSWORD=passwords["billing"])) as waiting:
            wait_for_output(log, "does not exist yet", waiting)
            waiting_s = stop_with(waiting, signal.SIGINT)
    finally:
        server.stop()
    log = tmp_path / "connecting.log"
    with running("serve", "billing", log=log, **billing_env(
            tmp_path / "b", "nats://10.255.255.1:4222", free_port(),
            TICKETCORE_NATS__CONNECT_TIMEOUT_S="120", TICKETCORE_LOG_LEVEL="DEBUG")
            ) as connecting:
        wait_for_output(log, "NATS: connecting to", connecting)
        connecting_s = stop_with(connecting, signal.SIGTERM)
    print(f"\nsignal while waiting for provisioning: stopped after {waiting_s:.2f} s; "
          f"while connecting: {connecting_s:.2f} s")
    assert waiting.returncode == 0
    assert connecting.returncode in (0, -signal.SIGTERM)


def test_up_on_a_busy_port_stops_before_creating_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result, _ = run("up", TICKETCORE_DATA_DIR=str(tmp_path / "data"),
                        TICKETCORE_HTTP__PORT=str(port),
                        TICKETCORE_NATS__EMBEDDED_PORT=str(free_port()),
                        TICKETCORE_INBOUND_MAIL__SMTP_PORT="0")
    assert result.returncode == 2, result.stderr
    assert f"TICKETCORE_HTTP__PORT: 127.0.0.1:{port} is in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "password" not in result.stdout
    assert not (tmp_path / "data").exists()


def test_up_and_serve_say_what_they_do(capsys: pytest.CaptureFixture[str]) -> None:
    helps = {}
    for command in ("up", "serve"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = capsys.readouterr().out
    assert "embedded nats-server" in helps["up"] and "development defaults" in helps["up"]
    assert "in production" in helps["serve"] and "refuses to start" in helps["serve"]
