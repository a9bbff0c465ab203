"""A process's NATS connection: it fails fast at start and reconnects quietly afterwards.

At start a process connects within ``TICKETCORE_NATS__CONNECT_TIMEOUT_S`` or gives up with
:class:`NatsUnavailable`, one line naming the servers and the cause (nobody listens there,
the host cannot be reached, the server refused the user or its password, TLS). A refusal
that asking again will not change (an authorization violation or a failed TLS handshake
from every server) gives up at once.

Once connected, a lost server is reconnected to forever: at once to another node, and while
no node answers with a wait that grows from 0.5 s to 5 s. The log gets one WARNING when the
connection is lost, at most one more every 30 s while it stays lost, and an INFO line when
it is back. Other errors nats-py reports in the background (a permission violation, a slow
consumer) are WARNINGs too, each kind at most once per 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from typing import TypedDict

from nats.aio.client import Client as NatsClient

from shared.adapters.logthrottle import WarningThrottle
from shared.adapters.natsfaults import (
    TlsNotOffered,
    connect_cause,
    is_definite,
    is_routine,
    most_telling,
)
from shared.runtime.credentials import inbox_prefix
from shared.settings import ConfigurationError, Settings
from shared.settings.core import nats_servers, without_credentials

log = logging.getLogger(__name__)

ATTEMPT_TIMEOUT_S = 2.0  # one server's TCP and TLS handshake; the others are tried next
RECONNECT_WAIT_S = 0.5
RECONNECT_WAIT_MAX_S = 5.0


class NatsUnavailable(Exception):
    """No NATS server took the connection at start (the message is one line)."""


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context the settings ask for (None: nats-py's default, used only when a
    server requires TLS)."""
    nats = settings.nats
    if nats.tls_ca_file is None and nats.tls_cert_file is None:
        return None
    try:
        context = ssl.create_default_context(
            cafile=str(nats.tls_ca_file) if nats.tls_ca_file else None)
        if nats.tls_cert_file is not None and nats.tls_key_file is not None:
            context.load_cert_chain(str(nats.tls_cert_file), str(nats.tls_key_file))
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(f"TICKETCORE_NATS__TLS_*: cannot load the certificates: "
                                 f"{error}") from None
    return context


def tls_required(settings: Settings, url: str) -> bool:
    """The client insists on TLS: a CA is configured or a server URL says ``tls://``."""
    return settings.nats.tls_ca_file is not None or any(
        server.startswith("tls://") for server in nats_servers(url))


class ConnectionWatch:
    """The callbacks of one connection: errors while connecting are collected for the
    start's verdict; afterwards losses, reconnects and errors are logged (throttled) and
    the reconnect wait grows while no server answers."""

    def __init__(self, nc: NatsClient, servers: int) -> None:
        self.nc = nc
        self.servers = servers
        self.connecting = True
        self.errors: list[BaseException] = []
        self.refused = asyncio.Event()  # every server refused for good
        self.throttle = WarningThrottle(log)
        self.lost_at: float | None = None

    async def error(self, error: Exception) -> None:
        if self.connecting:
            self.errors.append(error)
            if sum(1 for e in self.errors if is_definite(e)) >= self.servers:
                self.refused.set()
            return
        if is_routine(error) or isinstance(error, OSError):
            self._lost(error)
            return
        self.throttle.warning(type(error).__name__, "NATS: %s", error)

    async def disconnected(self) -> None:
        # nats-py calls this on our own close too: only a lost server is worth a warning.
        if self.connecting:
            return
        if self.nc.is_closed or self.nc.is_draining:
            log.info("NATS: connection closed")
            return
        self._lost("disconnected")

    async def reconnected(self) -> None:
        elapsed = time.monotonic() - (self.lost_at or time.monotonic())
        self.lost_at = None
        self.nc.options["reconnect_time_wait"] = RECONNECT_WAIT_S
        log.info("NATS: reconnected to %s after %.1f s", server_of(self.nc), elapsed)

    def _lost(self, reason: object) -> None:
        if self.lost_at is None:
            self.lost_at = time.monotonic()
            self.throttle.warning("connection", "NATS: lost the connection (%s); "
                                  "reconnecting", reason)
            return
        self._wait_longer()
        self.throttle.warning("connection", "NATS: no server answered for %.0f s (%s); "
                              "still reconnecting", time.monotonic() - self.lost_at, reason)

    def _wait_longer(self) -> None:
        wait = float(self.nc.options.get("reconnect_time_wait") or RECONNECT_WAIT_S)
        self.nc.options["reconnect_time_wait"] = min(RECONNECT_WAIT_MAX_S, wait * 2)


