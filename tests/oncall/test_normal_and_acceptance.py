"""Normal priority (9 Business-Time hours) and customers without an SLA agreement."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.adapters.eventstore import STREAM, EventStore
from shared.domain import events as ev
from shared.domain.calendar import BusinessCalendar
from tests.oncall.conftest import TOKENS, event_types, new_case, oncall_http, submit, wait_for_event
from tests.support import SmtpSink, consumers_idle

# Thursday before Christmas 2026, 16:00 in Berlin: 2 BT hours left that day, then the
# holidays (Fri 25th, Sat 26th) and Sunday; the remaining 7 hours run on Monday 28th.
CHRISTMAS_EVE_2026 = datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
DEADLINE_2026 = datetime(2026, 12, 28, 15, 0, tzinfo=UTC)  # Monday 16:00 in Berlin
# The same a year earlier (Wed 24th; 25th/26th Thu/Fri; weekend): long past now.
CHRISTMAS_EVE_2025 = datetime(2025, 12, 24, 15, 0, tzinfo=UTC)
DEADLINE_2025 = datetime(2025, 12, 29, 15, 0, tzinfo=UTC)


def bearer(tech: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[tech]}"}


def test_first_response_deadline_skips_weekend_and_public_holidays() -> None:
    calendar = BusinessCalendar()
    assert calendar.add_window_minutes(CHRISTMAS_EVE_2026, 9 * 60, "BT") == DEADLINE_2026
    assert calendar.add_window_minutes(CHRISTMAS_EVE_2025, 9 * 60, "BT") == DEADLINE_2025


async def test_normal_deadline_is_set_and_a_passed_one_breaches(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = make_settings()
    async with oncall_http(settings) as (_, http):
        future = await submit(store, priority=False, at=CHRISTMAS_EVE_2026)
        past = await submit(store, priority=False, at=CHRISTMAS_EVE_2025)
        [deadline] = await wait_for_event(store, future, "ResponseDeadlineSet")
        [breach] = await wait_for_event(store, past, "SlaBreached")
        future_types = await event_types(store, future)
        clocks = await http.get(f"/api/oncall/tickets/{future}", headers=bearer("ben"))
        anonymous = await http.get(f"/api/oncall/tickets/{future}")
        unknown = await http.get(f"/api/oncall/tickets/{new_case()}", headers=bearer("ben"))

    assert isinstance(deadline, ev.ResponseDeadlineSet)
    assert deadline.deadline == DEADLINE_2026 and deadline.calendar_version
    assert isinstance(breach, ev.SlaBreached)
    assert breach.clock == "first_response" and breach.deadline == DEADLINE_2025
    assert "SlaBreached" not in future_types
    assert "PriorityEscalated" not in future_types
    assert smtp_sink.messages == []  # normal priority pages nobody
    assert clocks.status_code == 200
    assert clocks.json()["response_deadline"] == "2026-12-28T15:00:00Z"
    assert anonymous.status_code == 401
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_ticket"


async def test_accept_starts_the_clock_and_a_decline_needs_a_reason_once(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = make_settings()
    async with oncall_http(settings) as (system, http):
        waiting = await submit(store, priority=True, has_sla=False)
        declined = await submit(store, priority=False, has_sla=False,
                                email="kein-sla@example.org")
        assert (await http.post(f"/api/tickets/{waiting}/accept")).status_code == 401
        accepted = await http.post(f"/api/tickets/{waiting}/accept",
                                   headers=bearer("ben"))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["stored"] == ["TicketAccepted"]
        await wait_for_event(store, waiting, "PriorityEscalated")

        no_reason = await http.post(f"/api/tickets/{declined}/decline",
                                    json={"reason": "   "}, headers=bearer("ben"))
        assert no_reason.status_code == 422
        first = await http.post(f"/api/tickets/{declined}/decline",
                                json={"reason": "Kein Wartungsvertrag für Drucker."},
                                headers=bearer("ben"))
        again = await http.post(f"/api/tickets/{declined}/decline",
                                json={"reason": "noch einmal"}, headers=bearer("ben"))
        await smtp_sink.wait_for(1)
        assert await consumers_idle(system.runtime.js, STREAM, ["oncall-requests"])
        mails = list(smtp_sink.messages)
        declined_types = await event_types(store, declined)
        [decline] = await wait_for_event(store, declined, "TicketDeclined")

    assert first.status_code == 200, first.text
    assert again.status_code == 409 and again.json()["error"] == "not_awaiting_acceptance"
    assert declined_types.count("TicketDeclined") == 1
    assert "ResponseDeadlineSet" not in declined_types
    assert isinstance(decline, ev.TicketDeclined)
    assert decline.reason == "Kein Wartungsvertrag für Drucker."
    # The only mail is the page of the accepted priority ticket: the customer learns the
    # reason from the ack service (tests/ack/test_conversation.py), which sends every
    # customer mail.
    assert len(mails) == 1 and waiting in mails[0]["Subject"]
    assert not any("kein-sla@example.org" in str(m["To"]) for m in mails)


async def test_clocks_wait_for_acceptance(make_settings, store: EventStore) -> None:
    settings = make_settings()
    async with oncall_http(settings) as (_, http):
        case = await submit(store, priority=False, has_sla=False)
        # A response before acceptance is refused and stores nothing.
        early = await http.post(f"/api/tickets/{case}/respond", json={},
                                headers=bearer("anna"))
        assert early.status_code == 409 and early.json()["error"] == "not_accepted"
        await http.post(f"/api/tickets/{case}/accept", headers=bearer("anna"))
        [deadline] = await wait_for_event(store, case, "ResponseDeadlineSet")
        responded = await http.post(f"/api/tickets/{case}/respond",
                                    json={"message": "Wir kümmern uns."},
                                    headers=bearer("anna"))
        resolved = await http.post(f"/api/tickets/{case}/resolve",
                                   json={"resolution": "Treiber neu installiert"},
                                   headers=bearer("anna"))
        types = await event_types(store, case)
    assert isinstance(deadline, ev.ResponseDeadlineSet)
    assert deadline.deadline > deadline.at  # counted from the acceptance, not before
    assert responded.status_code == 200 and resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert types[-2:] == ["TechnicianResponded", "TicketResolved"]


async def test_bad_case_numbers_and_bodies_are_refused_clearly(
        make_settings, store: EventStore) -> None:
    settings = make_settings()
    results = {}
    async with oncall_http(settings) as (_, http):
        for path in ("accept", "decline", "respond", "acknowledge", "resolve"):
            unknown = await http.post(f"/api/tickets/20261126999999/{path}",
                                      json={"reason": "x"}, headers=bearer("anna"))
            results[path] = unknown.status_code, unknown.json().get("error")
        garbage = await http.post("/api/tickets/20261126000011/decline",
                                  content=b"{not json", headers={
                                      **bearer("anna"), "content-type": "application/json"})
        missing = await http.post(f"/api/tickets/{await submit(store, priority=False)}"
                                  "/acknowledge", headers=bearer("anna"))
    assert set(results.values()) == {(404, "invalid_case_number")}
    assert garbage.status_code == 422
    assert missing.status_code == 409 and missing.json()["error"] == "not_paged"
