"""The technician console: server-rendered pages behind a login.

``/console`` is the queue (open tickets by nearest deadline), ``/console/tickets/<case>``
a ticket's request and full history with the actions acknowledge, accept, decline,
respond, log time and resolve. Every action goes through the decider (the single source
of rules) via :mod:`services.oncall.actions`; a refusal is shown on the page and stores
nothing. Sessions are the signed cookie of :mod:`shared.runtime.auth`; every form carries a CSRF
token derived from the session (the login form one derived from a pre-session cookie).
The ticket page also shows the SLA clocks, receipt problems and the running total of the
time not yet invoiced. The UI speaks German (the technicians of a German MSP).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import msgspec
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError

from services.oncall import actions
from services.oncall.readmodel import TicketBoard, receipt_problem
from shared.adapters.eventstore import ConcurrencyConflict, EventStoreError, RecordedEvent
from shared.application.timeentries import TechnicianEntries, log_time
from shared.domain import events as ev
from shared.domain.calendar import BusinessCalendar, calendar_from_settings
from shared.domain.casenumber import is_valid_case_number
from shared.domain.money import format_amount
from shared.domain.pricing import Quote, running_total
from shared.domain.ticket import DomainError, TicketState, fold
from shared.domain.ticket import commands as c
from shared.domain.ticket.decide import ACTIVE, TIME_LOGGABLE
from shared.runtime.accounts import Technician
from shared.runtime.auth import SESSION_COOKIE, SESSION_TTL_S, session_cookie_value
from shared.runtime.auth import technician_from_session as _technician_from_session
from shared.runtime.context import Runtime

log = logging.getLogger(__name__)

BERLIN = ZoneInfo("Europe/Berlin")
TEMPLATE_DIR = Path(__file__).parent / "templates" / "console"
BOARD_KEY = "console.board"
FLASH_COOKIE = "tc_console_flash"
# A random value given to the login page before there is a session; the login form's CSRF
# token is its HMAC, so a foreign site can neither read nor forge it (no login CSRF).
LOGIN_CSRF_COOKIE = "tc_console_login"
LOGIN_CSRF_TTL_S = 2 * 3600
LOGIN_NONCE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
LOGIN_PATH = "/console/login"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
ENTRY_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_TEXT = 10_000
MAX_NOTE = 2_000
# Attachments are always downloaded (Content-Disposition: attachment); only these types
# keep their own content type, anything else is sent as opaque bytes.
SAFE_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "application/pdf",
                                "text/plain"})
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src 'self'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

STATUS_LABELS = {
    "submitted": "eingegangen", "awaiting_acceptance": "wartet auf Annahme",
    "declined": "abgelehnt", "open": "offen", "in_progress": "in Bearbeitung",
    "resolved": "gelöst", "closed": "geschlossen", "invoiced": "abgerechnet",
}
# German wording of the decider's refusals by their stable code; unknown codes show the
# decider's own (English) message.
REFUSALS = {
    "unknown_ticket": "Dieses Ticket gibt es nicht.",
    "invalid_case_number": "Das ist keine gültige Auftragsnummer.",
    "not_awaiting_acceptance": "Das Ticket wartet nicht (mehr) auf Annahme.",
    "reason_required": "Bitte einen Grund angeben.",
    "not_paged": "Für dieses Ticket gibt es keinen Alarm zu übernehmen.",
    "not_paged_person": "Nur der alarmierte Techniker kann den Alarm übernehmen.",
    "not_accepted": "Bitte das Ticket zuerst annehmen.",
    "not_active": "Das Ticket ist nicht (mehr) in Bearbeitung.",
    "ticket_not_open_for_time": "Auf diesem Ticket kann keine Zeit mehr erfasst werden.",
    "unknown_kind": "Unbekannte Art: bitte Arbeit oder Anfahrt wählen.",
    "end_not_after_start": "Das Ende muss nach dem Beginn liegen.",
    "entry_in_future": "Der Eintrag endet in der Zukunft.",
    "overlapping_entry": "Der Eintrag überschneidet sich mit einem eigenen Eintrag.",
}
EVENT_TITLES = {
    "RequestSubmitted": "Anfrage eingegangen",
    "AwaitingAcceptance": "Wartet auf Annahme (kein SLA)",
    "TicketAccepted": "Angenommen", "TicketDeclined": "Abgelehnt",
    "AckSent": "Eingangsbestätigung versendet",
    "AckFailed": "Eingangsbestätigung fehlgeschlagen",
    "ReceiptOverdue": "Eingangsbestätigung überfällig",
    "PriorityEscalated": "Priorität: Bereitschaft alarmiert",
    "ResponseDeadlineSet": "Antwortfrist gesetzt",
    "OnCallReNotified": "Erneut alarmiert", "OnCallEscalated": "Nächste Eskalationsstufe",
    "OnCallAcknowledged": "Alarm übernommen", "TechnicianResponded": "Antwort an den Kunden",
    "SlaBreached": "SLA-Frist verletzt", "CustomerReplied": "Antwort des Kunden",
    "AutoReplyRecorded": "Automatische Antwort", "ReplyQuarantined": "Mail in Quarantäne",
    "TimeLogged": "Zeit erfasst", "TimeEntryVoided": "Zeiteintrag storniert",
    "InvoiceIssued": "Rechnung gestellt", "InvoiceCancelled": "Rechnung storniert",
    "TicketResolved": "Gelöst", "TicketReopened": "Wieder geöffnet",
    "TicketClosed": "Geschlossen",
}
FIELD_LABELS = {
    "reason": "Grund", "message": "Nachricht", "text": "Text", "subject": "Betreff",
    "level": "Stufe", "attempt": "Versuch", "reaction_deadline": "Reaktionsfrist",
    "deadline": "Frist", "clock": "Frist-Art", "recipient": "Empfänger", "error": "Fehler",
    "permanent": "endgültig", "entry_id": "Eintrag", "start": "Von", "end": "Bis",
    "kind": "Art", "note": "Notiz", "resolution": "Lösung", "invoice_number": "Rechnungsnr.",
    "credit_note_number": "Gutschrift", "gross": "Brutto", "net": "Netto",
    "customer_id": "Kunde", "minutes_since_submission": "Minuten seit Eingang",
    "candidate_case_number": "Vermuteter Fall", "redacted": "Zugangsdaten entfernt",
    "message_id": "Message-ID", "invoice_date": "Rechnungsdatum", "due_date": "Fällig",
}
# Words of closed vocabularies (time kind, SLA clock), never of free text.
VALUE_LABELS = {"kind": {"work": "Arbeit", "travel": "Anfahrt"},
                "clock": {"reaction": "Reaktion", "first_response": "Erstantwort"}}
ACTOR_FIELDS = ("technician", "by", "issued_by", "sender")
PLAIN_VALUES = (str, int, bool, Decimal, date, datetime)


class FormError(Exception):
    """A form field is missing or malformed; the message names the field (in German)."""


# -- formatting -----------------------------------------------------------------------------


def berlin(moment: datetime | None) -> str:
    """``moment`` as Europe/Berlin wall-clock time, e.g. ``25.11.2026 17:50``."""
    if moment is None:
        return "–"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")


def duration_label(delta: timedelta) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def time_left_label(delta: timedelta | None) -> str:
    """``noch 2 h 05 min`` or ``überfällig seit 10 min``; ``–`` without a running deadline."""
    if delta is None:
        return "–"
    if delta < timedelta(0):
        return f"überfällig seit {duration_label(delta)}"
    return f"noch {duration_label(delta)}"


def _value_label(value: object) -> str:
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, datetime):
        return berlin(value)
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return str(value)


_env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_env.filters["berlin"] = berlin
_env.filters["time_left"] = time_left_label
_env.filters["status"] = lambda status: STATUS_LABELS.get(status, status)
_env.filters["amount"] = lambda amount: format_amount(amount).replace(".", ",") + " €"
_env.filters["multiplier"] = lambda factor: f"×{factor.normalize():f}".replace(".", ",")
_env.filters["kind"] = lambda kind: VALUE_LABELS["kind"].get(kind, kind)


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


# -- the history of a ticket -------------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    """One line of a ticket's history as the page shows it."""

    seq: int
    at: datetime
    title: str
    actor: str
    details: list[tuple[str, str]]
    attachments: tuple[ev.AttachmentRef, ...] = ()


