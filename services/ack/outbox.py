"""``/outbox``: the mails kept by the embedded mail catcher, for a first local run."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from services.ack.templating import TEMPLATES
from shared.adapters.mailcatcher import OutboxMailNotFound, list_outbox, read_outbox
from shared.runtime.responses import security_headers

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
SHOWN_HEADERS = ("From", "To", "Reply-To", "Subject", "Date", "Message-ID", "Auto-Submitted",
                 "Content-Language")
# The kept mail's own HTML is shown in a sandboxed iframe; nothing else runs on the page.
PAGE_HEADERS = security_headers(style_src="'unsafe-inline'", img_src="data:",
                                frame_src="'self' about:")



def outbox_router(outbox_dir: Callable[[], Path | None]) -> APIRouter:
    """Routes over the catcher's folder; ``outbox_dir()`` is None when real SMTP is used."""
    router = APIRouter(tags=["ack"])

    def folder(request: Request) -> Path:
        # Kept mails hold customers' data: shown only to a browser on this machine.
        client = request.client.host if request.client else ""
        if client not in LOOPBACK:
            raise HTTPException(403, "the outbox is shown only on the machine running it")
        path = outbox_dir()
        if path is None:
            raise HTTPException(404, "no local mail catcher: mail goes to the configured "
                                "SMTP server (TICKETCORE_SMTP__HOST)")
        return path

    @router.get("/outbox", response_class=HTMLResponse)
    async def outbox(request: Request) -> HTMLResponse:
        """Every kept mail, newest first."""
        entries = list_outbox(folder(request))
        page = TEMPLATES.get_template("outbox.html").render(entries=entries,
                                                             count=len(entries))
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @router.get("/outbox/{name}", response_class=HTMLResponse)
    async def outbox_mail(name: str, request: Request) -> HTMLResponse:
        """One kept mail: its headers, text part and (sandboxed) HTML part."""
        try:
            message = read_outbox(folder(request), name)
        except OutboxMailNotFound:
            raise HTTPException(404, f"no kept mail named {name!r}") from None
        text, html = _bodies(message)
        page = TEMPLATES.get_template("outbox_mail.html").render(
            subject=str(message["Subject"] or ""), text=text, html=html,
            headers=[(h, str(message[h])) for h in SHOWN_HEADERS if message[h] is not None])
        return HTMLResponse(page, headers=PAGE_HEADERS)

    return router


def _bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return (text.get_content() if text is not None else "",
            html.get_content() if html is not None else "")
