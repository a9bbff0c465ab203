"""On-call's policy without NATS: given the ticket's events, when an event or a timer
arrives, then the command, the page and the timers it decides. The decider stores what a
step decides, as the command path would."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.oncall import policy
from services.oncall.policy import (
    DeadlineWatch,
    Escalation,
    Page,
    ReceiptWatch,
    Reminder,
    Rules,
    Step,
    TimerEarly,
)
from services.oncall.rota import Rota, parse_rota
from shared.application.handling import Cause, event_id
from shared.domain import events as ev
from shared.domain.calendar import BusinessCalendar
from shared.domain.ticket import TicketState, decide, fold
from shared.domain.ticket import commands as c
from tests.factories import request_submitted
from tests.oncall.conftest import ROTA

BERLIN = ZoneInfo("Europe/Berlin")

CASE = "202611260000011"
THURSDAY_10AM = datetime(2026, 11, 26, 10, 0, tzinfo=BERLIN)  # anna's week on level 1
SUNDAY_3AM = datetime(2026, 11, 29, 3, 0, tzinfo=BERLIN)      # carla covers level 1
RULES = Rules(renotify_after=timedelta(minutes=15), renotify_count=2,
              first_response_bt_minutes=9 * 60, receipt_due_after=timedelta(minutes=8),
              calendar=BusinessCalendar())
ROTA_OF_TEAM = parse_rota(tomllib.loads(ROTA.format(webhook="")))


def given(*events: ev.Event) -> TicketState:
    return fold(events)


def priority_request(at: datetime = THURSDAY_10AM, reaction_minutes: int = 240
                     ) -> ev.RequestSubmitted:
    request = request_submitted(priority=True, case_number=CASE, at=at)
    return ev.RequestSubmitted(**{**{f: getattr(request, f) for f in request.__struct_fields__},
                                  "reaction_minutes": reaction_minutes})


def take(step: Step, state: TicketState, rota: Rota = ROTA_OF_TEAM
         ) -> tuple[list[ev.Event], list[policy.Effect]]:
    """The step as the command path stores it, and what the policy does after it."""
    events = decide(step.command, state)
    return events, policy.after(CASE, step, fold(events, state), RULES, rota.top_level)


def escalated(request: ev.RequestSubmitted, technician: str = "anna") -> TicketState:
    return given(request, ev.PriorityEscalated(
        at=request.at, technician=technician, level=1,
        reaction_deadline=request.at + timedelta(minutes=request.reaction_minutes)))


def team_rota(extra: str) -> Rota:
    return parse_rota(tomllib.loads('[[people]]\nid = "anna"\nname = "Anna"\n'
                                    'email = "anna@example.com"\n' + extra))



def stored_id(step: Step, event: ev.Event) -> str:
    """The id the command path stores the step's event under."""
    return event_id(CASE, Cause(step.cause_id), event)


# -- a priority request ---------------------------------------------------------------------

def test_priority_request_pages_level_one_and_watches_the_reaction_deadline() -> None:
    request = priority_request()
    state = given(request)

    step = policy.start_clocks(CASE, request, request.at, request.at, ROTA_OF_TEAM, RULES)
    events, effects = take(step, state)

    deadline = THURSDAY_10AM + timedelta(hours=4)
    assert events == [ev.PriorityEscalated(at=request.at, technician="anna", level=1,
                                           reaction_deadline=deadline)]
    assert stored_id(step, events[0]) == f"escalate-{CASE}-PriorityEscalated"
    assert effects == [
        DeadlineWatch("reaction", deadline),
        Page(case=CASE, level=1, attempt=0, technician="anna", reason="escalated",
             paged_at=request.at, request=request, reaction_deadline=deadline),
        Reminder(level=1, attempt=1, due=THURSDAY_10AM + timedelta(minutes=15))]


def test_on_sunday_night_the_weekend_override_is_paged() -> None:
    request = priority_request(at=SUNDAY_3AM)

    step = policy.start_clocks(CASE, request, request.at, request.at, ROTA_OF_TEAM, RULES)

    assert isinstance(step.command, c.EscalatePriority)
    assert (step.command.technician, step.command.level) == ("carla", 1)


def test_a_level_one_gap_pages_the_lowest_level_with_somebody() -> None:
    rota = team_rota('[[rotations]]\nlevel = 2\npeople = ["anna"]\nhandover_weekday = '
                     '"monday"\nhandover_time = "09:00"\nstart = 2026-01-05\n'
                     '[[overrides]]\nperson = "anna"\nlevel = 1\n'
                     'from = 2027-01-01T00:00:00\nto = 2027-01-02T00:00:00\n')

    step = policy.start_clocks(CASE, priority_request(), THURSDAY_10AM, THURSDAY_10AM,
                               rota, RULES)

    assert isinstance(step.command, c.EscalatePriority)
    assert (step.command.technician, step.command.level) == ("anna", 2)
    assert step.warning is None


