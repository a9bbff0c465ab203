"""The console's actions as commands: each reads its form, lets the ticket's rules judge
it (the same functions as the HTTP API and the acknowledge link, see
:mod:`services.oncall.actions`) and says in German what was done. A refusal raises
DomainError, a wrong field FormError; neither stores anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial

from services.oncall import actions as ticket_actions
from services.oncall.answers import FileRefused
from services.oncall.console.forms import (
    ENTRY_ID,
    MAX_NOTE,
    MAX_TEXT,
    FormError,
    parse_time_entry,
    text_field,
    uploads_of,
)
from shared.adapters.technicianentries import TechnicianEntries
from shared.application.timeentries import log_time
from shared.domain.ticket import commands as c
from shared.runtime.accounts import Technician
from shared.runtime.runtime import Runtime

# An action: (runtime, case, technician, form) -> (what was done, the ticket's version after).
ActionHandler = Callable[[Runtime, str, Technician, Mapping[str, str]],
                         Awaitable[tuple[str, int]]]


async def _acknowledge(runtime: Runtime, case: str, tech: Technician,
                       form: Mapping[str, str]) -> tuple[str, int]:
    result = await ticket_actions.acknowledge(runtime, case, tech.id)
    done = "Alarm übernommen." if result.changed else "Der Alarm war schon übernommen."
    return done, result.version


async def _accept(runtime: Runtime, case: str, tech: Technician,
                  form: Mapping[str, str]) -> tuple[str, int]:
    result = await ticket_actions.accept(runtime, case, tech.id)
    return "Ticket angenommen.", result.version


async def _decline(runtime: Runtime, case: str, tech: Technician,
                   form: Mapping[str, str]) -> tuple[str, int]:
    reason = text_field(form, "reason", "Grund", MAX_NOTE)
    result = await ticket_actions.decline(runtime, case, tech.id, reason)
    return "Ticket abgelehnt; der Kunde erhält den Grund per Mail.", result.version


async def _respond(runtime: Runtime, case: str, tech: Technician,
                   form: Mapping[str, str]) -> tuple[str, int]:
    message = text_field(form, "message", "Nachricht", MAX_TEXT)
    if not message:
        raise FormError("Nachricht: bitte eine Antwort eingeben.")
    request_id = form.get("request_id", "")
    if not ENTRY_ID.match(request_id):
        raise FormError("Antwort: ungültige Kennung, bitte die Seite neu laden.")
    try:
        result = await ticket_actions.respond(runtime, case, tech.id, message,
                                              request_id=request_id, files=uploads_of(form))
    except FileRefused as refused:
        raise FormError(f"Anhang: {refused.german}") from None
    if not result.changed:
        return "Die Antwort war schon erfasst.", result.version
    return "Antwort erfasst; sie geht per Mail an den Kunden.", result.version


async def _note(runtime: Runtime, case: str, tech: Technician,
                form: Mapping[str, str]) -> tuple[str, int]:
    text = text_field(form, "text", "Interne Notiz", MAX_TEXT)
    if not text:
        raise FormError("Interne Notiz: bitte einen Text eingeben.")
    request_id = form.get("request_id", "")
    if not ENTRY_ID.match(request_id):
        raise FormError("Notiz: ungültige Kennung, bitte die Seite neu laden.")
    result = await ticket_actions.note(runtime, case, tech.id, text, request_id=request_id)
    return "Interne Notiz erfasst (nur für Techniker sichtbar).", result.version


async def _log_time(entries: TechnicianEntries, runtime: Runtime, case: str,
                    tech: Technician, form: Mapping[str, str]) -> tuple[str, int]:
    entry = parse_time_entry(form)
    # The entry id comes from the form (a fresh uuid4 per page view): a form sent twice
    # is stored once, because the decider ignores an entry id it already has.
    # The same path as the billing API: overlaps on other tickets are refused too.
    command = c.LogTime(at=runtime.clock(), entry_id=entry.entry_id, technician=tech.id,
                        start=entry.start, end=entry.end, kind=entry.kind, note=entry.note)
    result = await log_time(runtime.store, entries, case, command)
    minutes = int((entry.end - entry.start).total_seconds() // 60)
    done = f"{minutes} min erfasst." if result.changed else "Der Eintrag war schon erfasst."
    return done, result.version


async def _resolve(runtime: Runtime, case: str, tech: Technician,
                   form: Mapping[str, str]) -> tuple[str, int]:
    resolution = text_field(form, "resolution", "Lösung", MAX_TEXT)
    result = await ticket_actions.resolve(runtime, case, tech.id, resolution)
    return "Ticket gelöst.", result.version


ACTIONS: dict[str, ActionHandler] = {
    "acknowledge": _acknowledge, "accept": _accept, "decline": _decline,
    "respond": _respond, "note": _note, "resolve": _resolve,
}


def console_actions(entries: TechnicianEntries) -> dict[str, ActionHandler]:
    """Every action by its form name; logging time checks overlaps on the technician's
    other tickets through ``entries`` (the same check as the billing API)."""
    return {**ACTIONS, "log-time": partial(_log_time, entries)}
