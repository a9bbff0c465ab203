"""The oncall service: priority requests reach the on-call technician 24/7, SLA deadlines
are watched by durable timers.

- ``oncall-requests`` (consumer of ``RequestSubmitted`` and ``TicketAccepted``): starts the
  clocks of a ticket (priority: ``PriorityEscalated``, the page and its timers; normal:
  ``ResponseDeadlineSet`` and its timer) once the ticket may be worked on. (The reason of
  a decline reaches the customer from the ack service, which sends every customer mail.)
- ``oncall-timers`` (consumer of fired timers on ``TIMERS``): re-notifies, escalates,
  records SLA breaches and flags receipts that were not sent in time (``ReceiptOverdue``,
  also when the ack service is not running at all); the decider decides nothing for a
  ticket that no longer needs it.

What to do is decided by :mod:`services.oncall.policy`; this service carries it out: it
executes the policy's step on the ticket (one load, the command path, a deterministic
event id), then sends the page (once, via claims) and schedules the timers the policy
returns for the ticket as stored, so a redelivered message repeats nothing and loses
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter

from services.oncall import policy
from services.oncall.announcements import Announcements
from services.oncall.api import oncall_router
from services.oncall.livestatus import PATH as LIVE_STATUS_PATH
from services.oncall.paging import Pager
from services.oncall.rota import Gap, Person, Rota
from services.oncall.ticketboard import TicketBoard
from services.oncall.timers import Timer, TimerConsumer, schedule, timer_for
from services.oncall.webhook import WebhookSender
from shared.adapters.claims import ClaimStore
from shared.adapters.consumer import ConsumerSpec
from shared.adapters.eventstore import RecordedEvent
from shared.adapters.technicianentries import TechnicianEntries
from shared.application.handling import execute_step
from shared.domain import events as ev
from shared.domain.ticket import TicketState
from shared.runtime.runtime import Runtime
from shared.settings import Settings

log = logging.getLogger(__name__)


class OncallService:
    name = "oncall"

    def __init__(self, runtime: Runtime, *, rota: Rota, rules: policy.Rules,
                 claims: ClaimStore, webhooks: WebhookSender, pager: Pager,
                 board: TicketBoard, entries: TechnicianEntries) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.rota = rota
        self.rules = rules
        self.claims = claims
        self.webhooks = webhooks
        self.pager = pager
        self.board = board  # the console's queue, shared with its routes
        self.entries = entries  # technicians' time across tickets, for the console
        self.timers = TimerConsumer(runtime.js, self.on_timer)
        self.gaps: list[Gap] = []

    # -- lifecycle --------------------------------------------------------------------------

    def consumers(self) -> list[ConsumerSpec]:
        return [ConsumerSpec("oncall-requests",
                             ["tickets.*.RequestSubmitted", "tickets.*.TicketAccepted"],
                             self.on_event),
                self.timers.spec(), self.webhooks.spec()]

    def router(self) -> APIRouter | None:
        return oncall_router(self.runtime, self.rota, self.board, self.entries)

    async def start(self) -> None:
        await self.claims.ensure_bucket(self.settings.nats.replicas)
        await Announcements(self.runtime.js).ensure_bucket(self.settings.nats.replicas)
        await self.webhooks.ensure_stream(self.settings.nats.replicas)
        # Without an SMTP server, pages go to the embedded mail catcher (see /outbox).
        self.pager.mails.mailer = await self.runtime.local_mail.mailer()
        self.check_rota()
        await self.entries.ensure()
        await self.board.start()  # replay now, so the first console page need not wait

    async def stop(self) -> None:
        await self.webhooks.aclose()
        await self.pager.mails.mailer.close()
        await self.board.stop()

    def check_rota(self, now: datetime | None = None) -> list[Gap]:
        """Log the rota's gaps over the next weeks (and a default rota) as warnings."""
        now = now or self.runtime.clock()
        self.gaps = self.rota.gaps(now, now + timedelta(weeks=self.settings.oncall
                                                        .rota_check_weeks))
        warning = self.default_rota_warning()
        if warning:
            log.warning("%s", warning)
        for gap in self.gaps:
            log.warning("on-call rota gap: %s", gap.describe())
        return self.gaps

    def announce(self) -> list[str]:
        now = self.runtime.clock()
        person = self.rota.who_is_on_call(now, 1)
        lines = [f"technician console:    {self.runtime.public_url}/console",
                 f"live status (public):  {self.runtime.public_url}{LIVE_STATUS_PATH}",
                 f"on call now:           {person.name} <{person.email}>" if person
                 else "on call now:           NOBODY (rota gap)"]
        warning = self.default_rota_warning()
        if warning:
            lines.append(f"  WARNING: {warning}")
        lines.extend(f"  rota gap: {gap.describe()}" for gap in self.gaps[:5])
        return lines

    def default_rota_warning(self) -> str | None:
        """What to warn of when no rota file is configured (None when one is)."""
        if not self.rota.is_default:
            return None
        person = self.rota.who_is_on_call(self.runtime.clock(), 1)
        if person is not None and person.email != self.settings.inbound_mail.support_address:
            return (f"no rota file (TICKETCORE_ONCALL__ROTA_FILE): technician {person.id} "
                    "(the first account with an e-mail) is paged around the clock")
        return ("no rota file (TICKETCORE_ONCALL__ROTA_FILE) and no technician account with "
                "an e-mail: priority pages go to the support address "
                f"{self.settings.inbound_mail.support_address}, which ticketcore reads "
                "itself - nobody will see them")

    # -- people ----------------------------------------------------------------------------

    def person(self, person_id: str) -> Person | None:
        """A paged person by id: from the rota, else from the technician accounts."""
        tech = self.runtime.accounts.technicians.get(person_id)
        if person_id in self.rota.people:
            person = self.rota.people[person_id]
            if person.language is None and tech is not None and tech.language:
                return replace(person, language=tech.language)  # the account's language
            return person
        if tech is not None and tech.email:
            return Person(id=tech.id, name=tech.name, email=tech.email,
                          webhook_url=tech.webhook_url, language=tech.language)
        if person_id == policy.DUTY:  # nobody was on call: the support address is paged
            return Person(id=policy.DUTY, name="Duty",
                          email=self.settings.inbound_mail.support_address)
        return None

    # -- carrying out the policy -----------------------------------------------------------

    async def on_event(self, recorded: RecordedEvent) -> None:
        event, case, seq = recorded.event, recorded.ticket_id, recorded.seq
        if isinstance(event, ev.RequestSubmitted):
            await self.carry_out(case, policy.on_submitted(event, self.rules))
            if event.has_sla:  # otherwise the clocks start on acceptance
                await self.take_step(case, lambda state: policy.start_clocks(
                    case, event, event.at, self.runtime.clock(), self.rota, self.rules),
                    seq=seq, causation_id=recorded.event_id)
        elif isinstance(event, ev.TicketAccepted):
            await self.take_step(case, lambda state: policy.on_accepted(
                case, state, event, self.runtime.clock(), self.rota, self.rules), seq=seq,
                causation_id=recorded.event_id)

    async def on_timer(self, timer: Timer) -> None:
        """A fired timer: re-notify, escalate or record a breach (or nothing if stale)."""
        # A timer carries no sequence of its own: the leader says how far the ticket is, so
        # a page acknowledged a moment ago is never missed by a lagging replica.
        latest = await self.runtime.store.leader_version(timer.ticket)
        await self.take_step(timer.ticket, lambda state: policy.on_wakeup(
            timer.ticket, timer.wakeup, state, self.runtime.clock(), self.rota), seq=latest)

    async def follow_up(self, case: str) -> None:
        """Carry out the ticket's open page again (sent once) and its next timer."""
        state = (await self.runtime.store.load(case)).state
        await self.carry_out(case, policy.open_page(case, state, self.rules,
                                                    self.rota.top_level))

    async def take_step(self, case: str,
                        plan: Callable[[TicketState], policy.Step | None], *,
                        seq: int = 0, causation_id: str | None = None) -> None:
        """Execute the policy's step on the ticket (one load, in the command path), then
        carry out what follows from the ticket as stored."""
        executed = await execute_step(self.runtime.store, case, plan, seq=seq,
                                      causation_id=causation_id)
        if executed is None:
            return
        step, handled = executed
        if step.warning:
            log.warning("ticket %s: %s", case, step.warning)
        await self.carry_out(case, policy.after(case, step, handled.state, self.rules,
                                                self.rota.top_level))

    async def carry_out(self, case: str, effects: list[policy.Effect]) -> None:
        """Send pages (each once) and schedule timers, in the policy's order."""
        for effect in effects:
            if isinstance(effect, policy.Page):
                await self.send_page(effect)
            else:
                await schedule(self.runtime.js, timer_for(case, effect))

    async def send_page(self, page: policy.Page) -> None:
        person = self.person(page.technician)
        if person is None:
            log.error("ticket %s: paged person %r has no address", page.case,
                      page.technician)
            return
        await self.pager.page(page, person)

    # -- reports ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {"timers_handled": self.timers.handled, "rota_gaps": len(self.gaps)}

    async def health(self) -> dict[str, Any]:
        """For ``/health``: how many rota gaps the start-up check found (the consumers'
        lag, ``oncall-timers`` included, is reported by ``shared.runtime.app``)."""
        return {"rota_gaps": len(self.gaps)}


def rules_from_settings(settings: Settings) -> policy.Rules:
    """The settings the policy works with, and the business calendar."""
    oncall = settings.oncall
    return policy.Rules(
        renotify_after=timedelta(seconds=oncall.renotify_after_s),
        renotify_count=oncall.renotify_count,
        first_response_bt_minutes=oncall.first_response_bt_minutes,
        receipt_due_after=timedelta(minutes=settings.ack.overdue_after_minutes),
        calendar=settings.billing.calendar())
