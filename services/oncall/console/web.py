"""The console's collaborators and what every request needs of them: the session, the
checked form, the page with its flash message, the login page with its CSRF cookie."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile  # what request.form() holds

from services.oncall.answers import Upload
from services.oncall.console.actions import ActionHandler
from services.oncall.console.forms import PostedForm
from services.oncall.console.pages import render
from services.oncall.console.sessions import (
    FLASH_COOKIE,
    LOGIN_CSRF_COOKIE,
    LOGIN_CSRF_TTL_S,
    LOGIN_NONCE,
    LOGIN_PATH,
    Session,
    form_csrf_valid,
    login_csrf_token,
    login_csrf_valid,
    login_redirect,
    read_flash,
    session_of,
)
from services.oncall.readmodel import TicketBoard
from shared.domain.calendar import BusinessCalendar, calendar_from_settings
from shared.domain.pricing import Quote, running_total
from shared.domain.ticket import TicketState
from shared.runtime.auth import SAFE_METHODS, SESSION_COOKIE, Authenticator
from shared.runtime.context import Runtime
from shared.runtime.secrets import keyring
from shared.runtime.signing import Keyring


@dataclass
class Console:
    """The console's collaborators: the runtime, the queue read model and the actions."""

    runtime: Runtime
    board: TicketBoard
    actions: dict[str, ActionHandler]
    secret: Keyring = field(init=False)
    _calendar: BusinessCalendar | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.secret = keyring(self.runtime.settings)

    def running_total(self, state: TicketState) -> Quote | None:
        """What the ticket's uninvoiced time would cost now (None: nothing to bill)."""
        if not state.uninvoiced_entries:
            return None
        if self._calendar is None:
            self._calendar = calendar_from_settings(self.runtime.settings.billing)
        return running_total(state, self.runtime.settings, self._calendar)

    def login_page(self, request: Request, status_code: int = 200,
                   error: str | None = None, technician_id: str = "") -> HTMLResponse:
        """The login form with its CSRF token; keeps a valid pre-session cookie (two
        tabs keep working) and sets a fresh one otherwise."""
        nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not LOGIN_NONCE.match(nonce):
            nonce = secrets.token_urlsafe(32)
        response = render("login.html", status_code, technician=None, flash=None,
                          csrf=login_csrf_token(self.secret, nonce), error=error,
                          technician_id=technician_id)
        response.set_cookie(LOGIN_CSRF_COOKIE, nonce, max_age=LOGIN_CSRF_TTL_S,
                            path=LOGIN_PATH, httponly=True, samesite="lax",
                            secure=self.secure_cookies(request))
        return response

    def login_csrf_ok(self, request: Request, token: str) -> bool:
        """True if the login form was sent from the login page this browser got."""
        return login_csrf_valid(self.secret, request.cookies.get(LOGIN_CSRF_COOKIE, ""), token)

    @property
    def auth(self) -> Authenticator:
        """Passwords, throttling and the sessions kept on the server."""
        return self.runtime.authenticator

    async def session(self, request: Request) -> Session | None:
        """The technician's session, if the request carries a genuine, open one."""
        value = request.cookies.get(SESSION_COOKIE)
        if not value:
            return None
        tech = await self.auth.session(value)
        return session_of(tech, self.secret, value) if tech is not None else None

    async def admit(self, request: Request) -> None:
        """The guard of every console route but the login form's (shared.runtime.auth,
        guarded_route), before the route runs: a request without an open session goes to
        the login form, a change without the form's CSRF token gets 403."""
        session = await self.session(request)
        if session is None:
            raise login_redirect()
        request.state.console_session = session
        if request.method not in SAFE_METHODS:
            await self._checked_fields(request, session)

    async def require_session(self, request: Request) -> Session:
        """The session the guard admitted (or, outside the guard, a redirect to login)."""
        session = getattr(request.state, "console_session", None)
        if isinstance(session, Session):
            return session
        session = await self.session(request)
        if session is None:
            raise login_redirect()
        return session

    async def _checked_fields(self, request: Request, session: Session) -> dict[str, str]:
        """The posted form's text fields, once its CSRF token is checked (403 otherwise)."""
        form = await request.form()  # parsed once: the route reads the same form
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if not form_csrf_valid(self.secret, session, fields.get("csrf", "")):
            raise HTTPException(status_code=403, detail="invalid CSRF token")
        return fields

    async def form(self, request: Request, session: Session) -> PostedForm:
        """The posted form's fields and files, after checking its CSRF token (403
        otherwise: no file is even read then)."""
        fields = await self._checked_fields(request, session)
        form = await request.form()
        files = [Upload(v.filename or "", await v.read()) for _, v in form.multi_items()
                 if isinstance(v, UploadFile) and v.filename]
        return PostedForm(fields, files)

    def secure_cookies(self, request: Request) -> bool:
        """Cookies are Secure whenever the console is reached by https."""
        return request.url.scheme == "https" or self.runtime.public_url.startswith("https")

    def page(self, name: str, request: Request, session: Session | None,
             status_code: int = 200, **context: Any) -> HTMLResponse:
        """A page for the technician, with (and then without) the last action's message."""
        flash = read_flash(self.secret, request.cookies.get(FLASH_COOKIE))
        response = render(name, status_code, technician=session.technician if session else None,
                          csrf=session.csrf if session else "", flash=flash, **context)
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path="/console")
        return response

    async def not_found(self, request: Request, message: str) -> HTMLResponse:
        """The 404 page saying what was not found."""
        return self.page("not_found.html", request, await self.session(request),
                         status_code=404,
                         message=message)
