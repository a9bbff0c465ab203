"""Who may do what on NATS: each service's rights in the domain's words, turned into the
``permissions`` blocks of nats-server users.

The table is read off the code: the event types a service records are those ``decide``
returns for the commands it executes (its consumers, HTTP routes, console and mail
listener); its durable consumers are those of its ``consumers()``; its buckets are those
it creates or writes. A service may use its own things and read the log; it may never
create, purge or delete the shared streams (``provision`` runs as ``admin``, see
docs/operations.md).

NATS matches permissions by whole subject tokens (``integrator-*`` is no wildcard), so
consumers a user may name itself (replays, the integrator's durables) are allowed by ``*``
and every durable registered here is then denied to everyone but its owner. The unnamed
create request (``$JS.API.CONSUMER.CREATE.<stream>``) is refused on streams with durables:
the server takes any name from its body. Each user has its own inbox
prefix (``_INBOX_<user>``): with a shared ``_INBOX.>`` anyone could read the replies to
others, among them the data keys of personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.adapters.eventstore import STREAM
from shared.adapters.orderholds import HOLDS_BUCKET
from shared.adapters.pii import PII_BUCKET
from shared.adapters.provision import OPS_BUCKET, TIMERS_STREAM
from shared.adapters.sessions import SESSIONS_BUCKET
from shared.adapters.snapshots import SNAPSHOTS_STREAM, snapshot_subject

API = "$JS.API"
WEBHOOKS_STREAM = "WEBHOOKS"  # services.oncall.webhook (services are not imported here)
ATTACHMENTS = "attachments"  # default of TICKETCORE_INBOUND_MAIL__ATTACHMENTS_BUCKET
ADMIN = "admin"
INTEGRATOR = "integrator"


@dataclass(frozen=True)
class Durable:
    """A durable consumer: its stream and name."""

    stream: str
    name: str


@dataclass(frozen=True)
class OwnStream:
    """A stream a service creates and fills itself (never deletes or purges)."""

    name: str
    subjects: str


@dataclass(frozen=True)
class Rights:
    """What one service does on NATS, named as the code names it."""

    records: tuple[str, ...] = ()  # event types it appends to tickets
    consumes: tuple[Durable, ...] = ()
    keeps: tuple[str, ...] = ()  # KV buckets it creates, reads and writes
    seals_personal_data: bool = False  # creates data keys (pii_keys); all others read them
    stores_files: tuple[str, ...] = ()  # object stores it creates and writes
    reads_files: tuple[str, ...] = ()
    schedules_timers: bool = False  # publishes onto TIMERS (timers.schedule.>)
    owns_streams: tuple[OwnStream, ...] = ()
    replays_log: bool = False  # reads all of TICKETS through ephemeral consumers


SERVICE_RIGHTS: dict[str, Rights] = {
    "intake": Rights(
        # web form and API: SubmitRequest; mail listener: FileMail (a reply, an automatic
        # mail, held mail, a reopening) and QuarantineMail.
        records=("RequestSubmitted", "AwaitingAcceptance", "CustomerReplied",
                 "AutoReplyRecorded", "ReplyHeld", "ReplyQuarantined", "TicketReopened"),
        keeps=("intake_counters", "intake_idempotency"),
        seals_personal_data=True,
        stores_files=(ATTACHMENTS,),
    ),
    "ack": Rights(
        records=("AckSent", "AckFailed", "ReceiptOverdue", "CustomerMailed",
                 "CustomerMailFailed"),
        consumes=(Durable(STREAM, "ack-receipts"), Durable(STREAM, "ack-notices"),
                  Durable(STREAM, "ack-conversation")),
        keeps=("ack_receipts", "ack_notices", "ack_conversation"),
        reads_files=(ATTACHMENTS,),  # the technicians' files attached to their answers
    ),
    "oncall": Rights(
        # consumers and timers: escalation, deadlines, breaches, overdue receipts;
        # console and API: accept, decline, respond, acknowledge, resolve, log time.
        records=("PriorityEscalated", "ResponseDeadlineSet", "OnCallReNotified",
                 "OnCallEscalated", "SlaBreached", "ReceiptOverdue", "TicketAccepted",
                 "TicketDeclined", "TechnicianResponded", "InternalNoteAdded",
                 "OnCallAcknowledged", "TicketResolved", "TimeLogged",
                 # the console's held mail: released (as the customer's reply), discarded,
                 # or opened as a new ticket (its request, the mail as its first reply)
                 "MailReleased", "MailDiscarded", "CustomerReplied", "MailOpenedAsTicket",
                 "RequestSubmitted", "AwaitingAcceptance"),
        consumes=(Durable(STREAM, "oncall-requests"), Durable(TIMERS_STREAM, "oncall-timers"),
                  Durable(WEBHOOKS_STREAM, "oncall-webhooks")),
        # The console logs time through the same overlap check as billing.
        # A ticket opened from held mail takes its number from intake's shared counter.
        keeps=("oncall_pages", "oncall_announcements", "billing_technician_entries",
               "intake_counters", SESSIONS_BUCKET),
        seals_personal_data=True,  # the contact of a ticket opened from held mail
        stores_files=(ATTACHMENTS,),  # files technicians attach to answers
        schedules_timers=True,
        owns_streams=(OwnStream(WEBHOOKS_STREAM, "webhooks.>"),),
        replays_log=True,  # the console's queue and the time entries read model
    ),
    "billing": Rights(
        records=("TimeLogged", "TimeEntryVoided", "InvoiceIssued", "InvoiceCancelled"),
        consumes=(Durable(STREAM, "billing-technician-entries"),),
        keeps=("billing_invoice_numbers", "billing_invoice_reservations",
               "billing_technician_entries", SESSIONS_BUCKET),
        replays_log=True,
    ),
}


@dataclass
class Permissions:
    """Allow and deny lists for publishing and subscribing."""

    publish: list[str]
    subscribe: list[str]
    deny_publish: list[str]

    def block(self) -> dict[str, Any]:
        """The ``permissions`` block of a nats-server user."""
        publish: dict[str, list[str]] = {"allow": _unique(self.publish)}
        if self.deny_publish:
            publish["deny"] = _unique(self.deny_publish)
        return {"publish": publish, "subscribe": {"allow": _unique(self.subscribe)}}


def inbox_prefix(user: str) -> str:
    """The inbox prefix a user's client must connect with (nats-py ``inbox_prefix``)."""
    return f"_INBOX_{user}"


