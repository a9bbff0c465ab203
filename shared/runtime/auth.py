"""HTTP authentication of technicians: ``Authorization: Bearer <API token>`` for scripts,
HTTP Basic (id + password) as a fallback, and the console's session cookie. Anything else
gets 401 and changes nothing."""

from __future__ import annotations

import base64
import binascii
import time

from fastapi import HTTPException, Request

from shared.runtime.accounts import AccountStore, Technician
from shared.runtime.signing import SESSION, check_expiring, sign_expiring

SESSION_COOKIE = "tc_session"
SESSION_TTL_S = 12 * 3600


def _unauthorized() -> HTTPException:
    return HTTPException(status_code=401, detail="authentication required",
                         headers={"WWW-Authenticate": 'Bearer realm="ticketcore"'})


def session_cookie_value(secret: str, technician_id: str, now: float | None = None) -> str:
    """A signed, expiring session value: ``<id>.<expiry>.<signature>``."""
    expiry = int((now or time.time()) + SESSION_TTL_S)
    signature = sign_expiring(secret, SESSION, expiry, technician_id)
    return f"{technician_id}.{expiry}.{signature}"


def technician_from_session(accounts: AccountStore, secret: str, value: str) -> Technician | None:
    """The technician of a genuine, unexpired session value; None for anything else."""
    try:
        technician_id, expiry, signature = value.rsplit(".", 2)
    except ValueError:
        return None
    if check_expiring(secret, SESSION, signature, expiry, technician_id) != "ok":
        return None
    return accounts.technicians.get(technician_id)


def authenticate(request: Request, accounts: AccountStore, secret: str) -> Technician:
    """The technician making ``request``, or HTTPException 401."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    tech: Technician | None = None
    if scheme.lower() == "bearer" and credentials:
        tech = accounts.by_token(credentials.strip())
    elif scheme.lower() == "basic" and credentials:
        try:
            user, _, password = base64.b64decode(credentials).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized() from None
        tech = accounts.by_password(user, password)
    elif SESSION_COOKIE in request.cookies:
        tech = technician_from_session(accounts, secret, request.cookies[SESSION_COOKIE])
    if tech is None:
        raise _unauthorized()
    return tech
