"""The inbound mail channel: an SMTP listener for the support address, and LMTP for use
behind an MTA (Postfix, Exim: ``lmtp:inet:host:port``). Both run in the service's own event
loop, so handlers use the service's NATS connection directly."""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from services.intake.mail.handler import InboundMailHandler
from shared.adapters.attachments import AttachmentStore
from shared.runtime.runtime import Runtime

log = logging.getLogger(__name__)


class InboundMailChannel:
    """Runs the SMTP listener (``smtp_port``) and the LMTP listener (``lmtp_port``);
    a port of 0 switches that listener off."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings.inbound_mail
        self.attachments = AttachmentStore(runtime.js, self.settings.attachments_bucket)
        self.servers: list[asyncio.Server] = []

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_port or self.settings.lmtp_port)

    async def start(self) -> None:
        """Create the attachment bucket and open the listeners that are switched on."""
        if not self.enabled:
            return
        await self.attachments.ensure()
        for port, lmtp in ((self.settings.smtp_port, False), (self.settings.lmtp_port, True)):
            if port:
                self.servers.append(await self._serve(port, lmtp=lmtp))

    async def _serve(self, port: int, *, lmtp: bool) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        handler = InboundMailHandler(self.runtime.store, self.attachments, self.settings,
                                     lmtp=lmtp, clock=self.runtime.clock)
        protocol = LMTP if lmtp else SMTP
        # The hostname is given: the default (getfqdn) can block on DNS for seconds.
        hostname = self.settings.support_address.rpartition("@")[2] or "localhost"

        def session() -> SMTP:
            return protocol(handler, data_size_limit=self.settings.max_message_bytes,
                            enable_SMTPUTF8=True, hostname=hostname, ident="ticketcore",
                            loop=loop)

        server = await loop.create_server(session, host=self.settings.smtp_host, port=port)
        log.info("inbound %s listener on %s:%d", "LMTP" if lmtp else "SMTP",
                 self.settings.smtp_host, port)
        return server

    def announce(self) -> list[str]:
        """Lines for the start-up banner."""
        lines = []
        if self.settings.smtp_port:
            lines.append(f"replies by SMTP: {self.settings.smtp_host}:{self.settings.smtp_port}"
                         f" for {self.settings.support_address}")
        if self.settings.lmtp_port:
            lines.append(f"replies by LMTP: {self.settings.smtp_host}:{self.settings.lmtp_port}")
        return lines

    async def stop(self) -> None:
        """Stop accepting connections."""
        servers, self.servers = self.servers, []
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()
