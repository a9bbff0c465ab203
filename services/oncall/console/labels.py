"""The console's German words: statuses, refusals, event titles and facts, times.

Technicians read German (those of a German MSP); everything a page says about the ticket's
vocabulary is worded here, so the pages and the history speak alike.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.domain.ticket import DomainError, Refusal

BERLIN = ZoneInfo("Europe/Berlin")

STATUS_LABELS = {
    "submitted": "eingegangen", "awaiting_acceptance": "wartet auf Annahme",
    "declined": "abgelehnt", "open": "offen", "in_progress": "in Bearbeitung",
    "resolved": "gelöst", "closed": "geschlossen", "invoiced": "abgerechnet",
}
# German wording of the decider's refusals by their stable code; unknown codes show the
# decider's own (English) message.
REFUSALS: dict[Refusal, str] = {
    "unknown_ticket": "Dieses Ticket gibt es nicht.",
    "invalid_case_number": "Das ist keine gültige Auftragsnummer.",
    "unknown_mail": "Diese Mail gibt es hier nicht.",
    "no_ticket": "Bitte die Auftragsnummer angeben, der die Mail zugeordnet wird.",
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
    "too_many_entries": "In diesem Monat sind schon zu viele Einträge erfasst.",
    "entry_id_taken": "Diese Eintragskennung gehört zum Eintrag eines anderen Technikers.",
    "not_your_entry": "Nur der Techniker selbst oder eine Leitung kann diesen Eintrag "
                      "stornieren.",
    "mail_decided": "Über diese Mail war schon anders entschieden.",
    # (a ticket opened from a mail under a number another ticket has, after a lost counter)
    "already_submitted": "Die Auftragsnummer gehört schon einem anderen Ticket.",
    "unknown_entry": "Diesen Eintrag gibt es nicht (mehr).",
}
# The request form's rules (shared/domain/requestform.py) in the console's words, by code.
FORM_ERRORS = {
    "required": "Bitte ausfüllen.", "not_text": "Bitte Text eingeben.",
    "too_long": "Höchstens {max} Zeichen.",
    "control_characters": "Enthält unzulässige Steuerzeichen.",
    "not_encodable": "Enthält Zeichen, die sich nicht speichern lassen.",
    "invisible_characters": "Enthält unsichtbare oder Formatierungszeichen.",
    "short_description_length": "4 bis 80 Zeichen (jetzt {count}).",
    "email": "Keine gültige E-Mail-Adresse.", "phone": "Keine gültige Telefonnummer.",
    "postcode": "Keine gültige Postleitzahl.", "date": "Datum als JJJJ-MM-TT, nicht in der "
    "Zukunft.", "choice": "Bitte Ja oder Nein wählen.",
    "backup_acknowledged": "Ohne zusätzliches Backup muss der Kunde bestätigen, dass eine "
    "Sicherung besteht oder nicht nötig ist.",
    "priority_acknowledged": "Ohne Priorität muss der Kunde bestätigen, dass keine "
    "Reaktionszeit zugesagt ist.",
    "commercial_customer": "Nur für gewerbliche Kunden: bitte bestätigen.",
}


def form_error_text(code: str, values: dict[str, object]) -> str:
    """A request-form error in German (its code when there is no wording for it)."""
    return FORM_ERRORS.get(code, code).format(**values)
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
    "ReplyHeld": "Mail zurückgehalten (nicht authentifiziert)",
    "MailReleased": "Mail freigegeben", "MailDiscarded": "Mail verworfen",
    "TimeLogged": "Zeit erfasst", "TimeEntryVoided": "Zeiteintrag storniert",
    "InvoiceIssued": "Rechnung gestellt", "InvoiceCancelled": "Rechnung storniert",
    "TicketResolved": "Gelöst", "TicketReopened": "Wieder geöffnet",
    "TicketClosed": "Geschlossen",
    "InternalNoteAdded": "Interne Notiz (nur Techniker)",
    "CustomerMailed": "Mail an den Kunden versendet",
    "CustomerMailFailed": "Mail an den Kunden nicht zustellbar",
    "MailOpenedAsTicket": "Neues Ticket aus Mail angelegt",
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
    "envelope_sender": "Absender (SMTP)", "released_by": "freigegeben von",
    "case_number": "Auftrag", "source_event_id": "zu Ereignis",
}
# Words of closed vocabularies (time kind, SLA clock), never of free text.
VALUE_LABELS = {"kind": {"work": "Arbeit", "travel": "Anfahrt", "answer": "Antwort",
                         "accepted": "Annahme", "resolved": "Erledigt"},
                "clock": {"reaction": "Reaktion", "first_response": "Erstantwort"}}
CLOCK_LABELS = VALUE_LABELS["clock"]


def berlin(moment: datetime | None) -> str:
    """``moment`` as Europe/Berlin wall-clock time, e.g. ``25.11.2026 17:50``."""
    if moment is None:
        return "–"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")


def duration_label(delta: timedelta) -> str:
    """A span as people say it: ``2 d 3 h``, ``2 h 05 min``, ``10 min`` (sign ignored)."""
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


def value_label(value: object) -> str:
    """A fact of an event in German: ja/nein, Berlin time, ``25.11.2026``."""
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, datetime):
        return berlin(value)
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def refusal_text(error: DomainError) -> str:
    """The decider's refusal in German, by its stable code."""
    other_ticket = re.search(r"on ticket (\S+)", error.message)
    if error.code == "overlapping_entry" and other_ticket:
        return ("Der Eintrag überschneidet sich mit einem eigenen Eintrag auf Ticket "
                f"{other_ticket.group(1)}.")
    return REFUSALS.get(error.code, error.message)
