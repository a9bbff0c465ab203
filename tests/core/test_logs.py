"""``TICKETCORE_LOG_FORMAT=json``: `ticketcore up` as a subprocess writes only JSON lines, and
the lines written while handling a submission name its case, event and trace."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.adapters import logcontext, tracing
from shared.adapters.natsserver import free_port
from shared.runtime.logs import JsonLines
from tests.core.test_up import stop, wait_healthy

TICKETCORE = "ticketcore"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REQUEST = {
    "first_name": "Erika", "last_name": "Mustermann", "email": "erika@kunde.example",
    "phone": "+49 30 123456", "street": "Hauptstraße 5", "postcode": "10115",
    "city": "Berlin", "short_description": "Drucker druckt nicht",
    "additional_backup": False, "backup_acknowledged": True, "priority": False,
    "priority_acknowledged": True, "commercial_customer": True, "language": "de"}


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_up_with_json_logs_names_case_event_and_trace(tmp_path: Path) -> None:
    http_port, smtp_port = free_port(), free_port()  # nothing listens on smtp_port
    url = f"http://127.0.0.1:{http_port}"
    env = {**os.environ, "TICKETCORE_DATA_DIR": str(tmp_path / "data"),
           "TICKETCORE_HTTP__PORT": str(http_port),
           "TICKETCORE_NATS__EMBEDDED_PORT": str(free_port()),
           "TICKETCORE_INBOUND_MAIL__SMTP_PORT": str(free_port()),
           "TICKETCORE_LOG_FORMAT": "json", "TICKETCORE_SMTP__HOST": "127.0.0.1",
           "TICKETCORE_SMTP__PORT": str(smtp_port), "TICKETCORE_SMTP__SECURITY": "none"}
    env.pop("TICKETCORE_NATS__URL", None)
    stderr = tmp_path / "stderr.log"
    with open(stderr, "w") as errors:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / TICKETCORE), "up"], env=env,
            stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True)
        wait_healthy(url, process)
        answer = httpx.post(f"{url}/api/requests", json=REQUEST, timeout=20, headers={
            "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
        assert answer.status_code == 201, answer.text
        case = answer.json()["case_number"]
        # The receipt cannot be sent (no SMTP server): the ack consumer logs the retry.
        deadline = time.monotonic() + 60
        while not [line for line in json_lines(stderr) if line.get("case") == case]:
            assert time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.2)
        stop(process)

    lines = json_lines(stderr)  # every line parses: nothing but JSON objects
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    retry = next(line for line in lines if line.get("case") == case)
    assert retry["service"] == "ack"
    assert retry["trace_id"] == TRACE_ID  # continued from the HTTP request through NATS
    assert retry["event_id"]
    assert any(line["logger"] == "nats-server" for line in lines)  # the server's own output
    assert not any(line["logger"].startswith("fontTools") for line in lines)


def test_a_json_line_carries_the_context_it_was_written_in() -> None:
    record = logging.LogRecord("services.ack", logging.WARNING, __file__, 1, "retry %s",
                               ("soon",), None)
    with (tracing.span("handle", parent={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}),
          logcontext.bound(case="2026112600042", event_id="e-1")):
        inside = json.loads(JsonLines().format(record))
    outside = json.loads(JsonLines().format(record))
    assert inside["case"] == "2026112600042" and inside["trace_id"] == TRACE_ID
    assert inside["message"] == "retry soon" and inside["level"] == "WARNING"
    assert "case" not in outside
