"""Settings of outgoing (receipts, pages) and incoming (customer replies) mail."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, IPvAnyNetwork


class SmtpSettings(BaseModel):
    host: str | None = Field(
        None,
        description="SMTP server for outgoing mail. Unset: `ticketcore up` runs a local "
        "mail catcher and shows its mails on /outbox.",
    )
    port: int = Field(587, ge=1, le=65535, description="Port of the SMTP server.")
    security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none, starttls (upgrade after connect) or tls (implicit TLS).")
    username: str | None = Field(None, description="SMTP login name (unset: no login).")
    password: str | None = Field(None, description="SMTP login password.")
    timeout_s: float = Field(30.0, gt=0, description="Seconds before an SMTP attempt fails.")
    sender: str = Field("service@example.com", description="From address of every mail.")
    sender_name: str = Field("Support", description="Display name of the From address.")
    validate_certs: bool = Field(True, description="Check the SMTP server's TLS certificate.")
    catcher_port: int = Field(
        0, ge=0, le=65535,
        description="Port of the embedded mail catcher used when no host is set (0 = any "
        "free port). It listens on 127.0.0.1 only.")


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
        description="A technician's answer, an acceptance or a resolution is mailed to the "
        "customer only while younger than this (older ones, e.g. found when the consumer is "
        "first created on an existing log, are skipped with a warning).")


class InboundMailSettings(BaseModel):
    support_address: str = Field(
        "auftrag@example.com", description="Address customers reply to (Reply-To)."
    )
    smtp_host: str = Field("127.0.0.1", description="Address of the inbound SMTP listener.")
    smtp_port: int = Field(2525, ge=0, le=65535, description="Inbound SMTP port (0 = off).")
    lmtp_port: int = Field(0, ge=0, le=65535, description="Inbound LMTP port (0 = off).")
    max_message_bytes: int = Field(25 * 1024 * 1024, gt=0,
                                   description="Larger mails are refused with SMTP 552.")
    max_header_bytes: int = Field(
        256 * 1024, gt=0,
        description="Mails whose header section is larger are refused with SMTP 552.")
    max_header_count: int = Field(
        500, gt=0, description="Mails with more header fields are refused with SMTP 552.")
    max_mime_parts: int = Field(
        200, gt=0, description="Mails with more MIME parts are refused with SMTP 554.")
    max_mime_depth: int = Field(
        10, gt=0, description="Mails with deeper nested MIME parts are refused with SMTP 554.")
    attachments_bucket: str = Field(
        "attachments", pattern=r"^[A-Za-z0-9_-]+$",
        description="JetStream object store holding reply attachments by sha256.")
    trusted_relays: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Networks of the mail servers in front (e.g. 10.0.0.5/32) whose "
        "Authentication-Results ticketcore believes; empty: none.")
    trusted_authserv_ids: list[str] = Field(
        default_factory=list,
        description="authserv-ids (first word of Authentication-Results) of those mail "
        "servers; other Authentication-Results fields are ignored.")
    reopen_days: float = Field(
        14.0, ge=0,
        description="Days after its resolution within which a customer's reply reopens a "
        "ticket; a later reply is held for a technician (docs/domain.md 4.7).")
