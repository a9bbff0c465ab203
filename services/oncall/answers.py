"""Files a technician attaches to an answer: checked against the limits, then stored in
the attachments object store (shared/adapters/attachments.py) before the answer is
recorded, so the ack service finds them when it mails the answer.

A refused file raises :class:`FileRefused` with a stable ``code`` and a German and an
English message; nothing is stored then.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from shared.adapters.attachments import AttachmentStore
from shared.domain import events as ev
from shared.settings import Settings

# What a customer can open safely; executables and scripts never go out in our name.
ALLOWED_TYPES = {
    ".pdf": "application/pdf", ".txt": "text/plain", ".log": "text/plain",
    ".csv": "text/csv", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".zip": "application/zip",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
}
MAX_FILENAME = 120


@dataclass(frozen=True)
class Upload:
    """A file as the console or the API received it."""

    filename: str
    data: bytes


class FileRefused(Exception):
    """A file breaks a limit; ``german``/``english`` say which and why."""

    def __init__(self, code: str, german: str, english: str) -> None:
        super().__init__(english)
        self.code = code
        self.german = german
        self.english = english


def clean_filename(name: str) -> str:
    """The file's own name without a path or control characters, shortened."""
    base = PurePath(name.replace("\\", "/")).name
    visible = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if len(visible) > MAX_FILENAME:
        stem, dot, suffix = visible.rpartition(".")
        visible = stem[:MAX_FILENAME - len(suffix) - 1] + dot + suffix if dot else \
            visible[:MAX_FILENAME]
    return visible


def check_uploads(uploads: list[Upload], settings: Settings) -> list[tuple[str, str, bytes]]:
    """(file name, content type, bytes) of each upload; FileRefused at the first breach.
    The type follows from the file name's extension, never from what the client claims."""
    oncall = settings.oncall
    if len(uploads) > oncall.answer_max_files:
        raise FileRefused("too_many_files",
                          f"Höchstens {oncall.answer_max_files} Dateien je Antwort.",
                          f"at most {oncall.answer_max_files} files per answer")
    checked, total = [], 0
    for upload in uploads:
        name = clean_filename(upload.filename)
        content_type = ALLOWED_TYPES.get(PurePath(name).suffix.lower())
        if not name or content_type is None:
            allowed = ", ".join(sorted(ALLOWED_TYPES))
            raise FileRefused("file_type_not_allowed",
                              f"{name or 'Datei'}: dieser Dateityp ist nicht erlaubt "
                              f"(erlaubt: {allowed}).",
                              f"{name or 'file'}: this file type is not allowed "
                              f"(allowed: {allowed})")
        if not upload.data:
            raise FileRefused("file_empty", f"{name}: die Datei ist leer.",
                              f"{name}: the file is empty")
        if len(upload.data) > oncall.answer_max_file_bytes:
            limit = oncall.answer_max_file_bytes // 1_000_000
            raise FileRefused("file_too_large", f"{name}: größer als {limit} MB.",
                              f"{name}: larger than {limit} MB")
        total += len(upload.data)
        if total > oncall.answer_max_total_bytes:
            limit = oncall.answer_max_total_bytes // 1_000_000
            raise FileRefused("files_too_large",
                              f"Alle Dateien zusammen: höchstens {limit} MB.",
                              f"all files together: at most {limit} MB")
        checked.append((name, content_type, upload.data))
    return checked


async def store_uploads(store: AttachmentStore, uploads: list[Upload],
                        settings: Settings) -> tuple[ev.AttachmentRef, ...]:
    """Check every upload first, then store each (by content hash: storing twice is
    harmless, so a retried answer stores nothing new)."""
    checked = check_uploads(uploads, settings)
    if not checked:
        return ()
    await store.ensure()
    return tuple([await store.put(data, filename=name, content_type=content_type)
                  for name, content_type, data in checked])
