"""The mail channel of intake: customer replies to the receipt arrive by SMTP or LMTP.

``InboundMailChannel`` (listener) runs the servers; ``handler`` decides per mail what is
appended to the log; ``parse``, ``text`` and ``match`` are pure; the files go to the
object store of :mod:`shared.adapters.attachments`, by content hash.
"""

from services.intake.mail.listener import InboundMailChannel

__all__ = ["InboundMailChannel"]
