"""`ticketcore up` as a user runs it: a subprocess with the embedded nats-server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.adapters.natsserver import free_port

TICKETCORE = str(Path(sys.executable).parent / "ticketcore")


def start_up(data_dir: Path, http_port: int, nats_port: int, **settings: str
             ) -> subprocess.Popen[str]:
    env = {**os.environ, "TICKETCORE_DATA_DIR": str(data_dir),
           "TICKETCORE_HTTP__PORT": str(http_port),
           "TICKETCORE_NATS__EMBEDDED_PORT": str(nats_port),
           "TICKETCORE_INBOUND_MAIL__SMTP_PORT": str(free_port()), **settings}
    env.pop("TICKETCORE_NATS__URL", None)
    process = subprocess.Popen([TICKETCORE, "up"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    STARTED.append(process)
    return process


def wait_healthy(url: str, process: subprocess.Popen[str], timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"ticketcore up exited early:\n{process.stdout.read()}")  # type: ignore[union-attr]
        try:
            response = httpx.get(f"{url}/health", timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"no healthy answer:\n{process.stdout.read()}")  # type: ignore[union-attr]


@pytest.fixture(autouse=True)
def no_system_left_running() -> Iterator[list[subprocess.Popen[str]]]:
    """Whatever a failing test leaves running (`up` and its nats-server) is ended."""
    yield STARTED
    for process in STARTED:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    STARTED.clear()


STARTED: list[subprocess.Popen[str]] = []


def stop(process: subprocess.Popen[str]) -> str:
    # Ctrl-C in a terminal signals the whole foreground process group.
    os.killpg(process.pid, signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"ticketcore up did not stop on Ctrl-C:\n{output}")
    return output


def ticketcore(*args: str, data_dir: Path, nats_port: int) -> subprocess.CompletedProcess[str]:
    """A command beside `up`: it finds the embedded server by the same settings."""
    env = {**os.environ, "TICKETCORE_DATA_DIR": str(data_dir),
           "TICKETCORE_NATS__EMBEDDED_PORT": str(nats_port)}
    env.pop("TICKETCORE_NATS__URL", None)
    return subprocess.run([TICKETCORE, *args], env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.slow
def test_up_starts_answers_health_stops_and_keeps_data(tmp_path: Path) -> None:
    http_port, nats_port = free_port(), free_port()
    url = f"http://127.0.0.1:{http_port}"
    process = start_up(tmp_path / "data", http_port, nats_port)
    health = wait_healthy(url, process)
    assert health["nats"]["connected"] is True
    assert set(health["services"]) == {"intake", "ack", "oncall", "billing"}
    # One scrape covers every service of the process.
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    for durable in ("ack-receipts", "oncall-requests", "billing-technician-entries"):
        assert f'ticketcore_consumer_pending{{durable="{durable}"}}' in metrics
    # The embedded server runs with ticketcore's users: their passwords are in the data
    # dir, readable by its owner only, and a client without them is refused.
    users_file = tmp_path / "data" / "nats-users.json"
    assert users_file.stat().st_mode & 0o777 == 0o600
    admin_password = json.loads(users_file.read_text())["admin"]
    # Store a ticket through the log while it runs.
    store_script = (
        "import asyncio, nats\n"
        "from shared.adapters.eventstore import EventStore\n"
        "from tests.factories import request_submitted\n"
        "async def main():\n"
        "    try:\n"
        f"        await nats.connect('nats://127.0.0.1:{nats_port}', allow_reconnect=False,\n"
        "                           max_reconnect_attempts=0, connect_timeout=5)\n"
        "        raise SystemExit('a client without a user was let in')\n"
        "    except (nats.errors.Error, OSError):\n"
        "        pass\n"
        f"    nc = await nats.connect('nats://127.0.0.1:{nats_port}', user='admin', "
        f"password={admin_password!r}, inbox_prefix='_INBOX_admin')\n"
        "    await EventStore(nc).append('20261126000011', "
        "[request_submitted(case_number='20261126000011')], 0)\n"
        "    await nc.close()\n"
        "asyncio.run(main())\n")
    subprocess.run([sys.executable, "-c", store_script], check=True, timeout=60,
                   cwd=Path(__file__).parents[2])
    output = stop(process)
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
    assert admin_password not in output  # never printed into the log
    assert f"{url}/" in output  # where the web form is
    assert "created technician account 'admin'" in output

    assert "Development defaults in use" in output  # the mail catcher, the example seller

    # A restart keeps every ticket; under JSON logging every line it writes is JSON, the
    # banner too.
    process = start_up(tmp_path / "data", http_port, nats_port, TICKETCORE_LOG_FORMAT="json")
    wait_healthy(url, process)
    shown = ticketcore("ticket", "show", "20261126000011", data_dir=tmp_path / "data",
                       nats_port=nats_port)
    tail = ticketcore("events", "schema", data_dir=tmp_path / "data", nats_port=nats_port)
    output = stop(process)
    assert process.returncode == 0, output
    assert shown.returncode == 0, shown.stderr
    assert '"status": "open"' in shown.stdout and "RequestSubmitted" in shown.stdout
    assert "created technician account" not in output
    assert '"RequestSubmitted"' in tail.stdout
    messages = [json.loads(line)["message"] for line in output.splitlines()]
    assert any(m.startswith("ticketcore is running") for m in messages)
    assert any("TICKETCORE_SMTP__HOST" in m for m in messages)


def test_wrong_setting_fails_at_start_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "TICKETCORE_DATA_DIR": str(tmp_path),
           "TICKETCORE_HTTP__PORT": "eighty"}
    result = subprocess.run([TICKETCORE, "up"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "TICKETCORE_HTTP__PORT" in result.stderr
    assert not (tmp_path / "nats").exists()  # nothing started


def test_serve_without_nats_url_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "TICKETCORE_DATA_DIR": str(tmp_path)}
    env.pop("TICKETCORE_NATS__URL", None)
    result = subprocess.run([TICKETCORE, "serve", "ack"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "TICKETCORE_NATS__URL" in result.stderr