def describe(recorded: RecordedEvent) -> EventView:
    """The event in people's words: title, who did it, the facts it carries."""
    event = recorded.event
    name = type(event).__name__
    values = msgspec.structs.asdict(event)
    actor = next((str(values[f]) for f in ACTOR_FIELDS if values.get(f)), "")
    details: list[tuple[str, str]] = []
    if isinstance(event, ev.RequestSubmitted):
        actor = f"{event.contact.full_name} <{event.contact.email}>"
        details.append(("Kanal", event.channel))
    elif isinstance(event, ev.TimeLogged):
        details.append(("Dauer", duration_label(event.end - event.start)))
    for key, value in values.items():
        if key in ("at", *ACTOR_FIELDS) or key not in FIELD_LABELS:
            continue
        if isinstance(value, PLAIN_VALUES) and value not in ("", None):
            label = VALUE_LABELS.get(key, {}).get(str(value)) or _value_label(value)
            details.append((FIELD_LABELS[key], label))
    attachments = event.attachments if isinstance(
        event, ev.CustomerReplied | ev.ReplyQuarantined) else ()
    return EventView(seq=recorded.seq, at=event.at, title=EVENT_TITLES.get(name, name),
                     actor=actor, details=details, attachments=attachments)


# -- SLA clocks and the receipt -----------------------------------------------------------------

