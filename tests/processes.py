"""Test helpers for ``ticketcore`` run as operators run it: a child process with its own
environment (nothing inherited from the test's ``TICKETCORE_*``), its output in a file,
and waits for conditions in that output or on its HTTP port (hang guards, no sleeps)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

TICKETCORE = str(Path(sys.executable).parent / "ticketcore")
SECRETS = {"TICKETCORE_SECRET_KEY": "ops-test-secret-key-5b0d7f3c9e2a",
           "TICKETCORE_ONCALL__WEBHOOK_SECRET": "ops-test-webhook-secret-8c1e4d2a"}
# A seller of its own: `serve billing` refuses the example seller.
SELLER = {"TICKETCORE_BILLING__SELLER__NAME": "Prüf IT-Service GmbH",
          "TICKETCORE_BILLING__SELLER__STREET": "Prüfweg 7",
          "TICKETCORE_BILLING__SELLER__VAT_ID": "DE811111111",
          "TICKETCORE_BILLING__SELLER__EMAIL": "rechnung@pruef.example"}
# What `serve` needs besides NATS: secrets, a seller, the public origin of links.
SERVE = {**SECRETS, **SELLER, "TICKETCORE_HTTP__PUBLIC_URL": "https://support.example"}
HANG_GUARD_S = 60.0


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ``TICKETCORE_`` variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETCORE_")}
    return env | settings


def run(*args: str, cwd: Path | None = None, **settings: str
        ) -> tuple[subprocess.CompletedProcess[str], float]:
    """``ticketcore <args>`` to its end (hang guard HANG_GUARD_S); also its run time."""
    started = time.monotonic()
    result = subprocess.run([TICKETCORE, *args], env=clean_env(**settings), cwd=cwd,
                            capture_output=True, text=True, timeout=HANG_GUARD_S)
    return result, time.monotonic() - started


@contextlib.contextmanager
def running(*args: str, log: Path, **settings: str) -> Iterator[subprocess.Popen[bytes]]:
    """``ticketcore <args>`` in the background, output (both streams) into ``log``; whatever
    is left of it (and its children) is killed at the end."""
    with open(log, "wb") as output:
        process = subprocess.Popen([TICKETCORE, *args], env=clean_env(**settings),
                                   stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_output(log: Path, text: str, process: subprocess.Popen[bytes],
                    timeout_s: float = HANG_GUARD_S) -> str:
    """The log once it contains ``text``; fails with the log when the process ends first
    or the hang guard runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        if process.poll() is not None:
            raise AssertionError(f"exited ({process.returncode}) before {text!r}:\n{content}")
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} within {timeout_s} s:\n{log.read_text()}")


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path,
                 timeout_s: float = HANG_GUARD_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited ({process.returncode}):\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"never healthy:\n{log.read_text()}")


def stop_with(process: subprocess.Popen[bytes], sig: signal.Signals,
              timeout_s: float = HANG_GUARD_S) -> float:
    """Send ``sig``; the seconds until the process ended (AssertionError past the guard)."""
    started = time.monotonic()
    process.send_signal(sig)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {timeout_s} s after {sig.name}") from None
    return time.monotonic() - started
