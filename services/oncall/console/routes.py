"""The console's routes under ``/console``: login and logout, the queue, a ticket's page,
its files, and the actions on it."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.oncall.console.actions import console_actions
from services.oncall.console.announcements import announcement_routes
from services.oncall.console.forms import FormError
from services.oncall.console.labels import refusal_text
from services.oncall.console.mail import mail_routes
from services.oncall.console.pages import SECURITY_HEADERS
from services.oncall.console.sessions import (
    FLASH_COOKIE,
    LOGIN_CSRF_COOKIE,
    LOGIN_PATH,
    flash_value,
)
from services.oncall.console.views import (
    available_actions,
    describe,
    mail_failure_notices,
    receipt_notice,
    sla_clocks,
    time_defaults,
)
from services.oncall.console.web import Console
from services.oncall.heldmail import QUARANTINE_ENTRY
from services.oncall.readmodel import TicketBoard, attachments_of
from shared.adapters.attachments import AttachmentNotFound, read_attachment
from shared.adapters.eventstore import ConcurrencyConflict, EventStoreError
from shared.application.timeentries import TechnicianEntries
from shared.domain import events as ev
from shared.domain.casenumber import is_valid_case_number
from shared.domain.ticket import DomainError
from shared.runtime.auth import (
    SESSION_COOKIE,
    SESSION_TTL_S,
    Throttled,
    client_address,
    guarded_route,
)
from shared.runtime.context import Runtime
from shared.runtime.responses import attachment_download

log = logging.getLogger(__name__)

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def console_router(runtime: Runtime, board: TicketBoard,
                   entries: TechnicianEntries) -> APIRouter:
    """The console's routes under ``/console``, on the queue read model ``board`` (started
    by the oncall service, or on the first request) and the technicians' time ``entries``."""
    console = Console(runtime, board, console_actions(entries))
    login = APIRouter(prefix="/console", include_in_schema=False)
    _login_routes(login, console)
    # Every other page needs the session (and a change its CSRF token) before it runs.
    pages = APIRouter(prefix="/console", include_in_schema=False,
                      route_class=guarded_route(console.admit))
    _logout_routes(pages, console)
    _page_routes(pages, console)
    _action_routes(pages, console)
    announcement_routes(pages, console)
    mail_routes(pages, console)
    router = APIRouter()
    router.include_router(login)
    router.include_router(pages)
    return router


def _login_routes(router: APIRouter, console: Console) -> None:
    @router.get("/login")
    async def login_form(request: Request) -> Response:
        if await console.session(request) is not None:
            return RedirectResponse("/console", status_code=303)
        return console.login_page(request)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        technician_id = str(form.get("technician", "")).strip()
        password = str(form.get("password", ""))
        if not console.login_csrf_ok(request, str(form.get("csrf", ""))):
            # Checked before the password: a forged login never reaches argon2.
            return console.login_page(
                request, status_code=403, technician_id=technician_id[:100],
                error="Das Anmeldeformular ist abgelaufen – bitte erneut anmelden.")
        try:  # argon2 runs off the event loop; floods are throttled before hashing
            tech = await console.auth.password(client_address(request), technician_id,
                                               password)
        except Throttled as throttled:
            page = console.login_page(
                request, status_code=429, technician_id=technician_id[:100],
                error=f"Zu viele Anmeldeversuche – bitte in {throttled.retry_after_s} "
                "Sekunden erneut versuchen.")
            page.headers["Retry-After"] = str(throttled.retry_after_s)
            return page
        if tech is None:
            return console.login_page(request, status_code=401,
                                      error="Kennung oder Passwort falsch.",
                                      technician_id=technician_id[:100])
        response = RedirectResponse("/console", status_code=303)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
        log.info("console: %s logged in", tech.id)
        response.set_cookie(SESSION_COOKIE, await console.auth.open_session(tech),
                            max_age=SESSION_TTL_S, path="/", httponly=True, samesite="lax",
                            secure=console.secure_cookies(request))
        return response


