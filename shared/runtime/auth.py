"""HTTP authentication of technicians: ``Authorization: Bearer <API token>`` for scripts,
HTTP Basic (id + password) as a fallback, and the console's session cookie. Anything else
gets 401 and changes nothing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from fastapi import HTTPException, Request

from shared.runtime.accounts import AccountStore, Technician

SESSION_COOKIE = "tc_session"
SESSION_TTL_S = 12 * 3600


def _unauthorized() -> HTTPException:
    return HTTPException(status_code=401, detail="authentication required",
                         headers={"WWW-Authenticate": 'Bearer realm="ticketcore"'})


def session_cookie_value(secret: str, technician_id: str, now: float | None = None) -> str:
    """A signed, expiring session value: ``<id>.<expiry>.<signature>``."""
    expiry = int((now or time.time()) + SESSION_TTL_S)
    payload = f"{technician_id}.{expiry}"
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{signature}"


def technician_from_session(accounts: AccountStore, secret: str, value: str) -> Technician | None:
    try:
        technician_id, expiry, signature = value.rsplit(".", 2)
        payload = f"{technician_id}.{expiry}"
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature) or int(expiry) < time.time():
            return None
    except ValueError:
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