def all_durables() -> list[Durable]:
    return [d for rights in SERVICE_RIGHTS.values() for d in rights.consumes]


def service_permissions(service: str) -> Permissions:
    """The permissions of ``service``'s NATS user."""
    rights = SERVICE_RIGHTS[service]
    publish = [*_load_tickets(), *_use_bucket_readonly(PII_BUCKET),
               *_write_bucket_entries(OPS_BUCKET), *_record(rights.records)]
    for durable in rights.consumes:
        publish += [*_use_durable(durable), *_hold_in_order(durable)]
    for bucket in rights.keeps:
        publish += _keep_bucket(bucket)
    if rights.seals_personal_data:
        publish += _write_bucket_entries(PII_BUCKET)
    for store in rights.stores_files:
        publish += _store_files(store)
    for store in rights.reads_files:
        publish += _read_files(store)
    if rights.schedules_timers:
        publish += [f"{API}.STREAM.INFO.{TIMERS_STREAM}", "timers.schedule.>"]
    for stream in rights.owns_streams:
        publish += [*_own_stream(stream.name), stream.subjects]
    if rights.replays_log:
        publish += _ephemeral_reads(STREAM)
    own = set(rights.consumes)
    deny = [s for d in all_durables() if d not in own for s in _others_durable(d)]
    return Permissions(publish, [f"{inbox_prefix(service)}.>"], deny)


def integrator_permissions() -> Permissions:
    """Read ``TICKETS`` (info, direct gets) and run its own consumers on it; never write
    to the log, purge or delete anything, nor touch a service's durable consumer."""
    publish = [f"{API}.INFO", f"{API}.STREAM.NAMES", f"{API}.STREAM.INFO.{STREAM}",
               f"{API}.DIRECT.GET.{STREAM}", f"{API}.DIRECT.GET.{STREAM}.>",
               f"{API}.CONSUMER.LIST.{STREAM}", f"{API}.CONSUMER.NAMES.{STREAM}",
               *_ephemeral_reads(STREAM), f"{API}.CONSUMER.DURABLE.CREATE.{STREAM}.*"]
    deny = [s for d in all_durables() for s in _others_durable(d)]
    return Permissions(publish, [f"{inbox_prefix(INTEGRATOR)}.>"], deny)


def admin_permissions() -> Permissions:
    """Provisioning and operator commands (erasure, replays): everything."""
    return Permissions([">"], [">"], [])


def all_permissions() -> dict[str, Permissions]:
    """Every user's permissions: the services, the integrator and admin."""
    users = {name: service_permissions(name) for name in SERVICE_RIGHTS}
    users[INTEGRATOR] = integrator_permissions()
    users[ADMIN] = admin_permissions()
    return users


# -- rights in subjects --------------------------------------------------------------------


def _load_tickets() -> list[str]:
    """Load a ticket: direct gets on the log and its snapshots, a get from the leader,
    writing snapshots (a cache of the log)."""
    return [f"{API}.INFO", f"{API}.STREAM.NAMES", f"{API}.STREAM.INFO.{STREAM}",
            f"{API}.DIRECT.GET.{STREAM}", f"{API}.DIRECT.GET.{STREAM}.>",
            f"{API}.STREAM.MSG.GET.{STREAM}",
            f"{API}.STREAM.INFO.{SNAPSHOTS_STREAM}", f"{API}.DIRECT.GET.{SNAPSHOTS_STREAM}",
            snapshot_subject(STREAM, "*")]


