"""Pure parts of the console: queue order, time-left wording, form parsing, flash signing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.oncall.console.forms import FormError, berlin_local, parse_time_entry
from services.oncall.console.labels import time_left_label
from services.oncall.console.sessions import flash_value, read_flash
from services.oncall.console.views import describe
from services.oncall.ticketboard import build_queue
from shared.adapters.eventstore import RecordedEvent
from shared.domain import events as ev
from shared.domain.ticket import TicketState, fold
from tests.factories import request_submitted

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SECRET = "test-secret-0123456789"


def ticket(case: str, *events: ev.Event, priority: bool = False,
           has_sla: bool = True) -> TicketState:
    request = request_submitted(priority=priority, has_sla=has_sla, case_number=case)
    opening: list[ev.Event] = [request]
    if not has_sla:
        opening.append(ev.AwaitingAcceptance(at=NOW))
    return fold([*opening, *events])


def test_queue_puts_acceptance_first_then_the_nearest_running_deadline() -> None:
    hours = lambda n: NOW + timedelta(hours=n)  # noqa: E731
    states = [
        ticket("1", ev.ResponseDeadlineSet(at=NOW, deadline=hours(3))),
        ticket("2", ev.PriorityEscalated(at=NOW, technician="anna", reaction_deadline=hours(-1)),
               priority=True),
        ticket("3", has_sla=False),
        # A priority ticket's reaction deadline counts, not its response deadline.
        ticket("4", ev.PriorityEscalated(at=NOW, technician="anna", reaction_deadline=hours(1)),
               ev.ResponseDeadlineSet(at=NOW, deadline=hours(9)), priority=True),
        ticket("5", ev.ResponseDeadlineSet(at=NOW, deadline=hours(-5)),
               ev.TechnicianResponded(at=NOW, technician="anna")),
        ticket("6", ev.TicketDeclined(at=NOW, technician="anna", reason="nein"), has_sla=False),
        ticket("7", ev.TicketResolved(at=NOW, technician="anna")),
    ]
    queue = build_queue(states, NOW)
    assert [e.case for e in queue] == ["3", "2", "4", "1", "5"]
    by_case = {e.case: e for e in queue}
    assert by_case["2"].overdue and by_case["2"].time_left == timedelta(hours=-1)
    assert by_case["4"].deadline_kind == "reaction" and not by_case["4"].overdue
    assert by_case["1"].deadline_kind == "first_response"
    assert by_case["5"].deadline is None and not by_case["5"].overdue


@pytest.mark.parametrize(("delta", "label"), [
    (timedelta(minutes=5, seconds=30), "noch 5 min"),
    (timedelta(hours=2, minutes=5), "noch 2 h 05 min"),
    (timedelta(days=1, hours=3), "noch 1 d 3 h"),
    (timedelta(minutes=-10), "überfällig seit 10 min"),
    (timedelta(hours=-3, minutes=-1), "überfällig seit 3 h 01 min"),
    (None, "–"),
])
def test_time_left_label(delta: timedelta | None, label: str) -> None:
    assert time_left_label(delta) == label


def test_form_times_are_berlin_wall_clock_time() -> None:
    assert berlin_local("2026-07-01T10:00", "Beginn") == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert berlin_local("2026-11-25T10:00", "Beginn") == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    # The repeated hour when DST ends means its first occurrence (still summer time).
    assert berlin_local("2026-10-25T02:30", "Beginn") == datetime(2026, 10, 25, 0, 30,
                                                                  tzinfo=UTC)
    with pytest.raises(FormError, match="gibt es in Berlin nicht"):
        berlin_local("2026-03-29T02:30", "Beginn")
    with pytest.raises(FormError, match="ohne Zeitzone"):
        berlin_local("2026-03-29T10:30+02:00", "Ende")


@given(st.dictionaries(st.sampled_from(["entry_id", "start", "end", "kind", "note", "x"]),
                       st.text(max_size=40)))
def test_any_time_form_is_parsed_or_refused_by_field(form: dict[str, str]) -> None:
    try:
        entry = parse_time_entry(form)
    except FormError as error:
        assert str(error).split(":")[0] in {"Eintrag", "Art", "Beginn", "Ende", "Notiz"}
    else:
        assert entry.start.tzinfo is UTC and entry.end.tzinfo is UTC


def test_flash_messages_cannot_be_forged() -> None:
    value = flash_value(SECRET, "ok", "Ticket gelöst.")
    assert read_flash(SECRET, value) == ("ok", "Ticket gelöst.")
    payload, _signature = value.rsplit(".", 1)
    forged = flash_value("another-secret-0123456789", "error", "<b>Bitte Passwort senden</b>")
    for bad in (forged, f"{payload}.{'0' * 64}", "garbage", "", None):
        assert read_flash(SECRET, bad) is None


def test_history_names_who_did_what() -> None:
    logged = ev.TimeLogged(at=NOW, entry_id="e1", technician="anna", kind="travel",
                           start=NOW - timedelta(minutes=25), end=NOW, note="Anfahrt Kunde")
    view = describe(RecordedEvent(ticket_id="1", seq=7, event_id="x", event=logged))
    assert (view.title, view.actor, view.seq) == ("Zeit erfasst", "anna", 7)
    details = dict(view.details)
    assert details["Dauer"] == "25 min"
    assert details["Von"] == "25.11.2026 12:35" and details["Bis"] == "25.11.2026 13:00"
    assert details["Art"] == "Anfahrt" and details["Notiz"] == "Anfahrt Kunde"
