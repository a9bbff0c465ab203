"""Finding 5 over billing's HTTP API: a technician voids only their own time entries (a lead
may void anyone's, recorded in the event), an entry id another technician used is refused
with 409. And what one technician may do to another's responses and resolutions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.domain import events as ev
from shared.settings import Settings
from tests.oncall.conftest import TOKENS, _accounts_toml, submit
from tests.security.conftest import web_system


def bearer(tech: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[tech]}"}


def entry(entry_id: str, hour: int) -> dict[str, Any]:
    return {"start": f"2026-11-25T{hour:02d}:00:00+01:00",
            "end": f"2026-11-25T{hour:02d}:30:00+01:00", "kind": "work",
            "entry_id": entry_id}


def with_lead(tmp_path: Path) -> Path:
    """The test accounts, carla with the lead role."""
    path = tmp_path / "accounts-lead.toml"
    path.write_text(_accounts_toml().replace('id = "carla"', 'id = "carla"\nroles = ["lead"]'),
                    encoding="utf-8")
    return path


async def test_only_the_owner_or_a_lead_voids_an_entry(
        web_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = web_settings(accounts_file=with_lead(tmp_path))
    async with web_system(settings, ("billing",)) as (system, http):
        case = await submit(system.runtime.store, priority=False)
        for entry_id, hour in (("t1-a", 9), ("t1-b", 10)):
            logged = await http.post(f"/api/tickets/{case}/time", json=entry(entry_id, hour),
                                     headers=bearer("anna"))
            assert logged.status_code == 201, logged.text
        stranger = await http.post(f"/api/tickets/{case}/time/t1-a/void",
                                   json={"reason": "mine now"}, headers=bearer("ben"))
        assert stranger.status_code == 403
        assert stranger.json()["detail"]["code"] == "not_your_entry"
        own = await http.post(f"/api/tickets/{case}/time/t1-a/void", json={"reason": "typo"},
                              headers=bearer("anna"))
        assert own.status_code == 200
        lead = await http.post(f"/api/tickets/{case}/time/t1-b/void",
                               json={"reason": "double"}, headers=bearer("carla"))
        assert lead.status_code == 200, lead.text
        history = await system.runtime.store.load(case)
    voided = [r.event for r in history.events if isinstance(r.event, ev.TimeEntryVoided)]
    assert [(v.entry_id, v.technician, v.as_lead) for v in voided] == [
        ("t1-a", "anna", False), ("t1-b", "carla", True)]


async def test_an_entry_id_used_by_another_technician_is_refused_with_409(
        web_settings: Callable[..., Settings]) -> None:
    async with web_system(web_settings(), ("billing",)) as (system, http):
        case = await submit(system.runtime.store, priority=False)
        first = await http.post(f"/api/tickets/{case}/time", json=entry("shared-id", 9),
                                headers=bearer("anna"))
        assert first.status_code == 201
        taken = await http.post(f"/api/tickets/{case}/time", json=entry("shared-id", 11),
                                headers=bearer("ben"))
        assert taken.status_code == 409 and taken.json()["detail"]["code"] == "entry_id_taken"
        retry = await http.post(f"/api/tickets/{case}/time", json=entry("shared-id", 9),
                                headers=bearer("anna"))
        assert retry.status_code == 201 and retry.json()["technician"] == "anna"
        fresh = await http.post(f"/api/tickets/{case}/time", json=entry("ben-1", 11),
                                headers=bearer("ben"))
        assert fresh.status_code == 201 and fresh.json()["technician"] == "ben"
        state = (await system.runtime.store.load(case)).state
    assert sorted((e.entry_id, e.technician) for e in state.time_entries) == [
        ("ben-1", "ben"), ("shared-id", "anna")]


async def test_responses_and_resolutions_are_recorded_as_their_author(
        web_settings: Callable[..., Settings]) -> None:
    """Any technician of the team may respond to or resolve any ticket (a colleague takes
    over); nobody can do it in another's name: the account is the author. Acknowledging a
    page stays the paged technician's own act."""
    async with web_system(web_settings(), ("oncall",)) as (system, http):
        case = await submit(system.runtime.store, priority=False)
        answered = await http.post(f"/api/tickets/{case}/respond",
                                   json={"message": "Ich übernehme", "technician": "anna"},
                                   headers=bearer("ben"))
        assert answered.status_code in (200, 422)
        if answered.status_code == 422:  # a body naming someone else is refused outright
            answered = await http.post(f"/api/tickets/{case}/respond",
                                       json={"message": "Ich übernehme"},
                                       headers=bearer("ben"))
        assert answered.status_code == 200
        resolved = await http.post(f"/api/tickets/{case}/resolve",
                                   json={"resolution": "erledigt"}, headers=bearer("carla"))
        assert resolved.status_code == 200
        history = await system.runtime.store.load(case)
    authors = {type(r.event).__name__: getattr(r.event, "technician", None)
               for r in history.events}
    assert authors["TechnicianResponded"] == "ben"
    assert authors["TicketResolved"] == "carla"
