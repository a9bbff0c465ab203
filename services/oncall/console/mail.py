"""The console's held and quarantined mail: the list (``/console/mail``), one ticket's or
quarantine entry's waiting mails, readable (``/console/mail/<ticket>``), and the
technician's decisions on one mail (release to a ticket, discard, open a new ticket from
it: ``/console/mail/<ticket>/<mail>/new-ticket``), CSRF-checked."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.oncall import heldmail
from services.oncall.console.forms import MAX_NOTE, FormError, text_field
from services.oncall.console.labels import BERLIN, form_error_text, refusal_text
from services.oncall.console.sessions import FLASH_COOKIE, flash_value
from services.oncall.console.web import Console
from services.oncall.mailticket import MailTickets
from shared.adapters.eventstore import ConcurrencyConflict, EventStoreError, RecordedEvent
from shared.domain import events as ev
from shared.domain.casenumber import is_valid_case_number
from shared.domain.events.request import Language
from shared.domain.requestform import ALL_FIELDS, FieldError, name_parts, validate
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
        return console.render("mailbox.html", request, session, entries=waiting_mails(console))

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
        return console.render("held_mail.html", request, session, ticket=ticket, mails=mails,
                            is_ticket=is_valid_case_number(ticket),
                            decided=decisions(history.events))

    tickets = MailTickets(console.runtime)

    @router.get("/mail/{ticket}/{mail_id}/new-ticket")
    async def new_ticket_form(request: Request, ticket: str, mail_id: str) -> Response:
        session = await console.require_session(request)
        mail = await _waiting(console, ticket, unquote(mail_id))
        if mail is None:
            return await console.not_found(request, "Diese Mail wartet nicht (mehr).")
        return console.render("new_ticket.html", request, session, ticket=ticket,
                            mail_id=mail_id_of(mail), mail=mail, values=prefill(mail),
                            errors={})

    @router.post("/mail/{ticket}/{mail_id}/new-ticket")
    async def open_ticket(request: Request, ticket: str, mail_id: str) -> Response:
        session = await console.require_session(request)
        form = await console.form(request, session)
        mail_id = unquote(mail_id)
        if not heldmail.is_mail_holder(ticket):
            return await console.not_found(request, "Weder Auftrag noch Quarantäne-Eintrag.")
        today = console.runtime.clock().astimezone(BERLIN).date()
        checked = validate(dict(form), "form", today)
        language: Language = "en" if form.get("language") == "en" else "de"
        if isinstance(checked, dict):  # wrong fields: the form again, nothing stored
            mail = await _waiting(console, ticket, mail_id)
            if mail is None:
                return await console.not_found(request, "Diese Mail wartet nicht (mehr).")
            return console.render("new_ticket.html", request, session, status_code=422,
                                ticket=ticket, mail_id=mail_id, mail=mail,
                                values=dict(form), errors=_error_texts(checked))
        try:
            opened = await tickets.open_ticket(ticket, mail_id, session.technician.id,
                                               checked, language)
        except DomainError as error:
            return _flash(console, request, f"/console/mail/{ticket}", "error",
                          refusal_text(error))
        except (ConcurrencyConflict, EventStoreError) as error:
            log.warning("console: ticket from mail %s on %s failed: %s", mail_id, ticket,
                        error)
            return _flash(console, request, f"/console/mail/{ticket}", "error",
                          "Gerade geändert – bitte erneut versuchen.")
        if console.board.started:
            await console.board.caught_up(await console.runtime.store.leader_version(
                opened.case_number), timeout_s=1.0)
        text = (f"Ticket {opened.case_number} aus der Mail angelegt." if opened.created
                else f"Die Mail war schon Ticket {opened.case_number}.")
        return _flash(console, request, f"/console/tickets/{opened.case_number}", "ok", text)

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
        return _flash(console, request, f"/console/mail/{ticket}", kind, text)


def _flash(console: Console, request: Request, location: str, kind: str,
           text: str) -> Response:
    """Back to ``location`` with the action's message."""
    response = RedirectResponse(location, status_code=303)
    response.set_cookie(FLASH_COOKIE, flash_value(console.secret, kind, text), max_age=60,
                        path="/console", httponly=True, samesite="lax",
                        secure=console.secure_cookies(request))
    return response


async def _waiting(console: Console, ticket: str, mail_id: str) -> ev.PendingMail | None:
    if not heldmail.is_mail_holder(ticket) or not heldmail.MAIL_ID.match(mail_id):
        return None
    return (await console.runtime.store.load(ticket)).state.pending_mail(mail_id)


@dataclass(frozen=True)
class Decision:
    """A mail decided by a technician: released, discarded, or opened as a new ticket."""

    mail_id: str
    at: datetime
    technician: str
    kind: str  # "released", "discarded", "opened"
    case_number: str = ""


def decisions(events: Sequence[RecordedEvent]) -> list[Decision]:
    """The technicians' decisions on this holder's mails, in order."""
    found = []
    for recorded in events:
        event = recorded.event
        if isinstance(event, ev.MailOpenedAsTicket):
            found.append(Decision(event.mail_id, event.at, event.technician, "opened",
                                  event.case_number))
        elif isinstance(event, ev.MailReleased):
            found.append(Decision(event.mail_id, event.at, event.technician, "released",
                                  event.case_number))
        elif isinstance(event, ev.MailDiscarded):
            found.append(Decision(event.mail_id, event.at, event.technician, "discarded"))
    return found


def prefill(mail: ev.PendingMail) -> dict[str, Any]:
    """The request form filled from the mail: sender, name, subject, text."""
    first, last = name_parts(mail.sender_name)
    subject = mail.subject.strip()
    return {"email": mail.sender, "first_name": first, "last_name": last,
            "short_description": subject[:80], "actual_behaviour": mail.text[:4000],
            "language": "de"}


def _error_texts(errors: dict[str, FieldError]) -> dict[str, str]:
    return {name: form_error_text(error.code, error.values) for name, error in errors.items()
            if name in ALL_FIELDS}


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