CLOCK_LABELS = {"reaction": "Reaktion", "first_response": "Erstantwort"}


@dataclass(frozen=True)
class ClockView:
    """One SLA clock on the ticket page: its deadline and how it stands."""

    clock: str
    label: str
    deadline: datetime
    standing: str  # "verletzt" | "eingehalten" | "Antwort nach Fristablauf" | time left
    breached: bool
    time_left: timedelta | None  # only while the clock runs


def sla_clocks(state: TicketState, now: datetime) -> list[ClockView]:
    """The ticket's reaction and first-response clocks as of ``now``.

    A recorded ``SlaBreached`` reads "verletzt"; a response stops a clock ("eingehalten",
    or "Antwort nach Fristablauf" when it came late); a running one shows the time left
    (a passed deadline whose breach is not yet recorded shows as overdue)."""
    views = []
    for clock, deadline in (("reaction", state.reaction_deadline),
                            ("first_response", state.response_deadline)):
        if deadline is None:
            continue
        time_left = None
        if clock in state.breached_clocks:
            standing = "verletzt"
        elif state.first_response_at is not None:
            standing = ("eingehalten" if state.first_response_at <= deadline
                        else "Antwort nach Fristablauf")
        else:
            time_left = deadline - now
            standing = time_left_label(time_left)
        views.append(ClockView(clock=clock, label=CLOCK_LABELS[clock], deadline=deadline,
                               standing=standing, breached=clock in state.breached_clocks,
                               time_left=time_left))
    return views


def receipt_notice(state: TicketState, events: list[RecordedEvent]) -> str | None:
    """What technicians must know when the customer may lack the receipt (the case
    number): the mail server's refusal, or that it is overdue. None when all is well."""
    problem = receipt_problem(state)
    if problem == "undeliverable":
        error = next((r.event.error for r in reversed(events)
                      if isinstance(r.event, ev.AckFailed) and r.event.permanent), "")
        return f"Empfangsbestätigung nicht zustellbar: {error or 'unbekannter Fehler'}"
    if problem == "overdue":
        attempts = state.receipt_attempts
        tried = f" ({attempts} Versuche fehlgeschlagen)" if attempts else ""
        return ("Empfangsbestätigung überfällig: noch nicht versendet" + tried
                + ". Bitte den Kunden anrufen und die Auftragsnummer nennen.")
    return None


