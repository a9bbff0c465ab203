"""Rendering the intake pages (Jinja2, autoescaped) in the customer's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.intake.catalogue import DE, Language, text
from services.intake.protection import style_hash
from services.intake.validation import FieldError
from shared import events as ev
from shared.eventstore import TicketHistory
from shared.ticket import fold

TEMPLATES = Path(__file__).parent / "templates"
BERLIN = ZoneInfo("Europe/Berlin")
CSS = (TEMPLATES / "style.css").read_text(encoding="utf-8")
STYLE_HASH = style_hash(CSS)

_environment = Environment(loader=FileSystemLoader(TEMPLATES),
                           autoescape=select_autoescape(default=True, default_for_string=True),
                           trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class HistoryEntry:
    iso: str
    when: str
    label: str
    detail: str = ""


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


def history_entries(history: TicketHistory, language: Language) -> list[HistoryEntry]:
    """The customer-visible events of a ticket, oldest first."""
    entries = []
    for recorded in history.events:
        event = recorded.event
        if not type(event).CUSTOMER_VISIBLE:
            continue
        key = f"event.{type(event).__name__}"
        label = text(language, key if key in DE else "event.other")
        entries.append(HistoryEntry(iso=event.at.isoformat(), when=format_time(event.at, language),
                                    label=label, detail=_detail(event, language)))
    return entries


def _detail(event: ev.Event, language: Language) -> str:
    if isinstance(event, ev.TicketDeclined):
        return event.reason
    if isinstance(event, ev.InvoiceIssued):
        return event.invoice_number
    if isinstance(event, ev.PriorityEscalated | ev.ResponseDeadlineSet):
        deadline = getattr(event, "reaction_deadline", None) or getattr(event, "deadline", None)
        return format_time(deadline, language) if deadline else ""
    return ""


def status_context(history: TicketHistory, language: Language) -> dict[str, object]:
    """What the status page shows: state, SLA deadline and the customer-visible history."""
    state = fold(recorded.event for recorded in history.events)
    deadline = state.reaction_deadline or state.response_deadline
    return {
        "case_number": state.case_number, "request": state.request,
        "state_label": text(language, f"state.{state.status}"),
        "deadline": format_time(deadline, language) if deadline else None,
        "deadline_iso": deadline.isoformat() if deadline else "",
        "history": history_entries(history, language),
    }