def test_with_nobody_on_call_at_all_the_duty_person_is_paged() -> None:
    rota = team_rota('[[rotations]]\nlevel = 1\npeople = ["anna"]\nhandover_weekday = '
                     '"monday"\nhandover_time = "09:00"\nstart = 2027-01-04\n')

    step = policy.start_clocks(CASE, priority_request(), THURSDAY_10AM, THURSDAY_10AM,
                               rota, RULES)

    assert isinstance(step.command, c.EscalatePriority)
    assert (step.command.technician, step.command.level) == (policy.DUTY, 1)
    assert step.warning and "nobody on call" in step.warning


def test_the_event_records_when_the_step_was_taken_the_deadline_counts_from_the_log() -> None:
    request = priority_request()
    later = THURSDAY_10AM + timedelta(minutes=3)  # a redelivery, three minutes on

    step = policy.start_clocks(CASE, request, request.at, later, ROTA_OF_TEAM, RULES)

    assert isinstance(step.command, c.EscalatePriority)
    assert step.command.at == later
    assert step.command.reaction_deadline == THURSDAY_10AM + timedelta(hours=4)


# -- re-notify, then escalate -------------------------------------------------------------

def test_an_unacknowledged_page_is_renotified_twice_then_escalated_to_level_two() -> None:
    request = priority_request()
    state = escalated(request)
    pages: list[tuple[str, int, int, str]] = []
    wakeup: policy.Wakeup = Reminder(1, 1, THURSDAY_10AM + timedelta(minutes=15))
    for _ in range(4):  # four timers fire, each a quarter of an hour after the last page
        step = policy.on_wakeup(CASE, wakeup, state, wakeup.due, ROTA_OF_TEAM)
        assert step is not None
        events, effects = take(step, state)
        state = fold(events, state)
        [page, wakeup] = effects  # type: ignore[assignment]
        assert isinstance(page, Page)
        pages.append((page.technician, page.level, page.attempt, page.reason))

    assert pages == [("anna", 1, 1, "renotified"), ("anna", 1, 2, "renotified"),
                     ("carla", 2, 0, "escalated_level"), ("carla", 2, 1, "renotified")]
    # The top level keeps getting reminders.
    assert wakeup == Reminder(2, 2, THURSDAY_10AM + timedelta(minutes=75))


def test_after_the_last_reminder_the_next_level_is_scheduled() -> None:
    request = priority_request()
    state = fold([ev.OnCallReNotified(at=THURSDAY_10AM + timedelta(minutes=m),
                                      technician="anna", attempt=n)
                  for n, m in ((1, 15), (2, 30))], escalated(request))

    assert policy.next_step(state, THURSDAY_10AM + timedelta(minutes=30), RULES, 2) == [
        Escalation(2, THURSDAY_10AM + timedelta(minutes=45))]


def test_a_reminder_overtaken_by_an_escalation_does_nothing() -> None:
    state = fold([ev.OnCallEscalated(at=THURSDAY_10AM, technician="carla", level=2)],
                 escalated(priority_request()))

    assert policy.on_wakeup(CASE, Reminder(1, 2, THURSDAY_10AM), state, THURSDAY_10AM,
                            ROTA_OF_TEAM) is None


def test_an_escalation_into_a_rota_gap_reminds_the_current_level() -> None:
    rota = team_rota('[[rotations]]\nlevel = 1\npeople = ["anna"]\nhandover_weekday = '
                     '"monday"\nhandover_time = "09:00"\nstart = 2026-01-05\n'
                     '[[overrides]]\nperson = "anna"\nlevel = 2\n'
                     'from = 2027-01-01T00:00:00\nto = 2027-01-02T00:00:00\n')
    state = fold([ev.OnCallReNotified(at=THURSDAY_10AM, technician="anna", attempt=n)
                  for n in (1, 2)], escalated(priority_request()))
    now = THURSDAY_10AM + timedelta(minutes=45)

    step = policy.on_wakeup(CASE, Escalation(2, now), state, now, rota)

    assert step is not None and step.warning
    assert step.command == c.ReNotifyOnCall(at=now, technician="anna", attempt=3)
    assert step.cause_id == f"renotify-{CASE}-1-3"


def test_an_acknowledged_page_stops_reminders_and_escalation() -> None:
    state = fold([ev.OnCallAcknowledged(at=THURSDAY_10AM, technician="anna")],
                 escalated(priority_request()))
    now = THURSDAY_10AM + timedelta(minutes=15)

    for wakeup in (Reminder(1, 1, now), Escalation(2, now)):
        step = policy.on_wakeup(CASE, wakeup, state, now, ROTA_OF_TEAM)
        assert step is not None
        assert take(step, state) == ([], [])  # nothing stored, nothing sent or scheduled


