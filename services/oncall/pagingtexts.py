"""The words technicians read outside the console: the page mail and the acknowledge page,
in German (the technicians' working language, as in the console) and English for a
technician whose account says ``language = "en"``."""

from __future__ import annotations

from typing import Literal

TechLanguage = Literal["de", "en"]
DEFAULT: TechLanguage = "de"

PAGE_TEXTS: dict[TechLanguage, dict[str, str]] = {
    "de": {
        "label.escalated": "PRIORITÄT", "label.renotified": "ERINNERUNG {attempt}",
        "label.escalated_level": "ESKALATION Stufe {level}",
        "headline": "Prioritätsanfrage {case}: {title}",
        "customer": "Kunde:           {name}",
        "contact": "Kontakt:         {name}, {phone}, {email}",
        "deadline": "Reaktionsfrist:  {deadline}",
        "level": "Eskalationsstufe {level}, Alarmierung {number}",
        "acknowledge": "Alarm bestätigen (beendet Erinnerungen und Eskalation):",
        "status": "Status des Tickets: {url}",
        "time": "%d.%m.%Y %H:%M Uhr",
        # the acknowledge page
        "refused.title": "Link abgelehnt",
        "refused.bad_signature": "Dieser Bestätigungslink ist ungültig (falscher oder "
                                 "veränderter Link).",
        "refused.expired": "Dieser Bestätigungslink ist abgelaufen.",
        "confirm.title": "Alarm für {case} bestätigen",
        "confirm.technician": "Techniker: {technician}",
        "confirm.button": "Bestätigen: Ich übernehme dieses Ticket",
        "not_acknowledged": "Nicht bestätigt",
        "already.title": "Bereits bestätigt",
        "already": "Ticket {case} wurde bereits von {by} bestätigt. Es wurde nichts geändert.",
        "done.title": "Bestätigt",
        "done": "Ticket {case} gehört Ihnen. Erinnerungen und Eskalation sind beendet; die "
                "Reaktionsfrist läuft weiter, bis Sie sich beim Kunden melden.",
    },
    "en": {
        "label.escalated": "PRIORITY", "label.renotified": "REMINDER {attempt}",
        "label.escalated_level": "ESCALATION level {level}",
        "headline": "Priority request {case}: {title}",
        "customer": "Customer:  {name}",
        "contact": "Contact:   {name}, {phone}, {email}",
        "deadline": "Reaction deadline: {deadline}",
        "level": "Escalation level {level}, page {number}",
        "acknowledge": "Acknowledge this page (stops reminders and escalation):",
        "status": "Ticket status: {url}",
        "time": "%Y-%m-%d %H:%M %Z",
        "refused.title": "Link refused",
        "refused.bad_signature": "This acknowledge link is not valid (wrong or altered link).",
        "refused.expired": "This acknowledge link has expired.",
        "confirm.title": "Acknowledge page for {case}",
        "confirm.technician": "Technician: {technician}",
        "confirm.button": "Acknowledge: I take this ticket",
        "not_acknowledged": "Not acknowledged",
        "already.title": "Already acknowledged",
        "already": "Ticket {case} was already acknowledged by {by}. Nothing was changed.",
        "done.title": "Acknowledged",
        "done": "Ticket {case} is yours. Reminders and escalation have stopped; the reaction "
                "deadline still runs until you respond.",
    },
}


def tech_language(value: object) -> TechLanguage:
    """The language of a technician's words: English only when asked for, else German."""
    return "en" if value == "en" else DEFAULT


def words(language: TechLanguage, key: str, **values: object) -> str:
    template = PAGE_TEXTS[language][key]
    return template.format(**values) if values else template
