"""Outgoing mail for a process: the configured SMTP server, or without one the process's
embedded mail catcher (one per process, shared by every service in it, so receipts, pages
and every other mail of ``ticketcore up`` land in one outbox)."""

from __future__ import annotations

import asyncio

from shared.adapters.mailcatcher import MailCatcher, outbox_dir
from shared.adapters.mailer import Mailer
from shared.settings import Settings


class LocalMail:
    """The process's embedded mail catcher, started on first use, stopped once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catcher: MailCatcher | None = None
        self._lock = asyncio.Lock()

    async def catcher_started(self) -> MailCatcher:
        """The running catcher (started now if this is the first use)."""
        async with self._lock:
            if self.catcher is None:
                self.catcher = await asyncio.to_thread(MailCatcher(
                    outbox_dir(self.settings.data_dir),
                    port=self.settings.smtp.catcher_port).start)
            return self.catcher

    async def mailer(self) -> Mailer:
        """The configured SMTP server, or without one this process's mail catcher."""
        smtp = self.settings.smtp
        if smtp.host is not None:
            return Mailer(smtp)
        return Mailer.to_local_catcher(smtp, (await self.catcher_started()).port)

    async def stop(self) -> None:
        """Stop the catcher (a no-op when it never started or is stopped already)."""
        async with self._lock:
            catcher, self.catcher = self.catcher, None
        if catcher is not None:
            await asyncio.to_thread(catcher.stop)
