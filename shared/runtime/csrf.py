"""One CSRF scheme for every form ticketcore serves (signed double submit).

A form's token is the signature, for the form's purpose, of a random value the browser holds
in an HttpOnly cookie (the console's session, the login page's pre-session value, the intake
form's cookie with the form's own one-time value). A foreign site can make the browser send
the cookie but can neither read it nor sign it, so it cannot forge the token. Tokens are
derived, never stored.
"""

from __future__ import annotations

import secrets

from shared.runtime.signing import Keys, Purpose, sign, verify

CSRF_FIELD = "csrf"


def new_binding() -> str:
    """A fresh random value for a cookie that a form's token is bound to."""
    return secrets.token_urlsafe(24)


def csrf_token(secret: Keys, purpose: Purpose, *binding: str) -> str:
    """The token a form of ``purpose`` carries for the browser holding ``binding``."""
    return sign(secret, purpose, *binding)


def csrf_valid(secret: Keys, purpose: Purpose, token: str | None,
               *binding: str | None) -> bool:
    """True if ``token`` is the one of this browser's ``binding`` (all present)."""
    if not token or not all(binding):
        return False
    return verify(secret, purpose, token, *(value or "" for value in binding))
