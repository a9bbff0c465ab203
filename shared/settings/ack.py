"""Settings of the ack service: when a receipt counts as overdue, how failed sends are
retried, how long claims protect a send, and how old an event may be to be mailed about."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AckSettings(BaseModel):
    """The ack service: when receipts count as overdue and how failed sends are retried."""

    overdue_after_minutes: float = Field(
        8.0, gt=0,
        description="A failed send attempt later than this after submission records "
        "ReceiptOverdue for operators (customers are promised about 10 minutes).")
    retry_backoff_s: tuple[float, ...] = Field(
        (5.0, 15.0, 30.0, 60.0, 120.0, 300.0), min_length=1,
        description="Delays between send attempts after temporary SMTP errors (the last one "
        "repeats until the server takes the mail; nothing is given up).")
    claim_timeout_s: float = Field(
        60.0, gt=0,
        description="How long a replica's claim on a receipt protects it. One send attempt "
        "is cut off after half of it; a claim older than this belongs to a crashed replica.")
    ack_wait_s: float = Field(
        60.0, gt=0,
        description="Redelivery delay of a receipt whose replica stopped without answering.")
    notice_max_age_hours: float = Field(
        24.0, gt=0,
        description="A customer reply from which credentials were removed gets a notice "
        "mail only if it is younger than this (older ones, e.g. found when the consumer is "
        "first created on an existing log, are skipped).")
    answer_max_age_hours: float = Field(
        168.0, gt=0,
        description="A technician's answer, an acceptance, a resolution or a decline's "
        "reason is mailed to the customer only while younger than this (older ones, e.g. "
        "found when the consumer is first created on an existing log, are skipped with a "
        "warning).")
