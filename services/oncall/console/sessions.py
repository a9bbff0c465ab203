"""Who is working and what the browser may send: the technician's session, the CSRF tokens
of the console's forms and the flash message an action leaves for the next page.

Sessions are the signed cookie of :mod:`shared.runtime.auth`. Every form carries a token of
the one CSRF scheme (:mod:`shared.runtime.csrf`): bound to the session cookie, or for the
login form to a random pre-session cookie, so a foreign site can neither read nor forge it
(no login CSRF either).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from fastapi import HTTPException

from shared.runtime.accounts import Technician
from shared.runtime.csrf import csrf_token, csrf_valid
from shared.runtime.signing import (
    CONSOLE_CSRF,
    FLASH_MESSAGE,
    LOGIN_CSRF,
    Keys,
    sign,
    verify,
)

FLASH_COOKIE = "tc_console_flash"
LOGIN_CSRF_COOKIE = "tc_console_login"
LOGIN_CSRF_TTL_S = 2 * 3600
LOGIN_NONCE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
LOGIN_PATH = "/console/login"


@dataclass(frozen=True)
class Session:
    """A logged-in technician, their session cookie and the CSRF token their forms carry."""

    technician: Technician
    cookie: str
    csrf: str


def session_of(technician: Technician, secret: Keys, session_value: str) -> Session:
    """The session of a genuine session cookie; its forms' token is bound to the cookie."""
    return Session(technician=technician, cookie=session_value,
                   csrf=csrf_token(secret, CONSOLE_CSRF, session_value))


def form_csrf_valid(secret: Keys, session: Session, token: str) -> bool:
    """True if a posted form's ``token`` belongs to this session."""
    return csrf_valid(secret, CONSOLE_CSRF, token, session.cookie)


def login_csrf_token(secret: Keys, nonce: str) -> str:
    """The login form's CSRF token, bound to the pre-session cookie's random value."""
    return csrf_token(secret, LOGIN_CSRF, nonce)


def login_csrf_valid(secret: Keys, nonce: str, token: str) -> bool:
    """True if the login form's ``token`` belongs to this browser's pre-session cookie."""
    return bool(LOGIN_NONCE.match(nonce)) and csrf_valid(secret, LOGIN_CSRF, token, nonce)


def flash_value(secret: Keys, kind: str, text: str) -> str:
    """The signed cookie value carrying an action's outcome to the next page."""
    payload = base64.urlsafe_b64encode(json.dumps([kind, text]).encode())
    return f"{payload.decode()}.{sign(secret, FLASH_MESSAGE, payload)}"


def read_flash(secret: Keys, value: str | None) -> tuple[str, str] | None:
    """The flash message of the last action, if the cookie is ours and intact."""
    if not value or "." not in value:
        return None
    payload, signature = value.rsplit(".", 1)
    if not verify(secret, FLASH_MESSAGE, signature, payload):
        return None
    try:
        kind, text = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, TypeError):
        return None
    return str(kind), str(text)


def login_redirect() -> HTTPException:
    """Raised where a page needs a session: the browser goes to the login form."""
    return HTTPException(status_code=303, detail="login required",
                         headers={"Location": LOGIN_PATH})
