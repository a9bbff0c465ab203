"""The console's forms read field by field; a wrong field raises FormError naming it in
German, and the page shows that instead of storing anything."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from services.oncall.answers import Upload
from services.oncall.console.labels import BERLIN

ENTRY_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_TEXT = 10_000
MAX_NOTE = 2_000


class FormError(Exception):
    """A form field is missing or malformed; the message names the field (in German)."""


class PostedForm(dict[str, str]):
    """A posted form's text fields; ``files``: its uploaded files (an empty file input is
    left out). A dict, so every action reads its fields the same way."""

    files: list[Upload]

    def __init__(self, fields: dict[str, str], files: list[Upload] | None = None) -> None:
        super().__init__(fields)
        self.files = files or []


def uploads_of(form: Mapping[str, str]) -> list[Upload]:
    return form.files if isinstance(form, PostedForm) else []


@dataclass(frozen=True)
class TimeEntryForm:
    """The log-time form, checked: times in UTC, kind ``work`` or ``travel``."""

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


def text_field(form: Mapping[str, str], name: str, label: str, limit: int) -> str:
    """A free-text field, trimmed, at most ``limit`` characters."""
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
                         note=text_field(form, "note", "Notiz", MAX_NOTE))