# -- forms ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeEntryForm:
    entry_id: str
    start: datetime
    end: datetime
    kind: str
    note: str


def berlin_local(value: str, label: str) -> datetime:
    """A ``datetime-local`` field (``2026-11-25T17:50``) read as Europe/Berlin, in UTC.

    A wall-clock time that does not exist (the hour skipped when DST starts) is refused;
    an ambiguous one (the hour repeated when DST ends) means its first occurrence.
    """
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FormError(f"{label}: bitte Datum und Uhrzeit angeben "
                        "(z. B. 2026-11-25T17:50).") from None
    if naive.tzinfo is not None:
        raise FormError(f"{label}: bitte Ortszeit ohne Zeitzone angeben.")
    local = naive.replace(tzinfo=BERLIN, fold=0)
    utc = local.astimezone(UTC)
    if utc.astimezone(BERLIN).replace(tzinfo=None) != naive:
        raise FormError(f"{label}: {naive:%d.%m.%Y %H:%M} gibt es in Berlin nicht "
                        "(Umstellung auf Sommerzeit).")
    return utc


def _text(form: Mapping[str, str], name: str, label: str, limit: int) -> str:
    value = form.get(name, "").strip()
    if len(value) > limit:
        raise FormError(f"{label}: höchstens {limit} Zeichen.")
    return value


def parse_time_entry(form: Mapping[str, str]) -> TimeEntryForm:
    """The log-time form, checked field by field (FormError names the field)."""
    entry_id = form.get("entry_id", "")
    if not ENTRY_ID.match(entry_id):
        raise FormError("Eintrag: ungültige Kennung, bitte die Seite neu laden.")
    kind = form.get("kind", "")
    if kind not in ("work", "travel"):
        raise FormError("Art: bitte Arbeit oder Anfahrt wählen.")
    return TimeEntryForm(entry_id=entry_id, start=berlin_local(form.get("start", ""), "Beginn"),
                         end=berlin_local(form.get("end", ""), "Ende"), kind=kind,
                         note=_text(form, "note", "Notiz", MAX_NOTE))


# -- sessions, CSRF and flash messages ------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    technician: Technician
    csrf: str


def csrf_token(secret: str, session_value: str) -> str:
    """The CSRF token of a session: an HMAC of the session cookie, never stored."""
    return hmac.new(secret.encode(), b"console-csrf:" + session_value.encode(),
                    hashlib.sha256).hexdigest()


def login_csrf_token(secret: str, nonce: str) -> str:
    """The login form's CSRF token: an HMAC of the pre-session cookie's random value."""
    return hmac.new(secret.encode(), b"console-login-csrf:" + nonce.encode(),
                    hashlib.sha256).hexdigest()


def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), b"console-flash:" + payload, hashlib.sha256).hexdigest()


def flash_value(secret: str, kind: str, text: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps([kind, text]).encode())
    return f"{payload.decode()}.{_sign(secret, payload)}"


def read_flash(secret: str, value: str | None) -> tuple[str, str] | None:
    """The flash message of the last action, if the cookie is ours and intact."""
    if not value or "." not in value:
        return None
    payload, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(_sign(secret, payload.encode()), signature):
        return None
    try:
        kind, text = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, TypeError):
        return None
    return str(kind), str(text)


def _login_redirect() -> HTTPException:
    return HTTPException(status_code=303, detail="login required",
                         headers={"Location": LOGIN_PATH})


# -- actions ---------------------------------------------------------------------------------------

ActionHandler = Callable[[Runtime, str, Technician, Mapping[str, str]],
                         Awaitable[tuple[str, int]]]


async def _acknowledge(runtime: Runtime, case: str, tech: Technician,
                       form: Mapping[str, str]) -> tuple[str, int]:
    result = await actions.acknowledge(runtime, case, tech.id)
    done = "Alarm übernommen." if result.changed else "Der Alarm war schon übernommen."
    return done, result.version


async def _accept(runtime: Runtime, case: str, tech: Technician,
                  form: Mapping[str, str]) -> tuple[str, int]:
    result = await actions.accept(runtime, case, tech.id)
    return "Ticket angenommen.", result.version


