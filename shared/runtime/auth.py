"""HTTP authentication of technicians: ``Authorization: Bearer <API token>`` for scripts,
HTTP Basic (id + password) as a fallback, and the console's session cookie. Anything else
gets 401 and changes nothing.

- Password checks (argon2, slow on purpose) run in worker threads, at most
  ``PASSWORD_CHECKS_AT_ONCE`` at a time, and are throttled per client address and per
  account (:mod:`shared.runtime.throttle`): 429 with Retry-After, no hashing at all.
- Sessions live on the server (:mod:`shared.adapters.sessions`): the signed cookie names
  one, logout and "log out everywhere" end them, a cookie of an ended session is refused.
- The JSON API takes a session cookie only for reading; a request that changes something
  with a cookie must also carry the console's CSRF token in ``X-CSRF-Token`` (a foreign
  site can make the browser send the cookie, never the token).

Enforced by FastAPI, not by each handler: every technician route is on a
:func:`technician_router`, whose route class admits a request before anything of it is
parsed (the body is not even read for a stranger), and whose dependency
:func:`current_technician` hands the technician to the handler and carries the security
schemes into the OpenAPI document. The schemes documented are the ones read:
:data:`BEARER`, :data:`BASIC` and :data:`SESSION` parse the credentials the check uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPBasic, HTTPBearer

from shared.adapters.sessions import SESSION_TTL_S, SessionStore
from shared.runtime.accounts import AccountStore, Technician
from shared.runtime.csrf import csrf_valid
from shared.runtime.signing import CONSOLE_CSRF, Keys, check_expiring, sign_expiring
from shared.runtime.signing import SESSION as SESSION_SIGNATURE
from shared.runtime.throttle import LoginThrottle

log = logging.getLogger(__name__)

SESSION_COOKIE = "tc_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PASSWORD_CHECKS_AT_ONCE = 2  # argon2 threads: never all cores for guessers

__all__ = ["BASIC", "BEARER", "SESSION", "SESSION_COOKIE", "SESSION_TTL_S", "Authenticator",
           "CurrentTechnician", "SessionCookie", "Throttled", "client_address",
           "current_technician", "guarded_route", "session_cookie_value", "technician_router"]

# The three ways in, as the OpenAPI document names them: alternatives.
BEARER = HTTPBearer(scheme_name="bearer", auto_error=False,
                    description="A technician's API token: `Authorization: Bearer <token>`.")
BASIC = HTTPBasic(scheme_name="basic", auto_error=False,
                  description="A technician's id and password (slow on purpose, throttled).")
SESSION = APIKeyCookie(name=SESSION_COOKIE, scheme_name="session", auto_error=False,
                       description=f"The console's session cookie; a request that changes "
                                   f"something must also send `{CSRF_HEADER}`.")


class Throttled(Exception):
    """Too many password attempts from this client or for this account."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many login attempts: retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class SessionCookie:
    """The parts of a genuine, unexpired session cookie."""

    technician_id: str
    session_id: str


def _unauthorized() -> HTTPException:
    return HTTPException(status_code=401, detail="authentication required",
                         headers={"WWW-Authenticate": 'Bearer realm="ticketcore"'})


def session_cookie_value(secret: Keys, technician_id: str, session_id: str,
                         now: float | None = None) -> str:
    """A signed, expiring session value: ``<id>.<session id>.<expiry>.<signature>``."""
    expiry = int((now or time.time()) + SESSION_TTL_S)
    signature = sign_expiring(secret, SESSION_SIGNATURE, expiry, session_id, technician_id)
    return f"{technician_id}.{session_id}.{expiry}.{signature}"


def parse_session_cookie(secret: Keys, value: str) -> SessionCookie | None:
    """The technician and session of a genuinely signed, unexpired value; None otherwise
    (whether the session is still open is the session store's question)."""
    try:
        technician_id, session_id, expiry, signature = value.rsplit(".", 3)
    except ValueError:
        return None
    if check_expiring(secret, SESSION_SIGNATURE, signature, expiry, session_id,
                      technician_id) != "ok":
        return None
    return SessionCookie(technician_id, session_id)


def client_address(request: Request) -> str:
    """The client: the direct peer, or behind a trusted proxy the client it names
    (TICKETCORE_HTTP__TRUSTED_PROXIES, shared.runtime.httpserver)."""
    return request.client.host if request.client else "unknown"