def _record(event_types: tuple[str, ...]) -> list[str]:
    """Append these event types to any ticket (the store checks each append)."""
    return [f"tickets.*.{name}" for name in event_types]


def _use_durable(durable: Durable) -> list[str]:
    """Create, bind, fetch from and acknowledge on one durable consumer."""
    return [f"{API}.STREAM.INFO.{durable.stream}", *_durable_subjects(durable)]


def _others_durable(durable: Durable) -> list[str]:
    """Everything on another's durable, deleting it included."""
    return [f"{API}.CONSUMER.DELETE.{durable.stream}.{durable.name}",
            *_durable_subjects(durable)]


def _durable_subjects(durable: Durable) -> list[str]:
    prefix = f"{API}.CONSUMER"
    stream, name = durable.stream, durable.name
    return [f"{prefix}.CREATE.{stream}.{name}",
            f"{prefix}.CREATE.{stream}.{name}.>", f"{prefix}.DURABLE.CREATE.{stream}.{name}",
            f"{prefix}.INFO.{stream}.{name}", f"{prefix}.MSG.NEXT.{stream}.{name}",
            f"$JS.ACK.{stream}.{name}.>"]


def _hold_in_order(durable: Durable) -> list[str]:
    """Per-ticket order across a durable's replicas: its holds in ``consumer_holds`` (keys
    ``<durable>.>``), followed by an ordered consumer; the first replica creates the bucket."""
    stream = f"KV_{HOLDS_BUCKET}"
    return [f"{API}.STREAM.INFO.{stream}", f"{API}.STREAM.CREATE.{stream}",
            f"$KV.{HOLDS_BUCKET}.{durable.name}.>", f"{API}.CONSUMER.CREATE.{stream}",
            f"{API}.CONSUMER.DELETE.{stream}.*", f"$JS.FC.{stream}.>"]


def _ephemeral_reads(stream: str) -> list[str]:
    """Named ephemeral consumers (replays): create, pull, delete. The name is a subject
    token, so the durables registered here can be denied by name."""
    prefix = f"{API}.CONSUMER"
    return [f"{API}.STREAM.INFO.{stream}", f"{prefix}.CREATE.{stream}.*",
            f"{prefix}.CREATE.{stream}.*.>", f"{prefix}.MSG.NEXT.{stream}.*",
            f"{prefix}.DELETE.{stream}.*", f"{prefix}.INFO.{stream}.*",
            f"$JS.FC.{stream}.>", f"$JS.ACK.{stream}.>"]


def _ordered_reads(stream: str) -> list[str]:
    """Unnamed ephemeral consumers too (nats-py's ordered consumers: KV listings, object
    reads). Only on streams without durables: the server accepts any consumer name in an
    unnamed create request, a service's durable's too."""
    return [*_ephemeral_reads(stream), f"{API}.CONSUMER.CREATE.{stream}"]


def _use_bucket_readonly(bucket: str) -> list[str]:
    stream = f"KV_{bucket}"
    return [f"{API}.STREAM.INFO.{stream}", f"{API}.DIRECT.GET.{stream}",
            f"{API}.DIRECT.GET.{stream}.>", f"{API}.STREAM.MSG.GET.{stream}",
            *_ordered_reads(stream)]


def _write_bucket_entries(bucket: str) -> list[str]:
    """Put and create entries of a bucket someone else provisions."""
    return [f"{API}.STREAM.INFO.KV_{bucket}", f"$KV.{bucket}.>"]


def _keep_bucket(bucket: str) -> list[str]:
    """A service's own bucket: create it at start, read and write its entries."""
    return [*_use_bucket_readonly(bucket), *_write_bucket_entries(bucket),
            f"{API}.STREAM.CREATE.KV_{bucket}", f"{API}.STREAM.UPDATE.KV_{bucket}"]


def _store_files(store: str) -> list[str]:
    return [*_read_files(store), f"$O.{store}.>", f"{API}.STREAM.CREATE.OBJ_{store}"]


def _read_files(store: str) -> list[str]:
    stream = f"OBJ_{store}"
    return [f"{API}.DIRECT.GET.{stream}", f"{API}.DIRECT.GET.{stream}.>",
            f"{API}.STREAM.MSG.GET.{stream}", *_ordered_reads(stream)]


def _own_stream(stream: str) -> list[str]:
    return [f"{API}.STREAM.INFO.{stream}", f"{API}.STREAM.CREATE.{stream}",
            f"{API}.STREAM.UPDATE.{stream}"]


def _unique(subjects: list[str]) -> list[str]:
    return list(dict.fromkeys(subjects))
