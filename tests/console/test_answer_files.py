"""The console's answer form with files and its internal-note form: a refused file is
named in German and nothing is stored; a note is its own event."""

from __future__ import annotations

import re

from shared.domain import events as ev
from tests.console.conftest import ConsoleUnderTest
from tests.console.test_actions import FLASH, act


async def post_answer(console: ConsoleUnderTest, case: str,
                      files: list[tuple[str, tuple[str, bytes, str]]]) -> tuple[str, str]:
    async with console.login() as client:
        page = await client.get(f"/console/tickets/{case}")
        assert 'enctype="multipart/form-data"' in page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
        fresh = re.search(r'name="request_id" value="([0-9a-f]{32})"', page.text).group(1)  # type: ignore[union-attr]
        response = await client.post(f"/console/tickets/{case}/respond", files=files,
                                     data={"csrf": csrf, "request_id": fresh,
                                           "message": "Siehe Anhang"})
        assert response.status_code == 303
        shown = await client.get(f"/console/tickets/{case}")
    match = FLASH.search(shown.text)
    assert match, shown.text
    return match.group(1), match.group(2)


async def test_a_forbidden_file_type_is_refused_in_german_and_nothing_stored(
        console: ConsoleUnderTest) -> None:
    case = await console.submit(71)
    kind, text = await post_answer(console, case, [
        ("files", ("tool.exe", b"MZ\x90", "application/octet-stream"))])
    assert kind == "error"
    assert "Anhang: tool.exe: dieser Dateityp ist nicht erlaubt" in text
    assert [type(e) for e in await console.events_of(case)] == [ev.RequestSubmitted]


async def test_an_answer_with_a_file_references_it(console: ConsoleUnderTest) -> None:
    case = await console.submit(72)
    kind, _ = await post_answer(console, case, [("files", ("log.txt", b"ok\n", "text/plain"))])
    assert kind == "ok"
    [_, answer] = await console.events_of(case)
    assert isinstance(answer, ev.TechnicianResponded)
    assert [(f.filename, f.size) for f in answer.attachments] == [("log.txt", 3)]
    assert answer.first_name == "Anna"


async def test_a_note_is_stored_as_internal(console: ConsoleUnderTest) -> None:
    case = await console.submit(73)
    async with console.login() as client:
        assert (await act(client, case, "note", text="Rückruf um 15 Uhr"))[0] == "ok"
        assert (await act(client, case, "note", text=""))[1] == \
            "Interne Notiz: bitte einen Text eingeben."
        page = await client.get(f"/console/tickets/{case}")
    [_, note] = await console.events_of(case)
    assert note == ev.InternalNoteAdded(at=note.at, technician="anna", text="Rückruf um 15 Uhr")
    assert "Interne Notiz (nur Techniker)" in page.text
