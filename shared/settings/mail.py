"""Settings of outgoing (receipts, pages) and incoming (customer replies) mail."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SmtpSettings(BaseModel):
    host: str | None = Field(
        None,
        description="SMTP server for outgoing mail. Unset: `ticketcore up` runs a local "
        "mail catcher and shows its mails on /outbox.",
    )
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = Field("starttls")
    username: str | None = None
    password: str | None = None
    timeout_s: float = Field(30.0, gt=0)
    sender: str = Field("service@example.com", description="From address of every mail.")
    sender_name: str = Field("Support", description="Display name of the From address.")


class InboundMailSettings(BaseModel):
    support_address: str = Field(
        "auftrag@example.com", description="Address customers reply to (Reply-To)."
    )
    smtp_host: str = Field("127.0.0.1", description="Address of the inbound SMTP listener.")
    smtp_port: int = Field(2525, ge=0, le=65535, description="Inbound SMTP port (0 = off).")
    lmtp_port: int = Field(0, ge=0, le=65535, description="Inbound LMTP port (0 = off).")
    max_message_bytes: int = Field(25 * 1024 * 1024, gt=0,
                                   description="Larger mails are refused with SMTP 552.")
