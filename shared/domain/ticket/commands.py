"""Commands: what someone asks of a ticket. ``decide`` turns them into events or refuses."""

from __future__ import annotations

from datetime import datetime

import msgspec

from shared.domain import events as ev


class Command(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime


class SubmitRequest(Command, frozen=True, kw_only=True):
    request: ev.RequestSubmitted


class RecordReceipt(Command, frozen=True, kw_only=True):
    message_id: str
    recipient: str


class RecordReceiptFailure(Command, frozen=True, kw_only=True):
    attempt: int
    error: str
    permanent: bool = False


class FlagReceiptOverdue(Command, frozen=True, kw_only=True):
    minutes_since_submission: int


class AcceptTicket(Command, frozen=True, kw_only=True):
    technician: str


class DeclineTicket(Command, frozen=True, kw_only=True):
    technician: str
    reason: str


class EscalatePriority(Command, frozen=True, kw_only=True):
    technician: str
    reaction_deadline: datetime
    level: int = 1


class SetResponseDeadline(Command, frozen=True, kw_only=True):
    deadline: datetime
    calendar_version: str = ""


class ReNotifyOnCall(Command, frozen=True, kw_only=True):
    technician: str
    attempt: int


class EscalateOnCallLevel(Command, frozen=True, kw_only=True):
    technician: str
    level: int


class AcknowledgePage(Command, frozen=True, kw_only=True):
    technician: str


class Respond(Command, frozen=True, kw_only=True):
    technician: str
    message: str = ""


class RecordSlaBreach(Command, frozen=True, kw_only=True):
    clock: ev.oncall.SlaClock
    deadline: datetime


class AddCustomerReply(Command, frozen=True, kw_only=True):
    reply: ev.CustomerReplied


class RecordAutoReply(Command, frozen=True, kw_only=True):
    auto_reply: ev.AutoReplyRecorded


class LogTime(Command, frozen=True, kw_only=True):
    entry_id: str
    technician: str
    start: datetime
    end: datetime
    kind: str
    note: str = ""


class VoidTimeEntry(Command, frozen=True, kw_only=True):
    entry_id: str
    technician: str
    reason: str = ""


class ResolveTicket(Command, frozen=True, kw_only=True):
    technician: str
    resolution: str = ""


class ReopenTicket(Command, frozen=True, kw_only=True):
    by: str
    reason: str = ""


class CloseTicket(Command, frozen=True, kw_only=True):
    by: str


class IssueInvoice(Command, frozen=True, kw_only=True):
    invoice: ev.InvoiceIssued


class CancelInvoice(Command, frozen=True, kw_only=True):
    invoice_number: str
    credit_note_number: str
    reason: str
    by: str = ""


__all__ = [name for name, value in dict(globals()).items()
           if isinstance(value, type) and issubclass(value, Command)]