class Authenticator:
    """Finds the technician of a request; opens and ends console sessions. One per
    service runtime (``Runtime.authenticator``), so one throttle per service process."""

    def __init__(self, accounts: Callable[[], AccountStore], secret: Keys,
                 sessions: SessionStore, throttle: LoginThrottle | None = None) -> None:
        self.accounts = accounts
        self.secret = secret
        self.sessions = sessions
        self.throttle = throttle or LoginThrottle()
        self._password_checks = asyncio.Semaphore(PASSWORD_CHECKS_AT_ONCE)

    async def technician(self, request: Request) -> Technician:
        """The technician making an API ``request``, read through the documented schemes;
        HTTPException 401 (403 without the CSRF token a cookie needs, 429 when
        throttled)."""
        tech: Technician | None = None
        bearer = await BEARER(request)
        if bearer is not None:
            tech = self.accounts().by_token(bearer.credentials.strip())
        elif (basic := await _basic_credentials(request)) is not None:
            tech = await self._basic(request, basic.username, basic.password)
        elif (cookie := await SESSION(request)) is not None:
            tech = await self._cookie(request, cookie)
        if tech is None:
            raise _unauthorized()
        return tech

    async def _basic(self, request: Request, user: str, password: str) -> Technician | None:
        try:
            return await self.password(client_address(request), user, password)
        except Throttled as throttled:
            raise HTTPException(status_code=429, detail=str(throttled), headers={
                "Retry-After": str(throttled.retry_after_s)}) from None

    async def _cookie(self, request: Request, value: str) -> Technician | None:
        if request.method not in SAFE_METHODS and not csrf_valid(
                self.secret, CONSOLE_CSRF, request.headers.get(CSRF_HEADER), value):
            raise HTTPException(status_code=403, detail=f"{CSRF_HEADER}: a request with the "
                                "session cookie needs the console's CSRF token; scripts "
                                "use an API token (Authorization: Bearer)")
        return await self.session(value)

    async def password(self, client: str, technician_id: str, password: str
                       ) -> Technician | None:
        """The technician if the password is right; raises Throttled when ``client`` or
        the account has tried too often. argon2 runs in a worker thread."""
        account = technician_id[:200]
        wait = self.throttle.try_attempt(client, account)
        if wait:
            log.info("login: throttled attempt for %r from %s (retry in %d s)", account,
                     client, wait)
            raise Throttled(wait)
        async with self._password_checks:
            tech = await asyncio.to_thread(self.accounts().by_password, technician_id,
                                           password)
        if tech is not None:
            self.throttle.succeeded(client, account)
        return tech

    async def session(self, value: str) -> Technician | None:
        """The technician of an open session's cookie value; None for anything else."""
        cookie = parse_session_cookie(self.secret, value)
        if cookie is None or not await self.sessions.is_open(cookie.technician_id,
                                                             cookie.session_id):
            return None
        return self.accounts().technicians.get(cookie.technician_id)

    async def open_session(self, tech: Technician) -> str:
        """A new session of ``tech``; returns the cookie value."""
        session_id = await self.sessions.open(tech.id)
        return session_cookie_value(self.secret, tech.id, session_id)

    async def close_session(self, value: str) -> None:
        """Logout: the session of this cookie value ends on the server."""
        cookie = parse_session_cookie(self.secret, value)
        if cookie is not None:
            await self.sessions.close(cookie.technician_id, cookie.session_id)

    async def close_all_sessions(self, technician_id: str) -> int:
        """Log out everywhere: every session of ``technician_id`` ends."""
        return await self.sessions.close_all(technician_id)


async def _basic_credentials(request: Request) -> Any:
    """HTTP Basic credentials, if sent; 401 for a Basic header that does not decode."""
    try:
        return await BASIC(request)
    except HTTPException:
        raise _unauthorized() from None


Guard = Callable[[Request], Awaitable[None]]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def guarded_route(guard: Guard) -> type[APIRoute]:
    """A route class that runs ``guard`` on each request before the route's own handler,
    so before FastAPI reads and parses the body for it: a request the guard refuses
    (by raising HTTPException) costs no parsing."""

    class GuardedRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                await guard(request)
                return await handler(request)

            return guarded

    return GuardedRoute


def technician_router(authenticator: Authenticator, **options: Any) -> APIRouter:
    """A router every route of which is for technicians only (``options``: APIRouter's)."""

    async def admit(request: Request) -> None:
        request.state.technician = await authenticator.technician(request)

    return APIRouter(route_class=guarded_route(admit),
                     dependencies=[Security(current_technician)], **options)


async def current_technician(request: Request,
                             _bearer: Any = Security(BEARER), _basic: Any = Security(BASIC),
                             _session: Any = Security(SESSION)) -> Technician:
    """The technician the route class admitted (the schemes: for the OpenAPI document).
    A route outside a technician router that asks for it is refused, never open."""
    tech = getattr(request.state, "technician", None)
    if not isinstance(tech, Technician):
        raise _unauthorized()
    return tech


CurrentTechnician = Annotated[Technician, Security(current_technician)]
