"""On-call's policy: who is paged, when a page is repeated, when it escalates, when a
deadline counts as breached. Pure: no I/O, no clock, no NATS; the service carries out
what it decides.

Two questions, asked in this order for every event and every fired timer:

1. Which command for the ticket? :func:`start_clocks` (a request that may be worked on),
   :func:`on_wakeup` (a timer this policy set earlier). A :class:`Step` names the command
   and the id its event is stored under, so a repeated step stores nothing twice.
2. What follows once the step is on record? :func:`after` looks at the ticket as it is
   now and returns the effects, in the order they are to be carried out: the deadline
   timers, the page, the next reminder or escalation.

The page cycle (:func:`next_step`): a page not acknowledged ``renotify_after`` later is
sent again to the same person; after ``renotify_count`` reminders the next level's person
on call is paged, and the cycle repeats there; the top level keeps getting reminders. An
escalation into a rota gap reminds the current level instead. Nothing is scheduled past
the reaction deadline: the deadline's own timer records the breach (:func:`on_wakeup`),
unless a technician responded by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

import msgspec

from shared.domain import events as ev
from shared.domain.ticket import TicketState
from shared.domain.ticket import commands as c

PageReason = Literal["escalated", "renotified", "escalated_level"]
PageEvent = ev.PriorityEscalated | ev.OnCallReNotified | ev.OnCallEscalated
REASON_OF_PAGE: dict[type[ev.Event], PageReason] = {
    ev.PriorityEscalated: "escalated", ev.OnCallReNotified: "renotified",
    ev.OnCallEscalated: "escalated_level"}
# Paged when nobody at all is on call; the support address reaches this person.
DUTY = "duty"


class TimerEarly(Exception):
    """A deadline timer arrived before its deadline by our clock: handle it again later."""


class OnCallPerson(Protocol):
    @property
    def id(self) -> str: ...


class Rota(Protocol):
    """Who is on call when (``services.oncall.rota.Rota``)."""

    @property
    def top_level(self) -> int: ...

    def who_is_on_call(self, at: datetime, level: int) -> OnCallPerson | None: ...


class Calendar(Protocol):
    version: str

    def add_window_minutes(self, start: datetime, minutes: int,
                           window: Literal["BT"]) -> datetime: ...


@dataclass(frozen=True)
class Rules:
    """The settings the policy works with."""

    renotify_after: timedelta
    renotify_count: int
    first_response_bt_minutes: int
    receipt_due_after: timedelta
    calendar: Calendar


# -- what the policy decides ------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """A command for the ticket, its events stored as ``<cause_id>-<EventType>``.
    ``pages``: the (level, attempt) this step pages; the page follows only if the ticket is
    there afterwards (another step may have overtaken it). ``warning``: for the operators'
    log."""

    command: c.Command
    cause_id: str
    pages: tuple[int, int] | None = None
    warning: str | None = None


class Reminder(msgspec.Struct, frozen=True, tag="renotify", tag_field="action"):
    """Timer: re-notify the person paged at ``level`` (``attempt``: 1, 2, ...)."""

    level: int
    attempt: int
    due: datetime


class Escalation(msgspec.Struct, frozen=True, tag="escalate", tag_field="action"):
    """Timer: page the person on call at ``level``."""

    level: int
    due: datetime


class DeadlineWatch(msgspec.Struct, frozen=True, tag="breach", tag_field="action"):
    """Timer: record the breach of ``clock`` unless the ticket no longer needs it."""

    clock: ev.escalation.SlaClock
    deadline: datetime

    @property
    def due(self) -> datetime:
        return self.deadline


class ReceiptWatch(msgspec.Struct, frozen=True, tag="receipt", tag_field="action"):
    """Timer: flag the receipt overdue unless it was sent by ``due``."""

    due: datetime


# What a timer wakes the policy for: a tagged union (the tag, ``action``, names it in the
# timer's message).
Wakeup = Reminder | Escalation | DeadlineWatch | ReceiptWatch


@dataclass(frozen=True)
class Page:
    """One page: a technician called for a ticket at an escalation level and attempt."""

    case: str
    level: int
    attempt: int  # 0: first page at this level, then 1, 2, ... for re-notifications
    technician: str
    reason: PageReason
    paged_at: datetime
    request: ev.RequestSubmitted
    reaction_deadline: datetime | None

    @property
    def page_id(self) -> str:
        return f"page-{self.case}-{self.level}-{self.attempt}"


Effect = Wakeup | Page


# -- events ------------------------------------------------------------------------------

def on_submitted(request: ev.RequestSubmitted, rules: Rules) -> list[Effect]:
    """Every request: the receipt must have left ``receipt_due_after`` after submission."""
    return [ReceiptWatch(request.at + rules.receipt_due_after)]


def start_clocks(case: str, request: ev.RequestSubmitted, start: datetime, now: datetime,
                 rota: Rota, rules: Rules) -> Step:
    """Priority: page the first level with somebody on call, the reaction deadline running
    from ``start``. Normal: the first-response deadline in business time. ``start`` comes
    from the log (submission or acceptance), so a repeat computes the same deadline."""
    if request.priority:
        level, technician, warning = first_on_call(rota, start)
        return Step(c.EscalatePriority(
            at=now, technician=technician, level=level,
            reaction_deadline=start + timedelta(minutes=request.reaction_minutes)),
            f"escalate-{case}", warning=warning)
    deadline = rules.calendar.add_window_minutes(start, rules.first_response_bt_minutes, "BT")
    return Step(c.SetResponseDeadline(at=now, deadline=deadline,
                                      calendar_version=rules.calendar.version),
                f"deadline-{case}")


def on_accepted(case: str, state: TicketState, accepted: ev.TicketAccepted, now: datetime,
                rota: Rota, rules: Rules) -> Step | None:
    """A customer without SLA was accepted: the clocks start now."""
    if state.request is None:
        return None
    return start_clocks(case, state.request, accepted.at, now, rota, rules)


def first_on_call(rota: Rota, at: datetime) -> tuple[int, str, str | None]:
    """The lowest level with somebody on call and who; the duty person if nobody is."""
    for level in range(1, rota.top_level + 1):
        person = rota.who_is_on_call(at, level)
        if person is not None:
            return level, person.id, None
    return 1, DUTY, f"nobody on call at {at.isoformat()}: paging the support address"


# -- timers ------------------------------------------------------------------------------

def on_wakeup(case: str, wakeup: Wakeup, state: TicketState, now: datetime, rota: Rota
              ) -> Step | None:
    """The command a fired timer calls for; None for a reminder overtaken by an
    escalation. The decider stores nothing for a ticket that no longer needs it."""
    if isinstance(wakeup, Reminder):
        if state.escalation_level != wakeup.level:
            return None  # escalated since: this reminder is stale
        return remind(case, state, now, wakeup.attempt)
    if isinstance(wakeup, Escalation):
        person = rota.who_is_on_call(now, wakeup.level)
        if person is None:  # nobody at that level right now: remind the current one
            return remind(case, state, now, state.renotify_count + 1, warning=(
                f"nobody on call at level {wakeup.level}; reminding level "
                f"{state.escalation_level}"))
        return Step(c.EscalateOnCallLevel(at=now, technician=person.id, level=wakeup.level),
                    f"escalate-{case}-{wakeup.level}", pages=(wakeup.level, 0))
    if isinstance(wakeup, DeadlineWatch):
        return breach(case, wakeup, now)
    return receipt_overdue(case, wakeup, state, now)


def remind(case: str, state: TicketState, now: datetime, attempt: int,
           warning: str | None = None) -> Step:
    """Page the person paged at the current level again."""
    level = state.escalation_level
    return Step(c.ReNotifyOnCall(at=now, technician=state.paged_technician or "",
                                 attempt=attempt),
                f"renotify-{case}-{level}-{attempt}", pages=(level, attempt), warning=warning)


def breach(case: str, watch: DeadlineWatch, now: datetime) -> Step:
    """The deadline passed: the breach is recorded unless a technician responded (or the
    ticket ended) in time - the decider knows."""
    if now < watch.deadline:
        raise TimerEarly(f"{case} {watch.clock}: deadline {watch.deadline.isoformat()} "
                         "not reached")
    return Step(c.RecordSlaBreach(at=now, clock=watch.clock, deadline=watch.deadline),
                f"breach-{case}-{watch.clock}")


def receipt_overdue(case: str, watch: ReceiptWatch, state: TicketState, now: datetime
                    ) -> Step:
    """``ReceiptOverdue`` unless the receipt was sent (or flagged) meanwhile. The event is
    named after the ticket, as when the ack service records it, so it is stored once."""
    if now < watch.due:
        raise TimerEarly(f"{case} receipt: due {watch.due.isoformat()} not reached")
    submitted = state.request.at if state.request is not None else watch.due
    return Step(c.FlagReceiptOverdue(at=now, minutes_since_submission=int(
        (now - submitted).total_seconds() // 60)), f"receipt-overdue-{case}")


# -- after a step ------------------------------------------------------------------------

def after(case: str, step: Step, state: TicketState, rules: Rules, top_level: int
          ) -> list[Effect]:
    """What follows once ``step`` is on record (stored now or by an earlier try), judged
    on the ticket as it is now."""
    command = step.command
    if isinstance(command, c.EscalatePriority):
        watch = ([DeadlineWatch("reaction", state.reaction_deadline)]
                 if state.reaction_deadline is not None else [])
        return [*watch, *open_page(case, state, rules, top_level)]
    if isinstance(command, c.SetResponseDeadline):
        if state.response_deadline is None or state.first_response_at is not None:
            return []
        return [DeadlineWatch("first_response", state.response_deadline)]
    if step.pages is not None and step.pages == (state.escalation_level,
                                                 state.renotify_count):
        return open_page(case, state, rules, top_level)
    return []


def open_page(case: str, state: TicketState, rules: Rules, top_level: int) -> list[Effect]:
    """If the ticket's page is open: the page for its current level and attempt, then the
    timer of the next step."""
    last = state.last_page
    if not state.page_open or state.request is None or last is None:
        return []
    page = Page(case=case, level=state.escalation_level, attempt=state.renotify_count,
                technician=state.paged_technician or "", reason=REASON_OF_PAGE[type(last)],
                paged_at=last.at, request=state.request,
                reaction_deadline=state.reaction_deadline)
    return [page, *next_step(state, last.at, rules, top_level)]


def next_step(state: TicketState, paged_at: datetime, rules: Rules, top_level: int
              ) -> list[Wakeup]:
    """Re-notify after ``renotify_after``; after ``renotify_count`` re-notifications
    escalate a level (the top level keeps being re-notified). No step after the reaction
    deadline: by then the breach is on record."""
    due = paged_at + rules.renotify_after
    if state.reaction_deadline is not None and due >= state.reaction_deadline:
        return []
    level, attempt = state.escalation_level, state.renotify_count
    if attempt < rules.renotify_count or level >= top_level:
        return [Reminder(level, attempt + 1, due)]
    return [Escalation(level + 1, due)]
