"""What the ticket page shows besides the request: the history in people's words, the SLA
clocks, receipt problems and which actions make sense in the ticket's status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypedDict

import msgspec

from services.oncall.console.labels import (
    BERLIN,
    CLOCK_LABELS,
    EVENT_TITLES,
    FIELD_LABELS,
    VALUE_LABELS,
    berlin,
    duration_label,
    time_left_label,
    value_label,
)
from services.oncall.ticketboard import receipt_problem
from shared.adapters.eventstore import RecordedEvent
from shared.domain import events as ev
from shared.domain.ticket import TicketState
from shared.domain.ticket.decide import ACTIVE, TIME_LOGGABLE
from shared.runtime.accounts import Technician

ACTOR_FIELDS = ("technician", "by", "issued_by", "sender")
# Facts of these types are shown; nested structures (the request, attachments) are not.
PLAIN_VALUES = (str, int, bool, Decimal, date, datetime)


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
            label = VALUE_LABELS.get(key, {}).get(str(value)) or value_label(value)
            details.append((FIELD_LABELS[key], label))
    attachments = event.attachments if isinstance(
        event, ev.CustomerReplied | ev.ReplyQuarantined | ev.TechnicianResponded) else ()
    return EventView(seq=recorded.seq, at=event.at, title=EVENT_TITLES.get(name, name),
                     actor=actor, details=details, attachments=attachments)



# -- SLA clocks and the receipt -----------------------------------------------------------------


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


MAIL_KINDS = {"answer": "Antwort", "accepted": "Annahme", "resolved": "Lösung"}


def mail_failure_notices(state: TicketState) -> list[str]:
    """The customer's mails the mail server refused for good (``CustomerMailFailed``): the
    customer did not get them."""
    return [f"Mail an den Kunden nicht zustellbar ({MAIL_KINDS.get(f.kind, f.kind)}, "
            f"{berlin(f.at)}): {f.error}. Bitte den Kunden anrufen und die Adresse prüfen."
            for f in state.mail_failures]


# -- what the page offers -------------------------------------------------------------------------


def available_actions(state: TicketState, tech: Technician) -> dict[str, bool]:
    """Which action forms the ticket page offers; the decider still judges each one."""
    return {
        "acknowledge": (state.is_escalated and state.page_acknowledged_by is None
                        and state.first_response_at is None and state.status in ACTIVE),
        "accept": state.status == "awaiting_acceptance",
        "decline": state.status == "awaiting_acceptance",
        "respond": state.status in ACTIVE,
        "note": state.status != "new",
        "log_time": state.status in TIME_LOGGABLE,
        "resolve": state.status in ACTIVE,
    }


class TimeDefaults(TypedDict):
    default_start: str
    default_end: str


def time_defaults() -> TimeDefaults:
    """Pre-filled start/end of the log-time form: the last half hour, Berlin time."""
    now = datetime.now(BERLIN).replace(second=0, microsecond=0)
    now -= timedelta(minutes=now.minute % 5)
    return {"default_start": (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
            "default_end": now.strftime("%Y-%m-%dT%H:%M")}