async def _decline(runtime: Runtime, case: str, tech: Technician,
                   form: Mapping[str, str]) -> tuple[str, int]:
    reason = _text(form, "reason", "Grund", MAX_NOTE)
    result = await actions.decline(runtime, case, tech.id, reason)
    return "Ticket abgelehnt; der Kunde erhält den Grund per Mail.", result.version


async def _respond(runtime: Runtime, case: str, tech: Technician,
                   form: Mapping[str, str]) -> tuple[str, int]:
    message = _text(form, "message", "Nachricht", MAX_TEXT)
    if not message:
        raise FormError("Nachricht: bitte eine Antwort eingeben.")
    request_id = form.get("request_id", "")
    if not ENTRY_ID.match(request_id):
        raise FormError("Antwort: ungültige Kennung, bitte die Seite neu laden.")
    result = await actions.respond(runtime, case, tech.id, message, request_id=request_id)
    return "Antwort erfasst.", result.version


async def technician_entries(runtime: Runtime) -> TechnicianEntries:
    """The cross-ticket entries read model (its bucket is made, and filled, on first use)."""
    entries = runtime.extras.get("timeentries")
    if entries is None:
        entries = TechnicianEntries(
            runtime.js, runtime.store,
            reservation_timeout_s=runtime.settings.billing.entry_reservation_timeout_s)
        await entries.ensure()
        runtime.extras["timeentries"] = entries
    return entries  # type: ignore[return-value]