def _logout_routes(router: APIRouter, console: Console) -> None:
    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session = await console.require_session(request)
        await console.form(request, session)
        await console.auth.close_session(session.cookie)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.post("/logout-everywhere")
    async def logout_everywhere(request: Request) -> Response:
        """End every session of this technician, on every device (a lost laptop)."""
        session = await console.require_session(request)
        await console.form(request, session)
        await console.auth.close_all_sessions(session.technician.id)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def _page_routes(router: APIRouter, console: Console) -> None:
    @router.get("")
    async def queue(request: Request) -> Response:
        session = await console.require_session(request)
        await console.board.start()
        entries = console.board.queue(datetime.now(UTC))
        return console.page("queue.html", request, session, entries=entries)

    @router.get("/find")
    async def find(request: Request, case: str = "") -> Response:
        await console.require_session(request)
        case = case.strip().replace(" ", "")
        if is_valid_case_number(case):
            return RedirectResponse(f"/console/tickets/{case}", status_code=303)
        if QUARANTINE_ENTRY.match(case):  # a quarantine entry: its mail
            return RedirectResponse(f"/console/mail/{case}", status_code=303)
        return await console.not_found(request, "Das ist keine gültige Auftragsnummer.")

    @router.get("/tickets/{case}")
    async def ticket(request: Request, case: str) -> Response:
        session = await console.require_session(request)
        if not is_valid_case_number(case):
            return await console.not_found(request, "Das ist keine gültige Auftragsnummer.")
        history = await console.runtime.store.load(case)
        if not history.events:
            return await console.not_found(request, f"Kein Ticket {case}.")
        state = history.state
        return console.page("ticket.html", request, session, case=case, state=state,
                            events=[describe(r) for r in history.events],
                            clocks=sla_clocks(state, datetime.now(UTC)),
                            receipt_notice=receipt_notice(state, history.events),
                            mail_failures=mail_failure_notices(state),
                            total=console.running_total(state),
                            can=available_actions(state, session.technician),
                            fresh_id=uuid.uuid4().hex, **time_defaults())

    @router.get("/attachments/{sha256}")
    async def attachment(request: Request, sha256: str) -> Response:
        await console.require_session(request)
        await console.board.start()
        ticket = console.board.attachment(sha256) if SHA256_HEX.match(sha256) else None
        ref = await _file_of(console, ticket, sha256) if ticket is not None else None
        data = await _read_file(console, sha256) if ref is not None else None
        if ref is None or data is None:
            return await console.not_found(request, "Diese Datei gibt es nicht.")
        return attachment_download(data, ref, headers=SECURITY_HEADERS)


def _action_routes(router: APIRouter, console: Console) -> None:
    @router.post("/tickets/{case}/{action}")
    async def act(request: Request, case: str, action: str) -> Response:
        session = await console.require_session(request)
        form = await console.form(request, session)
        handler = console.actions.get(action)
        if handler is None or not is_valid_case_number(case):
            return await console.not_found(request, "Diese Aktion gibt es nicht.")
        kind, text = "ok", ""
        try:
            text, version = await handler(console.runtime, case, session.technician, form)
            if console.board.started:  # let the queue show the change on the next view
                await console.board.caught_up(version, timeout_s=1.0)
        except DomainError as error:
            kind, text = "error", refusal_text(error)
        except FormError as error:
            kind, text = "error", str(error)
        except (ConcurrencyConflict, EventStoreError) as error:
            log.warning("console action %s on %s failed: %s", action, case, error)
            kind, text = "error", "Das Ticket wurde gerade geändert – bitte erneut versuchen."
        response = RedirectResponse(f"/console/tickets/{case}", status_code=303)
        response.set_cookie(FLASH_COOKIE, flash_value(console.secret, kind, text), max_age=60,
                            path="/console", httponly=True, samesite="lax",
                            secure=console.secure_cookies(request))
        return response


async def _file_of(console: Console, ticket: str, sha256: str) -> ev.AttachmentRef | None:
    """The reference to ``sha256`` on ``ticket``, unsealed (the board keeps no names)."""
    history = await console.runtime.store.load(ticket)
    if history.state.personal_data_erased:
        return None
    return next((ref for recorded in history.events for ref in attachments_of(recorded.event)
                 if ref.sha256 == sha256), None)


async def _read_file(console: Console, sha256: str) -> bytes | None:
    """A customer's file from the attachments store (None: the store lost it)."""
    bucket = console.runtime.settings.inbound_mail.attachments_bucket
    try:
        return await read_attachment(console.runtime.js, sha256, bucket=bucket)
    except AttachmentNotFound:
        return None
