"""The system under test of the pipeline benchmark, as child processes.

Two layouts:

- ``one``: ``ticketcore up``, the quick-start way: embedded nats-server and all four
  services in **one** Python process (so on one core at most).
- ``split``: as operators scale it: a nats-server started here, and every service in a
  process of its own (``ticketcore serve <name>``), intake in ``intake_replicas`` processes
  sharing the load; the load generator spreads requests over the intake replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.adapters.natsserver import EmbeddedNats, free_port
from shared.runtime.accounts import new_token
from shared.runtime.credentials import ADMIN, inbox_prefix
from shared.runtime.natsconfig import PASSWORDS_FILE

LAYOUTS = ("one", "split")
ONE_PROCESS = "ticketcore up (intake, ack, oncall, billing)"
SECRET = "pipeline-benchmark-secret-0123456789"


@dataclass
class SystemUnderTest:
    intake_urls: list[str]
    nats_port: int
    processes: dict[str, int] = field(default_factory=dict)  # name -> pid (RSS watched)
    # How the load generator logs in to NATS (`up` runs its server with users).
    nats_login: dict[str, str] = field(default_factory=dict)


def child_env(data_dir: Path | str, **settings: str) -> dict[str, str]:
    """The environment of a ``ticketcore`` child process: this one's without a config file
    or NATS URL of its own, quiet, no inbound SMTP port, plus ``settings``."""
    env = {**os.environ, "TICKETCORE_DATA_DIR": str(data_dir),
           "TICKETCORE_INBOUND_MAIL__SMTP_PORT": "0", "TICKETCORE_LOG_LEVEL": "WARNING",
           # The origin links in mails name (`serve` needs one); benchmarks follow none.
           "TICKETCORE_HTTP__PUBLIC_URL": "http://127.0.0.1"}
    env.pop("TICKETCORE_CONFIG_FILE", None)
    env.pop("TICKETCORE_NATS__URL", None)
    return env | settings


# A seller of its own: `serve billing` refuses the example seller (production settings).
SELLER = {"TICKETCORE_BILLING__SELLER__NAME": "Bench IT-Service GmbH",
          "TICKETCORE_BILLING__SELLER__STREET": "Lastweg 3",
          "TICKETCORE_BILLING__SELLER__VAT_ID": "DE999999999",
          "TICKETCORE_BILLING__SELLER__EMAIL": "rechnung@bench.example"}


def common_env(data_dir: Path, smtp_port: int) -> dict[str, str]:
    """Settings every process of a measured system gets: real secrets, the SMTP sink, a
    seller and a technician account (``serve`` refuses development defaults)."""
    return child_env(data_dir, TICKETCORE_SECRET_KEY=SECRET,
                     TICKETCORE_ONCALL__WEBHOOK_SECRET=SECRET + "-webhooks",
                     TICKETCORE_SMTP__HOST="127.0.0.1", TICKETCORE_SMTP__PORT=str(smtp_port),
                     TICKETCORE_SMTP__SECURITY="none",
                     TICKETCORE_INTAKE__RATE_LIMIT_PER_MINUTE="100000000",
                     TICKETCORE_ACCOUNTS_FILE=str(technician_accounts(data_dir)), **SELLER)


def technician_accounts(data_dir: Path) -> Path:
    """An accounts file with one technician who may use the API (a token nobody knows)."""
    path = Path(data_dir) / "bench-accounts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    _, token_hash = new_token()
    path.write_text(f'[[technicians]]\nid = "bench"\nname = "Bench"\n'
                    f'token_hashes = ["{token_hash}"]\n', encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def system_under_test(layout: str, folder: Path, smtp_port: int, sync: str,
                            intake_replicas: int = 2) -> AsyncIterator[SystemUnderTest]:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    started = (_one_process(folder, smtp_port, sync) if layout == "one"
               else _split(folder, smtp_port, sync, intake_replicas))
    async with started as system:
        yield system


@contextlib.asynccontextmanager
async def _one_process(folder: Path, smtp_port: int, sync: str
                       ) -> AsyncIterator[SystemUnderTest]:
    http_port, nats_port = free_port(), free_port()
    env = common_env(folder, smtp_port) | {
        "TICKETCORE_HTTP__PORT": str(http_port),
        "TICKETCORE_NATS__EMBEDDED_PORT": str(nats_port),
        "TICKETCORE_NATS__SYNC_ALWAYS": "true" if sync == "always" else "false"}
    async with child(["up"], env, folder / "system.log", http_port) as pid:
        yield SystemUnderTest([f"http://127.0.0.1:{http_port}"], nats_port, {ONE_PROCESS: pid},
                              nats_login=admin_login(folder))


def admin_login(data_dir: Path) -> dict[str, str]:
    """nats-py's options to connect as admin to the server `up` started in ``data_dir``."""
    password = json.loads((data_dir / PASSWORDS_FILE).read_text())[ADMIN]
    return {"user": ADMIN, "password": password, "inbox_prefix": inbox_prefix(ADMIN)}


@contextlib.asynccontextmanager
async def _split(folder: Path, smtp_port: int, sync: str, intake_replicas: int
                 ) -> AsyncIterator[SystemUnderTest]:
    nats_server = EmbeddedNats(folder / "nats", sync_always=sync == "always")
    url = await asyncio.to_thread(nats_server.start)
    try:
        async with contextlib.AsyncExitStack() as stack:
            system = SystemUnderTest([], nats_server.port)
            if nats_server.process is not None:
                system.processes["nats-server"] = nats_server.process.pid
            names = [f"intake-{n}" for n in range(1, intake_replicas + 1)]
            for name in [*names, "ack", "oncall", "billing"]:
                port = free_port()
                env = common_env(folder / name, smtp_port) | {
                    "TICKETCORE_NATS__URL": url, "TICKETCORE_HTTP__PORT": str(port)}
                (folder / name).mkdir(exist_ok=True)
                service = name.split("-")[0]
                system.processes[name] = await stack.enter_async_context(
                    child(["serve", service], env, folder / name / "service.log", port))
                if service == "intake":
                    system.intake_urls.append(f"http://127.0.0.1:{port}")
            yield system
    finally:
        await nats_server.astop()


@contextlib.asynccontextmanager
async def child(arguments: list[str], env: dict[str, str], log_path: Path,
                http_port: int, health_timeout_s: float = 30.0) -> AsyncIterator[int]:
    """``ticketcore <arguments>`` as a child process, healthy on ``http_port``; yields pid."""
    with open(log_path, "wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.runtime.cli", *arguments, env=env, stdout=log, stderr=log)
        try:
            await wait_healthy(f"http://127.0.0.1:{http_port}/health", process, log_path,
                               health_timeout_s)
            yield process.pid
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 20)
                except TimeoutError:
                    process.kill()


async def wait_healthy(health_url: str, process: asyncio.subprocess.Process, log: Path,
                       timeout_s: float = 30.0) -> None:
    """Until ``health_url`` answers 200; fails with the log's tail if the process exits."""
    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout_s / 0.1)):
            if process.returncode is not None:
                raise RuntimeError(f"{health_url} exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(health_url, timeout=5)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{health_url} did not become healthy in {timeout_s:.0f} s")