async def _log_time(runtime: Runtime, case: str, tech: Technician,
                    form: Mapping[str, str]) -> tuple[str, int]:
    entry = parse_time_entry(form)
    # The entry id comes from the form (a fresh uuid4 per page view): a form sent twice
    # is stored once, because the decider ignores an entry id it already has.
    # The same path as the billing API: overlaps on other tickets are refused too.
    command = c.LogTime(at=datetime.now(UTC), entry_id=entry.entry_id, technician=tech.id,
                        start=entry.start, end=entry.end, kind=entry.kind, note=entry.note)
    result = await log_time(runtime.store, await technician_entries(runtime), case, command)
    minutes = int((entry.end - entry.start).total_seconds() // 60)
    done = f"{minutes} min erfasst." if result.changed else "Der Eintrag war schon erfasst."
    return done, result.version


async def _resolve(runtime: Runtime, case: str, tech: Technician,
                   form: Mapping[str, str]) -> tuple[str, int]:
    resolution = _text(form, "resolution", "Lösung", MAX_TEXT)
    result = await actions.resolve(runtime, case, tech.id, resolution)
    return "Ticket gelöst.", result.version


ACTIONS: dict[str, ActionHandler] = {
    "acknowledge": _acknowledge, "accept": _accept, "decline": _decline,
    "respond": _respond, "log-time": _log_time, "resolve": _resolve,
}


def refusal_text(error: DomainError) -> str:
    other_ticket = re.search(r"on ticket (\S+)", error.message)
    if error.code == "overlapping_entry" and other_ticket:
        return ("Der Eintrag überschneidet sich mit einem eigenen Eintrag auf Ticket "
                f"{other_ticket.group(1)}.")
    return REFUSALS.get(error.code, error.message)


# -- attachments -------------------------------------------------------------------------------


async def read_attachment(runtime: Runtime, sha256: str) -> bytes | None:
    """The bytes stored under ``sha256`` in the attachments object store (None: missing).

    Inbound mail stores each file once, named by its content hash; the bucket is the
    contract between the services (services never import each other), so the console
    reads it directly."""
    try:
        bucket = await runtime.js.object_store(runtime.settings.inbound_mail.attachments_bucket)
        result = await bucket.get(sha256)
    except (BucketNotFoundError, ObjectNotFoundError, NotFoundError):
        return None
    return bytes(result.data or b"")


def content_disposition(filename: str) -> str:
    ascii_name = re.sub(r'[^A-Za-z0-9._ -]', "_", filename)[:150] or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


# -- the router -----------------------------------------------------------------------------------


@dataclass
class Console:
    """The console's collaborators: the runtime and the queue read model."""

    runtime: Runtime
    board: TicketBoard
    secret: str = field(init=False)
    _calendar: BusinessCalendar | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.secret = self.runtime.settings.secret_key

    def running_total(self, state: TicketState) -> Quote | None:
        """What the ticket's uninvoiced time would cost now (None: nothing to bill)."""
        if not state.uninvoiced_entries:
            return None
        if self._calendar is None:
            self._calendar = calendar_from_settings(self.runtime.settings.billing)
        return running_total(state, self.runtime.settings, self._calendar)

    def login_page(self, request: Request, status_code: int = 200,
                   error: str | None = None, technician_id: str = "") -> HTMLResponse:
        """The login form with its CSRF token; keeps a valid pre-session cookie (two
        tabs keep working) and sets a fresh one otherwise."""
        nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not LOGIN_NONCE.match(nonce):
            nonce = secrets.token_urlsafe(32)
        response = render("login.html", status_code, technician=None, flash=None,
                          csrf=login_csrf_token(self.secret, nonce), error=error,
                          technician_id=technician_id)
        response.set_cookie(LOGIN_CSRF_COOKIE, nonce, max_age=LOGIN_CSRF_TTL_S,
                            path=LOGIN_PATH, httponly=True, samesite="lax",
                            secure=self.secure_cookies(request))
        return response

    def login_csrf_ok(self, request: Request, token: str) -> bool:
        nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        return bool(LOGIN_NONCE.match(nonce)) and hmac.compare_digest(
            token, login_csrf_token(self.secret, nonce))

    def session(self, request: Request) -> Session | None:
        value = request.cookies.get(SESSION_COOKIE)
        if not value:
            return None
        tech = _technician_from_session(self.runtime.accounts, self.secret, value)
        if tech is None:
            return None
        return Session(technician=tech, csrf=csrf_token(self.secret, value))

    def require_session(self, request: Request) -> Session:
        session = self.session(request)
        if session is None:
            raise _login_redirect()
        return session

    async def form(self, request: Request, session: Session) -> dict[str, str]:
        """The posted form as strings, after checking its CSRF token (403 otherwise)."""
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if not hmac.compare_digest(fields.get("csrf", ""), session.csrf):
            raise HTTPException(status_code=403, detail="invalid CSRF token")
        return fields

    def secure_cookies(self, request: Request) -> bool:
        return request.url.scheme == "https" or self.runtime.public_url.startswith("https")

    def page(self, name: str, request: Request, session: Session | None,
             status_code: int = 200, **context: Any) -> HTMLResponse:
        flash = read_flash(self.secret, request.cookies.get(FLASH_COOKIE))
        response = render(name, status_code, technician=session.technician if session else None,
                          csrf=session.csrf if session else "", flash=flash, **context)
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path="/console")
        return response


def board_of(runtime: Runtime) -> TicketBoard:
    """The runtime's one queue read model (created on first use, started lazily)."""
    board = runtime.extras.get(BOARD_KEY)
    if not isinstance(board, TicketBoard):
        board = TicketBoard(runtime.store)
        runtime.extras[BOARD_KEY] = board
    return board


def console_router(runtime: Runtime) -> APIRouter:
    """The console's routes under ``/console``. The queue read model starts on the first
    request (or earlier via ``board_of(runtime).start()``); stop it with ``.stop()``."""
    console = Console(runtime, board_of(runtime))
    router = APIRouter(prefix="/console", include_in_schema=False)
    _login_routes(router, console)
    _page_routes(router, console)
    _action_routes(router, console)
    return router