def test_no_reminder_is_scheduled_past_the_reaction_deadline() -> None:
    request = priority_request(reaction_minutes=20)
    first = escalated(request)
    reminded = fold([ev.OnCallReNotified(at=THURSDAY_10AM + timedelta(minutes=15),
                                         technician="anna", attempt=1)], first)

    assert policy.next_step(first, THURSDAY_10AM, RULES, 2) == [
        Reminder(1, 1, THURSDAY_10AM + timedelta(minutes=15))]
    assert policy.next_step(reminded, THURSDAY_10AM + timedelta(minutes=15), RULES, 2) == []


# -- deadlines ------------------------------------------------------------------------------

def test_a_passed_reaction_deadline_without_response_records_the_breach() -> None:
    deadline = THURSDAY_10AM + timedelta(hours=4)
    state = escalated(priority_request())
    now = deadline + timedelta(seconds=1)

    step = policy.on_wakeup(CASE, DeadlineWatch("reaction", deadline), state, now,
                            ROTA_OF_TEAM)
    assert step is not None
    events, effects = take(step, state)

    assert events == [ev.SlaBreached(at=now, clock="reaction", deadline=deadline)]
    assert stored_id(step, events[0]) == f"breach-{CASE}-reaction-SlaBreached"
    assert effects == []


def test_a_deadline_timer_before_the_deadline_is_handled_again_later() -> None:
    deadline = THURSDAY_10AM + timedelta(hours=4)

    with pytest.raises(TimerEarly):
        policy.on_wakeup(CASE, DeadlineWatch("reaction", deadline),
                         escalated(priority_request()), deadline - timedelta(seconds=1),
                         ROTA_OF_TEAM)


def test_a_response_in_time_means_no_breach() -> None:
    deadline = THURSDAY_10AM + timedelta(hours=4)
    state = fold([ev.TechnicianResponded(at=THURSDAY_10AM + timedelta(hours=1),
                                         technician="anna")], escalated(priority_request()))

    step = policy.on_wakeup(CASE, DeadlineWatch("reaction", deadline), state, deadline,
                            ROTA_OF_TEAM)

    assert step is not None and take(step, state) == ([], [])


@pytest.mark.parametrize(("submitted", "deadline"), [
    (THURSDAY_10AM, datetime(2026, 11, 27, 10, 0, tzinfo=BERLIN)),
    (datetime(2026, 11, 27, 16, 0, tzinfo=BERLIN), datetime(2026, 11, 30, 16, 0, tzinfo=BERLIN)),
    (datetime(2026, 12, 24, 12, 0, tzinfo=BERLIN), datetime(2026, 12, 28, 12, 0, tzinfo=BERLIN)),
], ids=["thursday", "over-the-weekend", "over-christmas"])
def test_a_normal_ticket_gets_the_first_response_clock_in_business_time(
        submitted: datetime, deadline: datetime) -> None:
    request = request_submitted(case_number=CASE, at=submitted)
    state = given(request)

    step = policy.start_clocks(CASE, request, submitted, submitted, ROTA_OF_TEAM, RULES)
    events, effects = take(step, state)

    assert events == [ev.ResponseDeadlineSet(at=submitted, deadline=deadline,
                                             calendar_version=RULES.calendar.version)]
    assert stored_id(step, events[0]) == f"deadline-{CASE}-ResponseDeadlineSet"
    assert effects == [DeadlineWatch("first_response", deadline)]


# -- customers without SLA, receipts ------------------------------------------------------

def test_an_accepted_ticket_starts_its_clocks_at_the_acceptance() -> None:
    request = request_submitted(case_number=CASE, has_sla=False, at=THURSDAY_10AM)
    accepted = ev.TicketAccepted(at=THURSDAY_10AM + timedelta(days=1), technician="ben")
    state = given(request, ev.AwaitingAcceptance(at=THURSDAY_10AM), accepted)

    step = policy.on_accepted(CASE, state, accepted, accepted.at, ROTA_OF_TEAM, RULES)

    assert step is not None and isinstance(step.command, c.SetResponseDeadline)
    assert step.command.deadline == datetime(2026, 11, 30, 10, 0, tzinfo=BERLIN)


def test_every_request_watches_its_receipt_and_flags_it_overdue_when_unsent() -> None:
    request = request_submitted(case_number=CASE, at=THURSDAY_10AM)
    due = THURSDAY_10AM + timedelta(minutes=8)
    [watch] = policy.on_submitted(request, RULES)
    now = due + timedelta(minutes=2)

    step = policy.on_wakeup(CASE, watch, given(request), now, ROTA_OF_TEAM)

    assert watch == ReceiptWatch(due)
    assert step is not None
    assert step.command == c.FlagReceiptOverdue(at=now, minutes_since_submission=10)
    [event] = decide(step.command, given(request))
    assert stored_id(step, event) == f"receipt-overdue-{CASE}"  # the ack service's id too
