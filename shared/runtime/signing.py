"""Signing with a purpose: every HMAC-SHA256 ticketcore makes or checks goes through here.

Each use has a :class:`Purpose` whose label is signed in front of the message, so a value
signed for one use never verifies for another (domain separation): a session signature is
no status-link token, a CSRF token no acknowledge link. The label and the encoding of each
purpose are part of a wire format: tokens already handed out (status links in mailed
receipts, acknowledge links in page mails) must keep verifying, so a label is never changed
once used. Checks compare in constant time.

Keys rotate without breaking what was handed out: a :class:`Keyring` signs with the current
key and accepts a previous key until the time the operator gave it (docs/security.md,
rotation). Every function here takes a plain key or a keyring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Part = str | bytes
ExpiryCheck = Literal["ok", "bad_signature", "expired"]


@dataclass(frozen=True)
class Purpose:
    """One use of a signature and how it is written.

    The signed message is ``<label>:<part>:<part>...``; without a label (a format fixed by
    receivers outside ticketcore) the parts alone, joined by ``separator``. Parts are joined
    as they are, so only the last one may be free text that contains the separator.
    """

    label: str | None
    encoding: Literal["hex", "base64url"] = "hex"
    digest_bytes: int = 32  # a link token keeps fewer bytes to stay short
    separator: bytes = b":"

    def message(self, parts: Sequence[Part]) -> bytes:
        """The exact bytes signed for ``parts``."""
        encoded = [part.encode() if isinstance(part, str) else part for part in parts]
        if self.label is not None:
            encoded.insert(0, self.label.encode())
        return self.separator.join(encoded)


SESSION = Purpose("session")
STATUS_LINK = Purpose("status", encoding="base64url", digest_bytes=18)
ACKNOWLEDGE_LINK = Purpose("oncall-ack")
FORM_CSRF = Purpose("csrf", encoding="base64url")  # the public intake form
CONSOLE_CSRF = Purpose("console-csrf")  # console forms, bound to the session
LOGIN_CSRF = Purpose("console-login-csrf")  # the console's login form, before a session
FLASH_MESSAGE = Purpose("console-flash")
# The secret part of the Message-IDs of mails sent for a ticket: a reply naming one shows
# that its writer received our mail (docs/mail-in.md, "Trust").
MESSAGE_ID = Purpose("message-id", digest_bytes=12)
# Receivers verify HMAC(secret, "v2.<timestamp>.<event id>.<body>") (docs/webhooks.md):
# the scheme's version is the label. The webhook secret is a key of its own that signs
# nothing else. Event ids never hold a ".", so only the body (last) is free text.
WEBHOOK = Purpose("v2", separator=b".")

PURPOSES = (SESSION, STATUS_LINK, ACKNOWLEDGE_LINK, FORM_CSRF, CONSOLE_CSRF, LOGIN_CSRF,
            FLASH_MESSAGE, MESSAGE_ID, WEBHOOK)


@dataclass(frozen=True)
class Keyring:
    """The key that signs, and previous keys still accepted, each until a time."""

    current: str
    previous: tuple[tuple[str, float], ...] = ()  # (key, accepted until: unix seconds)

    def accepted(self, now: float | None = None) -> tuple[str, ...]:
        """The keys a signature may have been made with now: the current one first."""
        if not self.previous:
            return (self.current,)
        moment = time.time() if now is None else now
        return (self.current, *(key for key, until in self.previous if until > moment))


Keys = str | Keyring


def _signing_key(secret: Keys) -> str:
    return secret if isinstance(secret, str) else secret.current


def _accepted_keys(secret: Keys) -> tuple[str, ...]:
    return (secret,) if isinstance(secret, str) else secret.accepted()


def sign(secret: Keys, purpose: Purpose, *parts: Part) -> str:
    """The signature of ``parts`` for ``purpose`` with the current key, encoded as the
    purpose says."""
    return _sign_with(_signing_key(secret), purpose, parts)


def _sign_with(secret: str, purpose: Purpose, parts: Sequence[Part]) -> str:
    digest = hmac.new(secret.encode(), purpose.message(parts), hashlib.sha256).digest()
    digest = digest[:purpose.digest_bytes]
    if purpose.encoding == "hex":
        return digest.hex()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def verify(secret: Keys, purpose: Purpose, signature: str, *parts: Part) -> bool:
    """True if ``signature`` is the one of ``parts`` for ``purpose`` with an accepted key
    (constant time per key)."""
    # Compared as bytes: a hostile signature may hold characters compare_digest refuses.
    given = signature.encode("utf-8", "replace")
    return any(hmac.compare_digest(_sign_with(key, purpose, parts).encode(), given)
               for key in _accepted_keys(secret))


def sign_expiring(secret: Keys, purpose: Purpose, expires: int, *parts: Part) -> str:
    """The signature of ``parts`` valid until ``expires`` (unix seconds, signed last)."""
    return sign(secret, purpose, *parts, str(expires))


def check_expiring(secret: Keys, purpose: Purpose, signature: str, expires: str | int,
                   *parts: Part, now: float | None = None) -> ExpiryCheck:
    """Whether an expiring signature is genuine (``bad_signature`` otherwise) and its expiry
    (as sent, text or number) not yet passed."""
    try:
        expiry = int(expires)
    except ValueError:
        return "bad_signature"
    if not verify(secret, purpose, signature, *parts, str(expiry)):
        return "bad_signature"
    if expiry < (time.time() if now is None else now):
        return "expired"
    return "ok"
