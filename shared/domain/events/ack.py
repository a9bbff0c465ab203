"""Events of the receipt mail (the ack service)."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.domain.events.base import Event, Personal


class AckSent(Event, tag=True, frozen=True, kw_only=True):
    """The receipt with the case number was accepted by the SMTP server."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True
    PERSONAL: ClassVar[tuple[Personal, ...]] = (Personal("recipient"),)

    message_id: str
    recipient: str


class AckFailed(Event, tag=True, frozen=True, kw_only=True):
    """One failed attempt to send the receipt; ``permanent`` means retrying cannot help."""

    attempt: int
    error: str
    permanent: bool = False


class ReceiptOverdue(Event, tag=True, frozen=True, kw_only=True):
    """The promised receipt time (about 10 minutes) is at risk: operators must look."""

    minutes_since_submission: int


CustomerMailKind = Literal["answer", "accepted", "resolved"]


class CustomerMailed(Event, tag=True, frozen=True, kw_only=True):
    """A mail to the customer about ``source_event_id`` (a technician's answer, the
    acceptance or the resolution) was accepted by the SMTP server. It names no address:
    the mail goes to the ticket's contact, whose address stays in the sealed request."""

    kind: CustomerMailKind
    source_event_id: str
    message_id: str


class CustomerMailFailed(Event, tag=True, frozen=True, kw_only=True):
    """The mail server refused a mail to the customer about ``source_event_id`` for good
    (a permanent SMTP error): the customer did not get it; a technician should call."""

    kind: CustomerMailKind
    source_event_id: str
    error: str
