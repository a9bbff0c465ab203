"""``POST /api/tickets/<case>/respond`` with files and ``/note`` over real HTTP: files are
stored and referenced, limits refuse clearly and store nothing, notes stay internal."""

from __future__ import annotations

import base64

from services.oncall.answers import ALLOWED_TYPES, Upload, check_uploads, clean_filename
from shared.adapters.attachments import read_attachment
from shared.adapters.eventstore import EventStore
from shared.domain import events as ev
from tests.oncall.conftest import TOKENS, event_types, oncall_http, submit


def bearer(tech: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[tech]}"}


def file_body(name: str, data: bytes) -> dict[str, str]:
    return {"filename": name, "content_base64": base64.b64encode(data).decode()}


async def test_an_answer_with_files_stores_them_and_names_the_first_name(
        make_settings, store: EventStore) -> None:
    settings = make_settings()
    async with oncall_http(settings) as (system, http):
        case = await submit(store, priority=False)
        response = await http.post(f"/api/tickets/{case}/respond", headers=bearer("anna"),
                                   json={"message": "Anleitung anbei",
                                         "files": [file_body("anleitung.pdf", b"%PDF-1")]})
        assert response.status_code == 200, response.text
        [answer] = [r.event for r in (await store.load(case)).events
                    if isinstance(r.event, ev.TechnicianResponded)]
        [ref] = answer.attachments
        stored = await read_attachment(system.runtime.js, ref.sha256,
                                       bucket=settings.inbound_mail.attachments_bucket)
    assert (ref.filename, ref.content_type, stored) == ("anleitung.pdf", "application/pdf",
                                                        b"%PDF-1")
    account_name = system.runtime.accounts.technicians["anna"].name
    assert answer.first_name == account_name.split()[0]


async def test_refused_files_answer_422_and_store_nothing(make_settings,
                                                          store: EventStore) -> None:
    settings = make_settings(answer_max_file_bytes=10)
    async with oncall_http(settings) as (_, http):
        case = await submit(store, priority=False)
        results = {}
        for name, data in (("virus.exe", b"MZ"), ("gross.pdf", b"x" * 11), ("leer.txt", b"")):
            response = await http.post(f"/api/tickets/{case}/respond", headers=bearer("anna"),
                                       json={"message": "x", "files": [file_body(name, data)]})
            results[name] = (response.status_code, response.json()["error"])
        garbled = await http.post(f"/api/tickets/{case}/respond", headers=bearer("anna"),
                                  json={"message": "x", "files": [
                                      {"filename": "a.pdf", "content_base64": "%%%"}]})
        types = await event_types(store, case)
    assert results == {"virus.exe": (422, "file_type_not_allowed"),
                       "gross.pdf": (422, "file_too_large"), "leer.txt": (422, "file_empty")}
    assert garbled.status_code == 422 and "base64" in garbled.text
    assert "TechnicianResponded" not in types


async def test_an_internal_note_is_recorded_apart_from_answers(make_settings,
                                                               store: EventStore) -> None:
    settings = make_settings()
    async with oncall_http(settings) as (_, http):
        case = await submit(store, priority=False)
        noted = await http.post(f"/api/tickets/{case}/note", headers=bearer("anna"),
                                json={"text": "Kunde bevorzugt Anrufe"})
        empty = await http.post(f"/api/tickets/{case}/note", headers=bearer("anna"),
                                json={"text": " "})
        types = await event_types(store, case)
    assert noted.status_code == 200 and noted.json()["stored"] == ["InternalNoteAdded"]
    assert empty.status_code == 422 and empty.json()["error"] == "note_required"
    assert "TechnicianResponded" not in types


def test_file_names_lose_paths_and_control_characters_and_types_follow_the_name(
        make_settings) -> None:
    settings = make_settings()
    assert clean_filename("C:\\Users\\x\\..\\bericht\x07.PDF") == "bericht.PDF"
    [(name, content_type, _)] = check_uploads([Upload("../../scan.PNG", b"1")], settings)
    assert (name, content_type) == ("scan.PNG", ALLOWED_TYPES[".png"])
