"""The console's page of the live status announcements: ``/console/announcements`` lists
the published ones; technicians publish and withdraw them (forms with the CSRF token)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.oncall.announcements import AnnouncementError, Announcements
from services.oncall.console.sessions import FLASH_COOKIE, flash_value
from services.oncall.console.web import Console
from services.oncall.livestatus import PATH as LIVE_STATUS_PATH

PAGE = "/console/announcements"


def announcement_routes(router: APIRouter, console: Console) -> None:
    """Add the announcement page and its two actions to the console's ``router``."""
    announcements = Announcements(console.runtime.js)

    @router.get("/announcements")
    async def page(request: Request) -> Response:
        session = await console.require_session(request)
        return console.render("announcements.html", request, session,
                            announcements=await announcements.live(),
                            live_status=LIVE_STATUS_PATH)

    @router.post("/announcements")
    async def publish(request: Request) -> Response:
        session = await console.require_session(request)
        form = await console.form(request, session)
        try:
            await announcements.publish(form.get("text", ""), session.technician.id)
        except AnnouncementError as error:
            return _back(console, request, "error", str(error))
        return _back(console, request, "ok", "Die Meldung steht jetzt auf dem Live-Status.")

    @router.post("/announcements/{announcement_id}/withdraw")
    async def withdraw(request: Request, announcement_id: str) -> Response:
        session = await console.require_session(request)
        await console.form(request, session)
        try:
            await announcements.withdraw(announcement_id[:64], session.technician.id)
        except AnnouncementError as error:
            return _back(console, request, "error", str(error))
        return _back(console, request, "ok", "Die Meldung wurde zurückgezogen.")


def _back(console: Console, request: Request, kind: str, text: str) -> Response:
    response = RedirectResponse(PAGE, status_code=303)
    response.set_cookie(FLASH_COOKIE, flash_value(console.secret, kind, text),
                        max_age=60, path="/console", httponly=True, samesite="lax",
                        secure=console.secure_cookies(request))
    return response