def _login_routes(router: APIRouter, console: Console) -> None:
    @router.get("/login")
    async def login_form(request: Request) -> Response:
        if console.session(request) is not None:
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
        # argon2 is deliberately slow: keep the event loop free while it runs.
        tech = await asyncio.to_thread(console.runtime.accounts.by_password,
                                       technician_id, password)
        if tech is None:
            return console.login_page(request, status_code=401,
                                      error="Kennung oder Passwort falsch.",
                                      technician_id=technician_id[:100])
        response = RedirectResponse("/console", status_code=303)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
        response.set_cookie(SESSION_COOKIE, session_cookie_value(console.secret, tech.id),
                            max_age=SESSION_TTL_S, path="/", httponly=True, samesite="lax",
                            secure=console.secure_cookies(request))
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session = console.require_session(request)
        await console.form(request, session)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def _page_routes(router: APIRouter, console: Console) -> None:
    @router.get("")
    async def queue(request: Request) -> Response:
        session = console.require_session(request)
        await console.board.start()
        entries = console.board.queue(datetime.now(UTC))
        return console.page("queue.html", request, session, entries=entries)

    @router.get("/find")
    async def find(request: Request, case: str = "") -> Response:
        console.require_session(request)
        case = case.strip().replace(" ", "")
        if is_valid_case_number(case):
            return RedirectResponse(f"/console/tickets/{case}", status_code=303)
        return _not_found(console, request, "Das ist keine gültige Auftragsnummer.")

    @router.get("/tickets/{case}")
    async def ticket(request: Request, case: str) -> Response:
        session = console.require_session(request)
        if not is_valid_case_number(case):
            return _not_found(console, request, "Das ist keine gültige Auftragsnummer.")
        history = await console.runtime.store.load(case)
        if not history.events:
            return _not_found(console, request, f"Kein Ticket {case}.")
        state = fold(r.event for r in history.events)
        return console.page("ticket.html", request, session, case=case, state=state,
                            events=[describe(r) for r in history.events],
                            clocks=sla_clocks(state, datetime.now(UTC)),
                            receipt_notice=receipt_notice(state, history.events),
                            total=console.running_total(state),
                            can=_available_actions(state, session.technician),
                            fresh_id=uuid.uuid4().hex, **_time_defaults())

    @router.get("/attachments/{sha256}")
    async def attachment(request: Request, sha256: str) -> Response:
        console.require_session(request)
        await console.board.start()
        ref = console.board.attachment(sha256) if SHA256_HEX.match(sha256) else None
        data = await read_attachment(console.runtime, sha256) if ref is not None else None
        if ref is None or data is None:
            return _not_found(console, request, "Diese Datei gibt es nicht.")
        media_type = ref.content_type if ref.content_type in SAFE_CONTENT_TYPES else (
            "application/octet-stream")
        return Response(data, media_type=media_type, headers={
            **SECURITY_HEADERS, "Content-Disposition": content_disposition(ref.filename)})


def _action_routes(router: APIRouter, console: Console) -> None:
    @router.post("/tickets/{case}/{action}")
    async def act(request: Request, case: str, action: str) -> Response:
        session = console.require_session(request)
        form = await console.form(request, session)
        handler = ACTIONS.get(action)
        if handler is None or not is_valid_case_number(case):
            return _not_found(console, request, "Diese Aktion gibt es nicht.")
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


def _not_found(console: Console, request: Request, message: str) -> HTMLResponse:
    return console.page("not_found.html", request, console.session(request), status_code=404,
                        message=message)


def _available_actions(state: TicketState, tech: Technician) -> dict[str, bool]:
    """Which action forms the ticket page offers; the decider still judges each one."""
    return {
        "acknowledge": (state.is_escalated and state.page_acknowledged_by is None
                        and state.first_response_at is None and state.status in ACTIVE),
        "accept": state.status == "awaiting_acceptance",
        "decline": state.status == "awaiting_acceptance",
        "respond": state.status in ACTIVE,
        "log_time": state.status in TIME_LOGGABLE,
        "resolve": state.status in ACTIVE,
    }


def _time_defaults() -> dict[str, str]:
    """Pre-filled start/end of the log-time form: the last half hour, Berlin time."""
    now = datetime.now(BERLIN).replace(second=0, microsecond=0)
    now -= timedelta(minutes=now.minute % 5)
    return {"default_start": (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
            "default_end": now.strftime("%Y-%m-%dT%H:%M")}
