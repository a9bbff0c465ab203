"""Settings of outgoing (receipts, pages) and incoming (customer replies) mail: the SMTP
server mail leaves by, and the listener that takes customers' mail in."""

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
