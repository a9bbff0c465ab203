"""Rendering the intake pages (Jinja2, autoescaped) in the customer's language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypedDict
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.intake.catalogue import DE, Language, text
from services.intake.protection import style_hash
from shared.adapters.eventstore import TicketHistory
from shared.domain import events as ev
from shared.domain.requestform import FieldError

TEMPLATES = Path(__file__).parent / "templates"
BERLIN = ZoneInfo("Europe/Berlin")
CSS = (TEMPLATES / "style.css").read_text(encoding="utf-8")
STYLE_HASH = style_hash(CSS)

_environment = Environment(loader=FileSystemLoader(TEMPLATES),
                           autoescape=select_autoescape(default=True, default_for_string=True),
                           trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class AttachmentLink:
    """A file of a customer reply as the status page lists it."""

    name: str
    size: str
    url: str


@dataclass(frozen=True)
class HistoryEntry:
    iso: str
    when: str
    label: str
    detail: str = ""
    attachments: tuple[AttachmentLink, ...] = ()
    # The conversation's text: the customer's reply or a technician's answer.
    message: str = ""
    author: str = ""  # "customer" | "technician" | "" (a state change)


# Builds the download URL of an attachment (by sha256) on this ticket's status page.
AttachmentUrl = Callable[[str], str]


def other(language: Language) -> Language:
    return "en" if language == "de" else "de"


def render(template: str, language: Language, *, status_code: int = 200,
           switch_url: str | None = None, **context: object) -> HTMLResponse:
    """A page in ``language``; ``switch_url`` offers the same page in the other one."""
    page = _environment.get_template(template).render(
        t=lambda key, **values: text(language, key, **values), language=language,
        other_language=other(language), switch_url=switch_url, css=CSS, **context)
    return HTMLResponse(page, status_code=status_code)


def error_messages(errors: dict[str, FieldError], language: Language) -> dict[str, str]:
    """One message per wrong field, in ``language``."""
    return {name: text(language, f"error.{error.code}", **error.values)
            for name, error in errors.items()}


def message_page(language: Language, key: str, *, status_code: int, link: str | None = None,
                 link_text: str = "", **values: object) -> HTMLResponse:
    return render("message.html", language, status_code=status_code,
                  heading=text(language, "page.title"), message=text(language, key, **values),
                  link=link, link_text=link_text)


def format_time(moment: datetime, language: Language) -> str:
    return moment.astimezone(BERLIN).strftime(text(language, "time.format"))


def field_labels(names: tuple[str, ...], language: Language) -> list[str]:
    return [text(language, f"field.{name}") for name in names]


def format_size(size: int, language: Language) -> str:
    """A file size as people read it: "820 B", "12.3 KB" ("12,3 KB" in German)."""
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            break
        value /= 1000
    shown = f"{int(value)}" if unit == "B" else f"{value:.1f}"
    return f"{shown.replace('.', ',') if language == 'de' else shown} {unit}"


def history_entries(history: TicketHistory, language: Language,
                    attachment_url: AttachmentUrl | None = None) -> list[HistoryEntry]:
    """The customer-visible events of a ticket, oldest first: the conversation (the
    customer's replies and the technicians' answers with their texts) between the state
    changes. With ``attachment_url`` their files are linked for download. Of a technician
    only the first name is shown; internal notes are not customer-visible at all."""
    entries = []
    for recorded in history.events:
        event = recorded.event
        if not type(event).CUSTOMER_VISIBLE:
            continue
        key = f"event.{type(event).__name__}"
        label = text(language, key if key in DE else "event.other")
        message, author = "", ""
        if isinstance(event, ev.TechnicianResponded) and _is_answer(event):
            name = event.first_name or text(language, "status.technician")
            label = text(language, "event.TechnicianAnswered", name=name)
            message, author = event.message, "technician"
        elif isinstance(event, ev.CustomerReplied):
            message, author = event.text, "customer"
        files: tuple[AttachmentLink, ...] = ()
        if (isinstance(event, CONVERSATION) and attachment_url is not None
                and not history.state.personal_data_erased):
            files = tuple(AttachmentLink(ref.filename or ref.sha256[:12],
                                         format_size(ref.size, language),
                                         attachment_url(ref.sha256))
                          for ref in event.attachments)
        entries.append(HistoryEntry(iso=event.at.isoformat(), when=format_time(event.at, language),
                                    label=label, detail=_detail(event, language),
                                    attachments=files, message=message, author=author))
    return entries


# The events whose files the customer sees: their own replies' and the answers'.
CONVERSATION = (ev.CustomerReplied, ev.TechnicianResponded)


def _is_answer(event: ev.TechnicianResponded) -> bool:
    return bool(event.message.strip() or event.attachments)


def visible_attachments(history: TicketHistory) -> dict[str, ev.AttachmentRef]:
    """The files the status page offers: those of customer replies and technicians'
    answers, by sha256 (the first reference names the file). Quarantined and held mail is
    never offered, nor anything of an erased ticket (its files are deleted)."""
    found: dict[str, ev.AttachmentRef] = {}
    if history.state.personal_data_erased:
        return found
    for recorded in history.events:
        if isinstance(recorded.event, CONVERSATION):
            for ref in recorded.event.attachments:
                found.setdefault(ref.sha256, ref)
    return found


def _detail(event: ev.Event, language: Language) -> str:
    if isinstance(event, ev.TicketDeclined):
        return event.reason
    if isinstance(event, ev.TicketResolved):
        return event.resolution
    if isinstance(event, ev.InvoiceIssued):
        return event.invoice_number
    if isinstance(event, ev.CustomerReplied) and event.redacted:
        return text(language, "status.reply_redacted")
    if isinstance(event, ev.PriorityEscalated | ev.ResponseDeadlineSet):
        deadline = getattr(event, "reaction_deadline", None) or getattr(event, "deadline", None)
        return format_time(deadline, language) if deadline else ""
    return ""


class StatusContext(TypedDict):
    """What the status page shows (and nothing named like a parameter of ``render``)."""

    case_number: str
    request: ev.RequestSubmitted | None
    state_label: str
    deadline: str | None
    deadline_iso: str
    history: list[HistoryEntry]


def status_context(history: TicketHistory, language: Language,
                   attachment_url: AttachmentUrl | None = None) -> StatusContext:
    """What the status page shows: state, SLA deadline and the customer-visible history."""
    state = history.state
    deadline = state.reaction_deadline or state.response_deadline
    return {
        "case_number": state.case_number, "request": state.request,
        "state_label": text(language, f"state.{state.status}"),
        "deadline": format_time(deadline, language) if deadline else None,
        "deadline_iso": deadline.isoformat() if deadline else "",
        "history": history_entries(history, language, attachment_url),
    }
