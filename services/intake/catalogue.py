"""Every text a customer reads at the intake door, in German (default) and English.

One dictionary per language with the same keys; :func:`text` picks one and fills in
placeholders. A test checks that both languages have every key.
"""

from __future__ import annotations

from typing import Literal

from services.intake.terms import TERMS_DE, TERMS_EN

Language = Literal["de", "en"]
LANGUAGES: tuple[Language, ...] = ("de", "en")
DEFAULT_LANGUAGE: Language = "de"

DE: dict[str, str] = {
    "lang.name": "Deutsch",
    "page.title": "Support anfordern",
    "page.intro": "Mit diesem Formular können Sie (auf Wunsch rund um die Uhr) Support "
                  "anfordern oder eine Störung bzw. einen Notfall melden.",
    "page.switch": "English",
    "page.live_status": "24/7 Live-Status",
    "required.hint": "Pflichtfelder sind mit * markiert.",
    "errors.title": "Bitte korrigieren Sie folgende Angaben:",
    # Section 1
    "section.contact": "1. Vertragspartner und Ansprechpartner",
    "contact.rule": "Wenn Sie im Feld „Firma/Organisation“ eine juristische Person angeben, "
                    "wird diese unser Vertragspartner; Ihren Vor- und Nachnamen benötigen wir "
                    "dann nur als Ansprechpartner. Andernfalls werden Sie selbst unser "
                    "Vertragspartner. Rechnungen gehen an den Vertragspartner.",
    "field.company": "Firma/Organisation",
    "field.first_name": "Vorname",
    "field.last_name": "Nachname",
    "field.email": "E-Mail",
    "field.phone": "Telefon",
    "field.street": "Straße und Hausnummer",
    "field.postcode": "PLZ",
    "field.city": "Ort",
    # Section 2
    "section.request": "2. Angaben zum Auftrag",
    "request.hint": "Um Ihren Support ohne Verzögerung zu bearbeiten, benötigen wir so viele "
                    "Infos wie möglich.",
    "field.short_description": "Kurzbeschreibung",
    "hint.short_description": "Die wesentlichen Schlagworte, 4 bis 80 Zeichen.",
    "group.subject": "Auftragsgegenstand",
    "field.subject_description": "Betroffenes System (Beschreibung)",
    "field.location": "Standort",
    "field.system_name": "Systembezeichnung",
    "field.manufacturer": "Hersteller",
    "field.model": "Modell",
    "field.purchase_date": "Anschaffungsdatum",
    "field.accessories": "Zubehör und Kabel",
    "group.software": "Eingesetzte Software",
    "field.operating_system": "Betriebssystem",
    "field.operating_system_version": "Version des Betriebssystems",
    "field.application": "Verwendete Anwendung",
    "field.application_version": "Version der Anwendung",
    "group.fault": "Fehlerbeschreibung",
    "field.error_message": "Fehlermeldung im Wortlaut",
    "field.expected_behaviour": "Welches Verhalten haben Sie erwartet?",
    "field.actual_behaviour": "Was passiert tatsächlich?",
    "warning.passwords": "Bitte senden Sie uns keine Passwörter oder sonstige Login-Daten! "
                         "Was danach aussieht, entfernen wir vor dem Speichern.",
    "hint.files": "Tipp: Weitere Informationen (z. B. Bildschirmfotos) können Sie uns später "
                  "jederzeit als Antwort auf die Empfangsbestätigung schicken.",
    # Section 3
    "section.backup": "3. Backup",
    "backup.terms": "Grundsätzlich vereinbaren wir in unseren AGB, dass Sie regelmäßig eine "
                    "Datensicherung durchführen, da auf Grund von Defekten oder falschen "
                    "Eingaben jederzeit ein Datenverlust entstehen kann (§ 10 Obliegenheiten "
                    "des Kunden – 4. Datensicherung).",
    "field.additional_backup": "Wünschen Sie die Durchführung eines zusätzlichen Backups?",
    "choice.no": "Nein",
    "choice.yes": "Ja",
    "field.backup_acknowledged": "Eine regelmäßige Datensicherung wurde durch mich/uns "
                                 "durchgeführt bzw. ist nicht erforderlich. Die Vereinbarung "
                                 "in den AGB § 10 „Obliegenheiten des Kunden“ – 4. "
                                 "Datensicherung ist mir bekannt.",
    "hint.backup_acknowledged": "Erforderlich, wenn Sie kein zusätzliches Backup wünschen.",
    # Section 4
    "section.priority": "4. Priorität für Notfälle und SLA-Leistungen",
    "priority.terms": "Auf Wunsch wird Ihr Auftrag mit erhöhter Priorität bearbeitet: er geht "
                      "sofort, rund um die Uhr, an den technischen Bereitschaftsdienst, der "
                      "sich innerhalb der vereinbarten Reaktionszeit (z. B. 240 Minuten) "
                      "meldet. Außerhalb der Business Time entstehen dann Zuschläge.",
    "field.priority": "Soll Ihr Auftrag mit Priorität bearbeitet werden?",
    "field.priority_acknowledged": "Die Bearbeitung meines Supportauftrages soll keinesfalls "
                                   "zu Mehrkosten durch Preisaufschläge führen. Mir genügt "
                                   "eine Rückmeldung mit normaler Priorität im Laufe der "
                                   "nächsten Geschäftstage innerhalb der Business Time.",
    "hint.priority_acknowledged": "Erforderlich, wenn Sie keine Priorität wünschen.",
    # Section 5
    "section.agreement": "5. Auftragsvereinbarung",
    "field.commercial_customer": "Ich bin selbst Gewerbetreibender bzw. gehe meiner "
                                 "(frei-)beruflichen Tätigkeit nach bzw. handle im Auftrag des "
                                 "o. g. gewerblichen Vertragspartners.",
    "submit": "Supportauftrag absenden",
    # Errors
    "error.required": "Bitte füllen Sie dieses Feld aus.",
    "error.not_text": "Bitte geben Sie hier Text ein.",
    "error.not_boolean": "Erwartet wird true oder false.",
    "error.too_long": "Bitte höchstens {max} Zeichen eingeben.",
    "error.control_characters": "Das Feld enthält unzulässige Steuerzeichen.",
    "error.not_encodable": "Das Feld enthält Zeichen, die sich nicht speichern lassen "
                           "(ungültiges Unicode).",
    "error.invisible_characters": "Das Feld enthält unsichtbare oder Formatierungszeichen "
                                  "(z. B. Leerzeichen ohne Breite) – bitte neu eingeben.",
    "error.short_description_length": "Die Kurzbeschreibung braucht 4 bis 80 Zeichen "
                                      "(jetzt: {count}).",
    "error.email": "Bitte geben Sie eine gültige E-Mail-Adresse an, z. B. name@firma.de.",
    "error.phone": "Bitte geben Sie eine Telefonnummer an (Ziffern, +, Leerzeichen, Klammern, "
                   "Schrägstrich oder Bindestrich).",
    "error.postcode": "Bitte geben Sie eine gültige Postleitzahl an (3 bis 10 Zeichen).",
    "error.date": "Bitte ein Datum im Format JJJJ-MM-TT angeben, nicht in der Zukunft.",
    "error.choice": "Bitte wählen Sie Ja oder Nein.",
    "error.backup_acknowledged": "Ohne zusätzliches Backup bestätigen Sie bitte, dass eine "
                                 "regelmäßige Datensicherung durchgeführt wurde bzw. nicht "
                                 "erforderlich ist (AGB § 10 Nr. 4).",
    "error.priority_acknowledged": "Ohne Priorität bestätigen Sie bitte, dass keine "
                                   "Preisaufschläge entstehen sollen und eine Rückmeldung "
                                   "innerhalb der Business Time genügt.",
    "error.commercial_customer": "Bitte bestätigen Sie, dass Sie gewerblich handeln: wir "
                                 "arbeiten nur für Unternehmen und Selbständige.",
    "error.unknown_field": "Dieses Feld gibt es nicht.",
    "error.language": "Erlaubt sind „de“ und „en“.",
    "error.invalid_json": "Der Inhalt ist kein gültiges JSON.",
    "error.not_an_object": "Erwartet wird ein JSON-Objekt mit den Feldern der Anfrage.",
    "error.idempotency_key": "Der Idempotency-Key muss 1 bis 200 druckbare ASCII-Zeichen "
                             "haben.",
    "error.idempotency_reused": "Dieser Idempotency-Key wurde bereits für eine andere Anfrage "
                                "verwendet.",
    "error.invalid_request": "Die Anfrage enthält ungültige Angaben.",
    "error.too_large": "Die Anfrage ist zu groß.",
    "error.media_type": "Erwartet wird {expected}.",
    "error.rate_limited": "Zu viele Anfragen. Bitte versuchen Sie es in {seconds} Sekunden "
                          "erneut.",
    "error.unavailable": "Der Dienst ist gerade nicht erreichbar. Ihre Anfrage wurde nicht "
                         "gespeichert; bitte versuchen Sie es gleich noch einmal.",
    "error.form_expired": "Das Formular ist abgelaufen oder wurde nicht von dieser Seite "
                          "gesendet. Bitte laden Sie das Formular neu.",
    "error.not_found": "Diesen Vorgang gibt es nicht, oder der Link ist unvollständig.",
    "error.reload": "Formular neu laden",
    # Confirmation
    "confirm.title": "Vielen Dank, Ihr Supportauftrag ist eingegangen",
    "confirm.number": "Ihre Service-Auftragsnummer",
    "confirm.next": "Wie geht es weiter?",
    "confirm.mail": "Ihr Auftrag ist bereits in unserem Ticket-System. Innerhalb von ca. 10 "
                    "Minuten erhalten Sie die Empfangsbestätigung mit dieser Nummer per E-Mail "
                    "an {email}.",
    "confirm.reply": "Weitere Informationen oder Bildschirmfotos schicken Sie einfach als "
                     "Antwort auf die Empfangsbestätigung; Empfänger und Betreffzeile bitte "
                     "unverändert lassen.",
    "confirm.priority": "Sie haben Priorität gewählt: Ihr Auftrag geht sofort an den "
                        "diensthabenden Techniker, der sich innerhalb von {minutes} Minuten "
                        "meldet.",
    "confirm.normal": "Wir melden uns mit normaler Priorität innerhalb eines Geschäftstages "
                      "(Business Time).",
    "confirm.acceptance": "Da für Sie keine SLA-Vereinbarung vorliegt, prüfen wir zunächst die "
                          "Annahme des Auftrags und geben Ihnen Bescheid.",
    "confirm.redacted": "Wir haben in folgenden Feldern etwas gefunden, das wie ein Passwort "
                        "oder Zugangsdaten aussieht, und es vor dem Speichern entfernt: "
                        "{fields}. Bitte teilen Sie uns Zugangsdaten nur telefonisch mit.",
    "confirm.status_link": "Live-Status Ihres Auftrags",
    # Status page
    "status.title": "Live-Status",
    "status.state": "Stand",
    "status.deadline": "Rückmeldung spätestens",
    "status.no_deadline": "wird festgelegt",
    "status.history": "Verlauf",
    "status.refresh": "Diese Seite aktualisiert sich jede Minute.",
    "status.attachments": "Anhänge",
    "status.reply_redacted": "Zugangsdaten (z. B. ein Passwort) wurden vor dem Speichern "
                             "entfernt",
    "state.new": "unbekannt",
    "state.submitted": "eingegangen",
    "state.awaiting_acceptance": "wartet auf Annahme",
    "state.declined": "abgelehnt",
    "state.open": "offen, wartet auf Bearbeitung",
    "state.in_progress": "in Bearbeitung",
    "state.resolved": "gelöst",
    "state.closed": "abgeschlossen",
    "state.invoiced": "abgerechnet",
    "event.RequestSubmitted": "Supportauftrag eingegangen",
    "event.AckSent": "Empfangsbestätigung per E-Mail gesendet",
    "event.PriorityEscalated": "An den Bereitschaftstechniker übergeben",
    "event.ResponseDeadlineSet": "Rückmeldefrist festgelegt",
    "event.TechnicianResponded": "Ein Techniker hat sich gemeldet",
    "event.TechnicianAnswered": "Antwort von {name}",
    "status.technician": "Ihrem Techniker",
    "event.AwaitingAcceptance": "Wartet auf Annahme des Auftrags",
    "event.TicketAccepted": "Auftrag angenommen",
    "event.TicketDeclined": "Auftrag abgelehnt",
    "event.TicketResolved": "Gelöst",
    "event.TicketReopened": "Wieder geöffnet",
    "event.TicketClosed": "Abgeschlossen",
    "event.InvoiceIssued": "Rechnung erstellt",
    "event.CustomerReplied": "Ihre Nachricht ist eingegangen",
    "event.other": "Aktualisiert",
    "time.format": "%d.%m.%Y, %H:%M Uhr",
    **TERMS_DE,
}