async def open_connection(settings: Settings, url: str, *, name: str) -> NatsClient:
    """A connected client, or :class:`NatsUnavailable` within the connect timeout."""
    servers = nats_servers(url)
    log.debug("NATS: connecting to %s as %s", without_credentials(url),
              settings.nats.user or "(no user)")
    nc = NatsClient()
    watch = ConnectionWatch(nc, len(servers))
    timeout_s = settings.nats.connect_timeout_s
    attempt_s = min(timeout_s, ATTEMPT_TIMEOUT_S)
    connecting = asyncio.ensure_future(nc.connect(
        servers=servers, name=name,
        # nats-py annotates both as int but takes any number of seconds (asyncio timeouts).
        connect_timeout=attempt_s,  # type: ignore[arg-type]
        reconnect_time_wait=RECONNECT_WAIT_S,  # type: ignore[arg-type]
        allow_reconnect=True, max_reconnect_attempts=-1,
        error_cb=watch.error, disconnected_cb=watch.disconnected,
        reconnected_cb=watch.reconnected, tls=tls_context(settings),
        **credentials_of(settings)))
    refused = asyncio.ensure_future(watch.refused.wait())
    try:
        await asyncio.wait({connecting, refused}, timeout=timeout_s,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        refused.cancel()
        if not connecting.done():
            connecting.cancel()
        with contextlib.suppress(BaseException):
            await connecting
    error = connecting.exception() if not connecting.cancelled() else None
    if connecting.cancelled() or error is not None:
        await _abandon(nc)
        raise NatsUnavailable(_verdict(settings, url, watch.errors, error, attempt_s))
    if tls_required(settings, url) and not nc._server_info.get("tls_required"):
        await _abandon(nc)
        raise NatsUnavailable(_verdict(settings, url, [TlsNotOffered(
            "TLS: the server does not offer TLS, but TLS is configured for the client "
            "(TICKETCORE_NATS__TLS_CA_FILE or a tls:// URL)")], None, attempt_s))
    watch.connecting = False
    log.info("NATS: connected to %s as %s", server_of(nc), settings.nats.user or "(no user)")
    return nc


def _verdict(settings: Settings, url: str, errors: list[BaseException],
             final: BaseException | None, attempt_s: float) -> str:
    cause_of = most_telling([*errors, *([final] if final is not None else [])])
    if cause_of is None:
        cause = f"no answer within {settings.nats.connect_timeout_s:g} s"
    else:
        cause = connect_cause(cause_of, user=settings.nats.user, attempt_timeout_s=attempt_s)
    return (f"cannot connect to NATS at {without_credentials(url)}: {cause} "
            f"(TICKETCORE_NATS__URL, TICKETCORE_NATS__CONNECT_TIMEOUT_S="
            f"{settings.nats.connect_timeout_s:g})")


async def _abandon(nc: NatsClient) -> None:
    """Close a client that never connected, without waiting on anything."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(nc.close(), 2.0)


class NatsCredentials(TypedDict, total=False):
    user: str
    password: str
    inbox_prefix: str


def credentials_of(settings: Settings) -> NatsCredentials:
    """The NATS user, password and reply prefix to connect with (none: no user set).
    Each user's replies come on its own prefix, which only it may subscribe to."""
    user = settings.nats.user
    if user is None:
        return {}
    password = settings.nats.password.get_secret_value() if settings.nats.password else ""
    return {"user": user, "password": password, "inbox_prefix": inbox_prefix(user)}


def server_of(nc: NatsClient) -> str:
    """The server the client is connected to, without credentials."""
    url = nc.connected_url
    if url is None:
        return "no server"
    return f"{url.scheme}://{url.hostname}:{url.port}"
