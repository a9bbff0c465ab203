"""The console's held and quarantined mail: the list (``/console/mail``), one ticket's or
quarantine entry's waiting mails, readable (``/console/mail/<ticket>``), and the
technician's decisions on one mail (release to a ticket, discard), CSRF-checked."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.oncall import heldmail
from services.oncall.console.forms import MAX_NOTE, FormError, text_field
from services.oncall.console.labels import refusal_text
from services.oncall.console.sessions import FLASH_COOKIE, flash_value
from services.oncall.console.web import Console
from shared.adapters.eventstore import ConcurrencyConflict, EventStoreError
from shared.domain import events as ev
from shared.domain.casenumber import is_valid_case_number
from shared.domain.ticket import DomainError
from shared.domain.ticket.state import mail_id_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WaitingMail:
    """One line of the list (from the queue's read model: no personal data)."""

    ticket: str
    mail_id: str
    at: datetime
    held: bool
    reason: str
    subject: str


@dataclass(frozen=True)
class MailView:
    id: str
    held: bool
    event: ev.PendingMail


def waiting_mails(console: Console) -> list[WaitingMail]:
    """Every mail waiting for a technician, oldest first."""
    found = [WaitingMail(ticket, mail_id_of(m), m.at, isinstance(m, ev.ReplyHeld), m.reason,
                         m.subject)
             for ticket, state in console.board.tickets.items() for m in state.pending_mails]
    return sorted(found, key=lambda w: (w.at, w.ticket))


def mail_routes(router: APIRouter, console: Console) -> None:
    @router.get("/mail")
    async def mailbox(request: Request) -> Response:
        session = await console.require_session(request)
        await console.board.start()
        return console.page("mailbox.html", request, session, entries=waiting_mails(console))

    @router.get("/mail/{ticket}")
    async def held(request: Request, ticket: str) -> Response:
        session = await console.require_session(request)
        if not heldmail.is_mail_holder(ticket):
            return await console.not_found(
                request, "Das ist weder Auftrag noch Quarantäne-Eintrag.")
        history = await console.runtime.store.load(ticket)
        if not history.events:
            return await console.not_found(request, f"Nichts unter {ticket}.")
        mails = [MailView(mail_id_of(m), isinstance(m, ev.ReplyHeld), m)
                 for m in history.state.pending_mails]
        return console.page("held_mail.html", request, session, ticket=ticket, mails=mails,
                            is_ticket=is_valid_case_number(ticket))

    @router.post("/mail/{ticket}/{mail_id}/{action}")
    async def decide(request: Request, ticket: str, mail_id: str, action: str) -> Response:
        session = await console.require_session(request)
        form = await console.form(request, session)
        if action not in ("release", "discard") or not heldmail.is_mail_holder(ticket):
            return await console.not_found(request, "Diese Aktion gibt es nicht.")
        kind, text = "ok", ""
        try:
            text = await _decide(console, ticket, unquote(mail_id), action,
                                 session.technician.id, form)
        except DomainError as error:
            kind, text = "error", refusal_text(error)
        except FormError as error:
            kind, text = "error", str(error)
        except (ConcurrencyConflict, EventStoreError) as error:
            log.warning("console: mail %s on %s, %s failed: %s", mail_id, ticket, action, error)
            kind, text = "error", "Gerade geändert – bitte erneut versuchen."
        response = RedirectResponse(f"/console/mail/{ticket}", status_code=303)
        response.set_cookie(FLASH_COOKIE, flash_value(console.secret, kind, text), max_age=60,
                            path="/console", httponly=True, samesite="lax",
                            secure=console.secure_cookies(request))
        return response


async def _decide(console: Console, ticket: str, mail_id: str, action: str,
                  technician: str, form: dict[str, str]) -> str:
    runtime = console.runtime
    if action == "discard":
        reason = text_field(form, "reason", "Grund", MAX_NOTE)
        result = await heldmail.discard(runtime, ticket, mail_id, technician, reason)
        done = "Mail verworfen." if result.changed else "Über diese Mail war schon entschieden."
    else:
        to_case = text_field(form, "to_case", "Auftragsnummer", 40)
        result = await heldmail.release(runtime, ticket, mail_id, technician, to_case)
        done = ("Mail als Antwort des Kunden übernommen." if result.changed
                else "Über diese Mail war schon entschieden.")
    if console.board.started:
        await console.board.caught_up(result.version, timeout_s=1.0)
    return done