EN: dict[str, str] = {
    "lang.name": "English",
    "page.title": "Request support",
    "page.intro": "Use this form to request support (around the clock if you wish) or to "
                  "report a fault or an emergency.",
    "page.switch": "Deutsch",
    "page.live_status": "24/7 live status",
    "required.hint": "Required fields are marked with *.",
    "errors.title": "Please correct the following:",
    "section.contact": "1. Contract party and contact",
    "contact.rule": "If you name a legal entity under “Company/organisation”, it becomes our "
                    "contract party and we need your name only as the contact person. "
                    "Otherwise you yourself are our contract party. Invoices go to the "
                    "contract party.",
    "field.company": "Company/organisation",
    "field.first_name": "First name",
    "field.last_name": "Last name",
    "field.email": "E-mail",
    "field.phone": "Phone",
    "field.street": "Street and number",
    "field.postcode": "Postcode",
    "field.city": "City",
    "section.request": "2. Your request",
    "request.hint": "To handle your request without delay we need as much information as "
                    "possible.",
    "field.short_description": "Short description",
    "hint.short_description": "The key words, 4 to 80 characters.",
    "group.subject": "Subject of the order",
    "field.subject_description": "Affected system (description)",
    "field.location": "Location",
    "field.system_name": "System name",
    "field.manufacturer": "Manufacturer",
    "field.model": "Model",
    "field.purchase_date": "Purchase date",
    "field.accessories": "Accessories and cables",
    "group.software": "Software in use",
    "field.operating_system": "Operating system",
    "field.operating_system_version": "Operating system version",
    "field.application": "Application",
    "field.application_version": "Application version",
    "group.fault": "The fault",
    "field.error_message": "Error message, word for word",
    "field.expected_behaviour": "What did you expect to happen?",
    "field.actual_behaviour": "What actually happens?",
    "warning.passwords": "Please do not send us passwords or other login data! Anything that "
                         "looks like one is removed before it is stored.",
    "hint.files": "Tip: you can send more information (e.g. screenshots) at any time later by "
                  "replying to the receipt e-mail.",
    "section.backup": "3. Backup",
    "backup.terms": "Our terms require you to back up your data regularly, as defects or "
                    "wrong input can cause data loss at any time (terms § 10, customer's "
                    "duties, no. 4, data backup).",
    "field.additional_backup": "Do you want us to make an additional backup?",
    "choice.no": "No",
    "choice.yes": "Yes",
    "field.backup_acknowledged": "A regular backup has been made by me/us or is not needed. "
                                 "I know the agreement in the terms § 10 “customer's duties”, "
                                 "no. 4, data backup.",
    "hint.backup_acknowledged": "Required if you do not want an additional backup.",
    "section.priority": "4. Priority for emergencies and SLA services",
    "priority.terms": "On request your order is handled with priority: it goes at once, "
                      "around the clock, to the technician on call, who reacts within the "
                      "agreed reaction time (e.g. 240 minutes). Work outside business time "
                      "then costs surcharges.",
    "field.priority": "Should your request be handled with priority?",
    "field.priority_acknowledged": "Handling my request must never cause surcharges. An "
                                   "answer with normal priority over the next business days "
                                   "within business time is enough for me.",
    "hint.priority_acknowledged": "Required if you do not choose priority.",
    "section.agreement": "5. Order agreement",
    "field.commercial_customer": "I act commercially myself (trade or freelance) or on "
                                 "behalf of the business named above.",
    "submit": "Send support request",
    "error.required": "Please fill in this field.",
    "error.not_text": "Please enter text here.",
    "error.not_boolean": "Expected true or false.",
    "error.too_long": "Please enter at most {max} characters.",
    "error.control_characters": "The field contains control characters that are not allowed.",
    "error.not_encodable": "The field contains characters that cannot be stored "
                           "(invalid Unicode).",
    "error.invisible_characters": "The field contains invisible or formatting characters "
                                  "(e.g. zero-width spaces): please type it again.",
    "error.short_description_length": "The short description needs 4 to 80 characters "
                                      "(now: {count}).",
    "error.email": "Please enter a valid e-mail address, e.g. name@company.com.",
    "error.phone": "Please enter a phone number (digits, +, spaces, brackets, slash or "
                   "hyphen).",
    "error.postcode": "Please enter a valid postcode (3 to 10 characters).",
    "error.date": "Please enter a date as YYYY-MM-DD, not in the future.",
    "error.choice": "Please choose yes or no.",
    "error.backup_acknowledged": "Without an additional backup, please confirm that a regular "
                                 "backup was made or is not needed (terms § 10 no. 4).",
    "error.priority_acknowledged": "Without priority, please confirm that no surcharges may "
                                   "arise and that an answer within business time is enough.",
    "error.commercial_customer": "Please confirm that you act commercially: we work only for "
                                 "businesses and the self-employed.",
    "error.unknown_field": "There is no such field.",
    "error.language": "Allowed are “de” and “en”.",
    "error.invalid_json": "The body is not valid JSON.",
    "error.not_an_object": "Expected a JSON object with the fields of the request.",
    "error.idempotency_key": "The Idempotency-Key must have 1 to 200 printable ASCII "
                             "characters.",
    "error.idempotency_reused": "This Idempotency-Key was already used for a different "
                                "request.",
    "error.invalid_request": "The request contains invalid data.",
    "error.too_large": "The request is too large.",
    "error.media_type": "Expected {expected}.",
    "error.rate_limited": "Too many requests. Please try again in {seconds} seconds.",
    "error.unavailable": "The service is unavailable right now. Your request was not stored; "
                         "please try again in a moment.",
    "error.form_expired": "The form has expired or was not sent from this page. Please reload "
                          "the form.",
    "error.not_found": "There is no such case, or the link is incomplete.",
    "error.reload": "Reload the form",
    "confirm.title": "Thank you, your support request has arrived",
    "confirm.number": "Your case number",
    "confirm.next": "What happens next?",
    "confirm.mail": "Your request is already in our ticket system. Within about 10 minutes "
                    "you will receive the receipt with this number by e-mail at {email}.",
    "confirm.reply": "To send more information or screenshots, simply reply to the receipt; "
                     "please keep the recipient and the subject line unchanged.",
    "confirm.priority": "You chose priority: your request goes at once to the technician on "
                        "call, who will react within {minutes} minutes.",
    "confirm.normal": "We will answer with normal priority within one business day (business "
                      "time).",
    "confirm.acceptance": "As there is no SLA agreement for you, we will first decide whether "
                          "we can accept the order and let you know.",
    "confirm.redacted": "We found something that looks like a password or login data in these "
                        "fields and removed it before storing: {fields}. Please give us login "
                        "data only by phone.",
    "confirm.status_link": "Live status of your request",
    "status.title": "Live status",
    "status.state": "Status",
    "status.deadline": "Answer due by",
    "status.no_deadline": "being scheduled",
    "status.history": "History",
    "status.refresh": "This page refreshes every minute.",
    "status.attachments": "Attachments",
    "status.reply_redacted": "credentials (e.g. a password) were removed before storing",
    "state.new": "unknown",
    "state.submitted": "received",
    "state.awaiting_acceptance": "awaiting acceptance",
    "state.declined": "declined",
    "state.open": "open, waiting for a technician",
    "state.in_progress": "in progress",
    "state.resolved": "resolved",
    "state.closed": "closed",
    "state.invoiced": "invoiced",
    "event.RequestSubmitted": "Support request received",
    "event.AckSent": "Receipt sent by e-mail",
    "event.PriorityEscalated": "Handed to the technician on call",
    "event.ResponseDeadlineSet": "Answer deadline set",
    "event.TechnicianResponded": "A technician responded",
    "event.TechnicianAnswered": "Answer from {name}",
    "status.technician": "your technician",
    "event.AwaitingAcceptance": "Waiting for acceptance of the order",
    "event.TicketAccepted": "Order accepted",
    "event.TicketDeclined": "Order declined",
    "event.TicketResolved": "Resolved",
    "event.TicketReopened": "Reopened",
    "event.TicketClosed": "Closed",
    "event.InvoiceIssued": "Invoice issued",
    "event.CustomerReplied": "Your message arrived",
    "event.other": "Updated",
    "time.format": "%d %b %Y, %H:%M (Berlin time)",
    **TERMS_EN,
}

CATALOGUE: dict[Language, dict[str, str]] = {"de": DE, "en": EN}


def text(language: Language, key: str, **values: object) -> str:
    """The text ``key`` in ``language`` with ``values`` filled in."""
    template = CATALOGUE[language].get(key) or CATALOGUE[DEFAULT_LANGUAGE][key]
    return template.format(**values) if values else template


def as_language(value: object) -> Language | None:
    """``value`` if it names a supported language ("de", "en", "de-AT" ...), else None."""
    if not isinstance(value, str):
        return None
    primary = value.strip().lower()[:2]
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> Language | None:
    """The first supported language in an ``Accept-Language`` header, by quality."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag))
    for negative_quality, _, tag in sorted(ranked):
        language = as_language(tag)
        if language and negative_quality < 0:
            return language
    return None
