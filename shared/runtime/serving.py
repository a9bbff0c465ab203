"""A ticketcore process from start to stop: ``ticketcore up`` and ``ticketcore serve``.

SIGTERM and SIGINT stop the process in every state within STOP_DEADLINE_S: while it
connects or waits for the streams to be provisioned (the start is cancelled), while it
serves (HTTP first, then consumers, services and connections, each step bounded) and while
NATS is away and the client reconnects. Should a step still hang, a watchdog ends the
process at the deadline (and the embedded nats-server with it); a second Ctrl-C does the
same at once.

The banner says where people reach the system; under ``TICKETCORE_LOG_FORMAT=json`` it is
log records like every other line, so a log collector reads one format.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator

import psutil
import uvicorn

from shared.adapters import tracing
from shared.runtime.app import RunningSystem, running_system
from shared.runtime.httpserver import server_config
from shared.settings import ConfigurationError, Settings
from shared.settings.core import without_credentials

log = logging.getLogger(__name__)
banner_log = logging.getLogger("ticketcore")

STOP_DEADLINE_S = 9.5
HTTP_DRAIN_S = 3.0  # requests still running when the stop begins get this long


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the process's handlers (below) decide."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Watchdog:
    """Ends the process at the deadline after a stop began, whatever still hangs."""

    def __init__(self, deadline_s: float = STOP_DEADLINE_S) -> None:
        self.deadline_s = deadline_s
        self.timer: threading.Timer | None = None

    def arm(self) -> None:
        if self.timer is None:
            self.timer = threading.Timer(self.deadline_s, self.expire)
            self.timer.daemon = True
            self.timer.start()

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def expire(self) -> None:
        """Stop the children (the embedded nats-server), then leave at once."""
        log.error("did not stop within %.1f s: ending the process now", self.deadline_s)
        children = psutil.Process().children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        psutil.wait_procs(children, timeout=0.3)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        logging.shutdown()
        os._exit(1)


def require_free_ports(ports: dict[str, tuple[str, int]]) -> None:
    """ConfigurationError naming each setting whose port is taken (checked before anything
    is created or started, so a busy port costs nothing)."""
    taken = [f"{setting}: {host}:{port} is in use (another ticketcore, or another "
             "program); stop it or choose another port"
             for setting, (host, port) in ports.items() if port and _in_use(host, port)]
    if taken:
        raise ConfigurationError("cannot start:\n  " + "\n  ".join(taken))


def _in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


async def serve_forever(settings: Settings, names: tuple[str, ...], *, embedded_ok: bool,
                        notes: list[str] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then stop everything within STOP_DEADLINE_S.
    ``notes``: lines the banner adds (e.g. the development defaults ``up`` runs with)."""
    stop = asyncio.Event()
    watchdog = Watchdog()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():  # asked twice: stop now
            watchdog.expire()
        stop.set()
        watchdog.arm()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    tracing.configure(settings.tracing, service=names[0] if len(names) == 1 else None)
    serving = _Serving(settings, names, embedded_ok, stop, notes or [])
    task = asyncio.create_task(serving.run())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and not serving.started:
            log.info("stop asked during the start: cancelling it")
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        stopped.cancel()
        with contextlib.suppress(Exception):  # the last spans still go out, if they can
            await asyncio.wait_for(asyncio.to_thread(tracing.shutdown), 2.0)
        watchdog.disarm()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


class _Serving:
    def __init__(self, settings: Settings, names: tuple[str, ...], embedded_ok: bool,
                 stop: asyncio.Event, notes: list[str]) -> None:
        self.settings = settings
        self.names = names
        self.embedded_ok = embedded_ok
        self.stop = stop
        self.notes = notes
        self.started = False

    async def run(self) -> None:
        settings = self.settings
        async with running_system(settings, self.names,
                                  embedded_ok=self.embedded_ok) as system:
            config = server_config(system.http_app(), settings.http.host, settings.http.port,
                                   request_timeout_s=settings.http.request_timeout_s,
                                   trusted_proxies=settings.http.trusted_proxies)
            config.timeout_graceful_shutdown = int(HTTP_DRAIN_S)
            server = QuietServer(config)
            web = asyncio.create_task(server.serve())
            while not server.started and not web.done():
                await asyncio.sleep(0.05)
            if web.done():
                raise ConfigurationError(f"TICKETCORE_HTTP__PORT: cannot listen on "
                                         f"{settings.http.host}:{settings.http.port}")
            self.started = True
            announce(system, self.names, self.notes, settings.log_format)
            stopping = asyncio.create_task(self.stop.wait())
            await asyncio.wait({stopping, web}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            say(settings.log_format, "stopping ...")
            server.should_exit = True
            await web


def say(log_format: str, line: str) -> None:
    """A line for the person at the terminal: printed, or a log record under JSON."""
    if log_format == "json":
        banner_log.info("%s", line)
    else:
        print(line, flush=True)


def announce(system: RunningSystem, names: tuple[str, ...], notes: list[str],
             log_format: str) -> None:
    """The start banner: what runs and where people reach it."""
    base = system.runtime.public_url
    lines = [f"ticketcore is running: services {', '.join(names)}; NATS at "
             f"{without_credentials(system.runtime.nats_url)}"]
    if "intake" in names:
        lines.append(f"  support-request form:  {base}/")
    lines.append(f"  health:                {base}/health")
    for service in system.services:
        lines += [f"  {line}" for line in service.announce()]
    lines += notes
    lines.append("Press Ctrl-C to stop.")
    for line in lines:
        say(log_format, line)
