"""Held and quarantined mail, worked by a technician: release it to its ticket, attach it
to another ticket, or discard it. Each is a command through the one command path; each
event names the technician, and a form sent twice stores nothing twice (fixed event ids,
and the decider ignores a mail already decided).
"""

from __future__ import annotations

import logging

from shared.application.handling import Cause, Handled, execute, load
from shared.domain import events as ev
from shared.domain.ticket import commands as c
from shared.domain.ticket import require_case_number
from shared.domain.ticket.decide import (  # noqa: F401  (the console names them here)
    MAIL_ID,
    QUARANTINE_ENTRY,
    is_mail_holder,
    require_mail_id,
)
from shared.runtime.runtime import Runtime

log = logging.getLogger(__name__)

def mail_decision(mail_id: str) -> Cause:
    """A technician's decision on a mail: one per mail, whoever sends the form."""
    return Cause(f"mail-decided-{mail_id}")


async def pending_mail(runtime: Runtime, ticket: str, mail_id: str) -> ev.PendingMail | None:
    """The mail still waiting for a decision (None: decided, or none such)."""
    require_mail_id(ticket, mail_id)
    return (await load(runtime.store, ticket)).state.pending_mail(mail_id)


async def release(runtime: Runtime, ticket: str, mail_id: str, technician: str,
                  to_case: str = "") -> Handled:
    """The mail becomes the customer's reply on ``to_case`` (its own ticket when empty).

    To another ticket: the reply is appended there first, then the release here; a crash
    in between leaves the mail pending, and a retry finds the reply already there."""
    require_mail_id(ticket, mail_id)
    target = to_case.strip().replace(" ", "")
    if target == ticket:
        target = ""
    if target:
        require_case_number(target)
        mail = await pending_mail(runtime, ticket, mail_id)
        if mail is not None:
            await execute(runtime.store, target,
                          c.AttachMail(at=runtime.clock(), technician=technician, mail=mail),
                          cause=Cause(f"attached-{ticket}-{mail_id}", exact=True))
    handled = await execute(
        runtime.store, ticket,
        c.ReleaseMail(at=runtime.clock(), technician=technician, mail_id=mail_id, to_case=target),
        cause=mail_decision(mail_id))
    if handled.changed:
        log.info("held mail %s on %s released to %s by %s", mail_id, ticket,
                 target or ticket, technician)
    return handled


async def discard(runtime: Runtime, ticket: str, mail_id: str, technician: str,
                  reason: str = "") -> Handled:
    require_mail_id(ticket, mail_id)
    handled = await execute(
        runtime.store, ticket,
        c.DiscardMail(at=runtime.clock(), technician=technician, mail_id=mail_id, reason=reason),
        cause=mail_decision(mail_id))
    if handled.changed:
        log.info("held mail %s on %s discarded by %s", mail_id, ticket, technician)
    return handled
