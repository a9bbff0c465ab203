"""What operators measure: the Prometheus metrics every process exposes on ``/metrics``.

One registry per process (prometheus-client's default): under ``ticketcore up`` all services
share it, so one scrape covers them all; ``ticketcore serve <name>`` exposes that service's.
Outcomes that are events (a receipt sent, a page, a breach, an invoice) are counted where
they are appended (:func:`count_appended`), so no service has to remember to count them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# The ``*_created`` series double every counter and no dashboard of ours reads them.
disable_created_metrics()

HTTP_DURATION = Histogram(
    "ticketcore_http_request_duration_seconds",
    "HTTP requests by method, route template (not the raw path) and status.",
    ["method", "route", "status"],
    # 2.0: intake answers 503 within 2 s when it cannot store (docs/operations.md).
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0))
CONSUMER_PENDING = Gauge(
    "ticketcore_consumer_pending",
    "Messages not yet delivered to a durable consumer (read at scrape time).", ["durable"])
CONSUMER_ACK_PENDING = Gauge(
    "ticketcore_consumer_ack_pending",
    "Messages delivered to a durable consumer but not yet acknowledged.", ["durable"])
EVENTS_HANDLED = Counter(
    "ticketcore_events_handled", "Messages a consumer handled and acknowledged.",
    ["durable", "type"])
EVENTS_FAILED = Counter(
    "ticketcore_events_failed",
    "Handler failures (each try counts; a retry follows unless given up).",
    ["durable", "type"])
EVENTS_GIVEN_UP = Counter(
    "ticketcore_events_given_up",
    "Messages a consumer gave up on after max_deliver tries (recorded for operators).",
    ["durable", "type"])
EVENTS_APPENDED = Counter(
    "ticketcore_events_appended", "Events this process appended to the log.", ["type"])
APPEND_CONFLICTS = Counter(
    "ticketcore_append_conflicts",
    "Appends refused because another writer changed the ticket first (then retried).")
RECEIPTS_SENT = Counter(
    "ticketcore_receipts_sent", "Receipts recorded as sent (AckSent appended).")
RECEIPTS_OVERDUE = Counter(
    "ticketcore_receipts_overdue", "Receipts flagged overdue (ReceiptOverdue appended).")
RECEIPT_DELAY = Histogram(
    "ticketcore_receipt_delay_seconds",
    "From the submission to the SMTP server accepting the receipt.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600))
PAGES = Counter(
    "ticketcore_pages",
    "On-call pages: first page, re-notification, escalation to the next level.", ["kind"])
SLA_BREACHES = Counter("ticketcore_sla_breaches", "Missed deadlines (SlaBreached appended).")
INVOICES_ISSUED = Counter("ticketcore_invoices_issued", "Invoices issued.")
WEBHOOK_DELIVERIES = Counter(
    "ticketcore_webhook_deliveries",
    "Webhook delivery tries: ok, failed (retried later), given_up.", ["outcome"])
BEHIND_REPLICA_READS = Counter(
    "ticketcore_behind_replica_reads",
    "Loads answered by a replica older than the reader must see (asked again).")
LEADER_READS = Counter(
    "ticketcore_leader_reads", "Loads that fell back to the stream's leader.")

# Labels known in advance are exported at 0, so rates and alerts work before the first one.
for _kind in ("first", "renotification", "escalation"):
    PAGES.labels(_kind)
for _outcome in ("ok", "failed", "given_up"):
    WEBHOOK_DELIVERIES.labels(_outcome)

_OUTCOMES: dict[str, Counter] = {
    "AckSent": RECEIPTS_SENT,
    "ReceiptOverdue": RECEIPTS_OVERDUE,
    "PriorityEscalated": PAGES.labels("first"),
    "OnCallReNotified": PAGES.labels("renotification"),
    "OnCallEscalated": PAGES.labels("escalation"),
    "SlaBreached": SLA_BREACHES,
    "InvoiceIssued": INVOICES_ISSUED,
}


_SERIES: dict[tuple[int, tuple[str, ...]], Any] = {}


def series(metric: Counter | Gauge | Histogram, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once: prometheus-client checks the labels and
    takes a lock on every call, and these are counted on every event and request."""
    key = (id(metric), labels)
    child = _SERIES.get(key)
    if child is None:
        child = _SERIES[key] = metric.labels(*labels)
    return child


def count_appended(type_names: Iterable[str]) -> None:
    """Count events that just landed in the log (not deduplicated repeats)."""
    for name in type_names:
        series(EVENTS_APPENDED, name).inc()
        outcome = _OUTCOMES.get(name)
        if outcome is not None:
            outcome.inc()


def set_consumer_lag(durable: str, pending: int, ack_pending: int) -> None:
    CONSUMER_PENDING.labels(durable).set(pending)
    CONSUMER_ACK_PENDING.labels(durable).set(ack_pending)
