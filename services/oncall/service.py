"""The oncall service: priority requests reach the on-call technician 24/7, SLA deadlines
are watched by durable timers.

- ``oncall-requests`` (consumer of ``RequestSubmitted``, ``TicketAccepted``,
  ``TicketDeclined``): starts the clocks of a ticket (priority: ``PriorityEscalated``, the
  page and its timers; normal: ``ResponseDeadlineSet`` and its timer) once the ticket may be
  worked on, and mails a decline reason to the customer once.
- ``oncall-timers`` (consumer of fired timers on ``TIMERS``): re-notifies, escalates,
  records SLA breaches and flags receipts that were not sent in time (``ReceiptOverdue``,
  also when the ack service is not running at all); the decider decides nothing for a
  ticket that no longer needs it.

Every step appends with a deterministic event id, then sends its page (once, via claims),
then schedules the next timer, so a redelivered message repeats nothing and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter

from services.oncall import actions
from services.oncall.paging import Page, Pager, PageReason, SendClaims, decline_mail, send_once
from services.oncall.rota import Gap, Person, RotaError, rota_from_settings
from services.oncall.timers import Timer, TimerConsumer, schedule
from services.oncall.webhook import WebhookSender
from shared.adapters.consumer import ConsumerSpec
from shared.adapters.eventstore import RecordedEvent, TicketHistory
from shared.adapters.mailer import Mailer, mailer_for, stop_local_catcher
from shared.domain import events as ev
from shared.domain.calendar import calendar_from_settings
from shared.domain.ticket import TicketState, fold
from shared.domain.ticket import commands as c
from shared.domain.ticket.decide import ACTIVE
from shared.runtime.context import Runtime
from shared.settings import ConfigurationError

log = logging.getLogger(__name__)

PAGE_EVENTS = (ev.PriorityEscalated, ev.OnCallReNotified, ev.OnCallEscalated)


class TimerEarly(Exception):
    """A deadline timer arrived before its deadline by our clock: handle it again later."""


def page_open(state: TicketState) -> bool:
    """The page still waits for someone (not acknowledged, no response, ticket active)."""
    return (state.is_escalated and state.page_acknowledged_by is None
            and state.first_response_at is None and state.status in ACTIVE)


def _now() -> datetime:
    return datetime.now(UTC)


def _ids(prefix: str) -> Callable[[ev.Event], str]:
    return lambda event: f"{prefix}-{type(event).__name__}"


class OncallService:
    name = "oncall"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        try:
            self.rota = rota_from_settings(self.settings)
        except RotaError as error:
            raise ConfigurationError(f"TICKETCORE_ONCALL__ROTA_FILE: {error}") from None
        self.calendar = calendar_from_settings(self.settings.billing)
        self.mailer = Mailer(self.settings.smtp)
        self.claims = SendClaims(runtime.js)
        oncall = self.settings.oncall
        self.webhooks = WebhookSender(runtime.js, secret=oncall.webhook_secret,
                                      attempts=oncall.webhook_attempts,
                                      backoff_s=oncall.webhook_backoff_s,
                                      timeout_s=oncall.webhook_timeout_s)
        self.timers = TimerConsumer(runtime.js, self.on_timer)
        self.gaps: list[Gap] = []

    @property
    def pager(self) -> Pager:
        return Pager(self.settings, self.mailer, self.claims, self.webhooks,
                     self.runtime.public_url)

    # -- lifecycle --------------------------------------------------------------------------

    def consumers(self) -> list[ConsumerSpec]:
        return [ConsumerSpec("oncall-requests",
                             ["tickets.*.RequestSubmitted", "tickets.*.TicketAccepted",
                              "tickets.*.TicketDeclined"], self.on_event),
                self.timers.spec(), self.webhooks.spec()]

    def router(self) -> APIRouter | None:
        from services.oncall.api import oncall_router

        return oncall_router(self)

    async def start(self) -> None:
        await self.claims.ensure_bucket(self.settings.nats.replicas)
        await self.webhooks.ensure_stream(self.settings.nats.replicas)
        # Without an SMTP server, pages go to the embedded mail catcher (see /outbox).
        self.mailer = await mailer_for(self.runtime)
        self.check_rota()
        board = _console_board(self.runtime)
        if board is not None:  # replay now, so the first console page need not wait
            await board.start()

    async def stop(self) -> None:
        await self.webhooks.aclose()
        await self.mailer.close()
        await stop_local_catcher(self.runtime)
        board = self.runtime.extras.get("console.board")
        if board is not None and hasattr(board, "stop"):
            with contextlib.suppress(Exception):
                result = board.stop()
                if asyncio.iscoroutine(result):
                    await result

    def check_rota(self, now: datetime | None = None) -> list[Gap]:
        """Log the rota's gaps over the next weeks (and a default rota) as warnings."""
        now = now or _now()
        self.gaps = self.rota.gaps(now, now + timedelta(weeks=self.settings.oncall
                                                        .rota_check_weeks))
        if self.rota.is_default:
            log.warning("no on-call rota configured (TICKETCORE_ONCALL__ROTA_FILE): "
                        "priority pages go to %s around the clock",
                        self.settings.inbound_mail.support_address)
        for gap in self.gaps:
            log.warning("on-call rota gap: %s", gap.describe())
        return self.gaps

    def announce(self) -> list[str]:
        now = _now()
        person = self.rota.who_is_on_call(now, 1)
        lines = [f"technician console:    {self.runtime.public_url}/console",
                 f"on call now:           {person.name} <{person.email}>" if person
                 else "on call now:           NOBODY (rota gap)"]
        if self.rota.is_default:
            lines.append("  (no rota file: set TICKETCORE_ONCALL__ROTA_FILE)")
        lines.extend(f"  rota gap: {gap.describe()}" for gap in self.gaps[:5])
        return lines

    # -- people ----------------------------------------------------------------------------

    def person(self, person_id: str) -> Person | None:
        """A paged person by id: from the rota, else from the technician accounts."""
        if person_id in self.rota.people:
            return self.rota.people[person_id]
        tech = self.runtime.accounts.technicians.get(person_id)
        if tech is not None and tech.email:
            return Person(id=tech.id, name=tech.name, email=tech.email,
                          webhook_url=tech.webhook_url)
        return None

    def first_on_call(self, at: datetime) -> tuple[int, Person]:
        """The lowest level with somebody on call; the support address if nobody is."""
        for level in range(1, self.rota.top_level + 1):
            person = self.rota.who_is_on_call(at, level)
            if person is not None:
                return level, person
        log.error("nobody on call at %s: paging the support address", at.isoformat())
        return 1, Person(id="duty", name="Duty",
                         email=self.settings.inbound_mail.support_address)

    # -- events ----------------------------------------------------------------------------

    async def on_event(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        case = recorded.ticket_id
        if isinstance(event, ev.RequestSubmitted):
            await self.schedule_receipt_deadline(case, event)
            if event.has_sla:  # otherwise the clocks start on acceptance
                await self.start_clocks(case, event, start=event.at)
        elif isinstance(event, ev.TicketAccepted):
            history = await self.runtime.store.load(case)
            state = fold(r.event for r in history.events)
            if state.request is not None:
                await self.start_clocks(case, state.request, start=event.at)
        elif isinstance(event, ev.TicketDeclined):
            await self.mail_decline(case, event)

    async def start_clocks(self, case: str, request: ev.RequestSubmitted,
                           start: datetime) -> None:
        """Priority: escalate and page at once. Normal: set the first-response deadline.
        ``start`` comes from the log, so a redelivery computes the same deadline."""
        if request.priority:
            deadline = start + timedelta(minutes=request.reaction_minutes)
            level, person = self.first_on_call(start)
            result = await actions.execute(
                self.runtime.store, case,
                lambda s: c.EscalatePriority(at=_now(), technician=person.id, level=level,
                                             reaction_deadline=deadline),
                _ids(f"escalate-{case}"))
            if result.state.reaction_deadline is not None:
                await self.schedule_deadline(case, "reaction", result.state.reaction_deadline)
            await self.follow_up(case)
        else:
            deadline = self.calendar.add_window_minutes(
                start, self.settings.oncall.first_response_bt_minutes, "BT")
            version = self.calendar.version
            result = await actions.execute(
                self.runtime.store, case,
                lambda s: c.SetResponseDeadline(at=_now(), deadline=deadline,
                                                calendar_version=version),
                _ids(f"deadline-{case}"))
            state = result.state
            if state.response_deadline is not None and state.first_response_at is None:
                await self.schedule_deadline(case, "first_response", state.response_deadline)

    async def schedule_deadline(self, case: str, clock: str, deadline: datetime) -> None:
        await schedule(self.runtime.js, Timer(
            ticket=case, kind=clock.replace("_", "-"), due=deadline,
            data={"action": "breach", "clock": clock, "deadline": deadline.isoformat()}))

    async def schedule_receipt_deadline(self, case: str,
                                        request: ev.RequestSubmitted) -> None:
        """The receipt must have left ``ack.overdue_after_minutes`` after submission; the
        timer flags it otherwise, whether or not the ack service runs."""
        due = request.at + timedelta(minutes=self.settings.ack.overdue_after_minutes)
        await schedule(self.runtime.js, Timer(ticket=case, kind="receipt", due=due,
                                              data={"action": "receipt"}))

    async def mail_decline(self, case: str, declined: ev.TicketDeclined) -> None:
        history = await self.runtime.store.load(case)
        request = fold(r.event for r in history.events).request
        if request is None:
            return
        await send_once(self.claims, self.mailer, f"{case}.decline-mail",
                        decline_mail(request, declined, self.settings))

    # -- paging ----------------------------------------------------------------------------

    async def follow_up(self, case: str) -> None:
        """If the ticket's page is open: send it (once) and schedule the next step."""
        history = await self.runtime.store.load(case)
        state = fold(r.event for r in history.events)
        if not page_open(state) or state.request is None:
            return
        last = _last_page_event(history)
        if last is None:
            return
        reason: PageReason = ("renotified" if isinstance(last.event, ev.OnCallReNotified)
                              else "escalated_level" if isinstance(last.event,
                                                                   ev.OnCallEscalated)
                              else "escalated")
        person = self.person(state.paged_technician or "")
        if person is None:
            log.error("ticket %s: paged person %r has no address", case,
                      state.paged_technician)
        else:
            await self.pager.page(Page(
                case=case, level=state.escalation_level, attempt=state.renotify_count,
                person=person, reason=reason, paged_at=last.event.at,
                request=state.request, reaction_deadline=state.reaction_deadline))
        await self.schedule_next_step(case, state, last.event.at)

    async def schedule_next_step(self, case: str, state: TicketState,
                                 paged_at: datetime) -> None:
        """Re-notify after ``renotify_after_s``; after ``renotify_count`` re-notifications
        escalate a level (the top level keeps being re-notified). No step after the
        reaction deadline: by then the breach is on record."""
        oncall = self.settings.oncall
        due = paged_at + timedelta(seconds=oncall.renotify_after_s)
        if state.reaction_deadline is not None and due >= state.reaction_deadline:
            return
        level, attempt = state.escalation_level, state.renotify_count
        if attempt < oncall.renotify_count or level >= self.rota.top_level:
            timer = Timer(case, f"renotify-{level}-{attempt + 1}", due,
                          {"action": "renotify", "level": level, "attempt": attempt + 1})
        else:
            timer = Timer(case, f"escalate-{level + 1}", due,
                          {"action": "escalate", "level": level + 1})
        await schedule(self.runtime.js, timer)

    # -- timers ----------------------------------------------------------------------------

    async def on_timer(self, timer: Timer) -> None:
        """A fired timer: re-notify, escalate or record a breach (or nothing if stale)."""
        action = timer.data.get("action")
        if action == "renotify":
            await self.renotify(timer.ticket, int(timer.data["level"]),
                                int(timer.data["attempt"]))
        elif action == "escalate":
            await self.escalate(timer.ticket, int(timer.data["level"]))
        elif action == "breach":
            await self.record_breach(timer.ticket, str(timer.data["clock"]),
                                     datetime.fromisoformat(str(timer.data["deadline"])))
        elif action == "receipt":
            await self.flag_receipt_overdue(timer.ticket, timer.due)
        else:
            log.error("timer %s.%s: unknown action %r: ignored", timer.ticket, timer.kind,
                      action)

    async def renotify(self, case: str, level: int, attempt: int) -> None:
        def command(state: TicketState) -> c.Command:
            return c.ReNotifyOnCall(at=_now(), technician=state.paged_technician or "",
                                    attempt=attempt)

        history = await self.runtime.store.load(case)
        if fold(r.event for r in history.events).escalation_level != level:
            return  # escalated since: this reminder is stale
        result = await actions.execute(self.runtime.store, case, command,
                                       _ids(f"renotify-{case}-{level}-{attempt}"))
        state = result.state
        if state.escalation_level == level and state.renotify_count == attempt:
            await self.follow_up(case)

    async def escalate(self, case: str, level: int) -> None:
        person = self.rota.who_is_on_call(_now(), level)
        if person is None:  # nobody at that level right now: remind the current one
            history = await self.runtime.store.load(case)
            state = fold(r.event for r in history.events)
            log.warning("ticket %s: nobody on call at level %s; reminding level %s", case,
                        level, state.escalation_level)
            await self.renotify(case, state.escalation_level, state.renotify_count + 1)
            return
        result = await actions.execute(
            self.runtime.store, case,
            lambda s: c.EscalateOnCallLevel(at=_now(), technician=person.id, level=level),
            _ids(f"escalate-{case}-{level}"))
        state = result.state
        if state.escalation_level == level and state.renotify_count == 0:
            await self.follow_up(case)

    async def record_breach(self, case: str, clock: str, deadline: datetime) -> None:
        if _now() < deadline:
            raise TimerEarly(f"{case} {clock}: deadline {deadline.isoformat()} not reached")
        await actions.execute(
            self.runtime.store, case,
            lambda s: c.RecordSlaBreach(at=_now(), clock=clock,  # type: ignore[arg-type]
                                        deadline=deadline),
            _ids(f"breach-{case}-{clock}"))

    async def flag_receipt_overdue(self, case: str, due: datetime) -> None:
        """``ReceiptOverdue`` unless the receipt was sent (or flagged) meanwhile. The event
        id is the one the ack service uses, so the two never record it twice."""
        if _now() < due:
            raise TimerEarly(f"{case} receipt: due {due.isoformat()} not reached")

        def command(state: TicketState) -> c.Command:
            now = _now()
            submitted = state.request.at if state.request is not None else due
            return c.FlagReceiptOverdue(at=now, minutes_since_submission=int(
                (now - submitted).total_seconds() // 60))

        await actions.execute(self.runtime.store, case, command,
                              lambda event: f"receipt-overdue-{case}")

    # -- reports ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {"timers_handled": self.timers.handled, "rota_gaps": len(self.gaps)}

    async def health(self) -> dict[str, Any]:
        """For ``/health``: how many rota gaps the start-up check found (the consumers'
        lag, ``oncall-timers`` included, is reported by ``shared.runtime.app``)."""
        return {"rota_gaps": len(self.gaps)}


def _last_page_event(history: TicketHistory) -> RecordedEvent | None:
    return next((r for r in reversed(history.events) if isinstance(r.event, PAGE_EVENTS)),
                None)


def _console_board(runtime: Runtime) -> Any:
    """The console's queue read model, or None when the console is not installed."""
    try:
        from services.oncall.console import board_of
    except ModuleNotFoundError as error:
        if error.name != "services.oncall.console":
            raise
        return None
    return board_of(runtime)


def create_service(runtime: Runtime) -> OncallService:
    return OncallService(runtime)
