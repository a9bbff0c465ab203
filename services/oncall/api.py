"""HTTP routes of the oncall service.

- ``GET /api/oncall/now[?at=<ISO time>]``: who is on call per level, and rota gaps
  (technicians only: names and addresses).
- ``GET /oncall/ack/{case}/{technician}?exp=..&sig=..``: the acknowledge link of a page
  shows a confirm page (mail scanners follow links: GET never changes anything);
  ``POST`` to the same address acknowledges.
- ``POST /api/tickets/{case}/accept|decline|respond|note|acknowledge|resolve``: technician
  actions (Bearer token, Basic or console session); the technician is the account.
- ``GET /api/oncall/tickets/{case}``: a ticket's deadlines and paging state.
"""

from __future__ import annotations

import base64
import binascii
import html
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from services.oncall import actions
from services.oncall.answers import FileRefused, Upload
from services.oncall.api_models import ActionResult, OnCallNow, TicketClocks
from services.oncall.console import console_router
from services.oncall.console.labels import refusal_text
from services.oncall.livestatus import live_status_router
from services.oncall.pagetexts import TechLanguage, tech_language, words
from services.oncall.paging import check_ack_link
from services.oncall.readmodel import TicketBoard
from services.oncall.rota import Rota, on_call_report
from shared.application.handling import Handled
from shared.application.timeentries import TechnicianEntries
from shared.domain.ticket import DomainError
from shared.runtime.apidocs import ActionRefusal, ErrorMessage, technician_errors
from shared.runtime.auth import CurrentTechnician, technician_router
from shared.runtime.context import Runtime
from shared.runtime.secrets import keyring

STATUS_OF_ERROR = {"unknown_ticket": 404, "invalid_case_number": 404,
                   "reason_required": 422, "note_required": 422}


class DeclineBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Mailed to the customer.")


class FileBody(BaseModel):
    filename: str = Field(min_length=1, max_length=255,
                          description="Its extension decides the type (pdf, png, txt, ...).")
    content_base64: str = Field(description="The file's bytes, base64-encoded.")


class RespondBody(BaseModel):
    message: str = Field("", max_length=10_000,
                         description="Mailed to the customer and shown on the status page.")
    request_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                   description="Makes a retried call store once.")
    files: list[FileBody] = Field(default_factory=list,
                                  description="Attached to the customer's mail.")


class NoteBody(BaseModel):
    text: str = Field(min_length=1, max_length=10_000,
                      description="For technicians only: never mailed, never shown.")
    request_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                   description="Makes a retried call store once.")


def _uploads(files: list[FileBody]) -> list[Upload]:
    uploads = []
    for file in files:
        try:
            data = base64.b64decode(file.content_base64, validate=True)
        except binascii.Error:
            raise HTTPException(422, detail=f"files: {file.filename}: content_base64 is "
                                "not valid base64") from None
        uploads.append(Upload(file.filename, data))
    return uploads


class ResolveBody(BaseModel):
    resolution: str = Field("", max_length=10_000)


def _parse_at(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(422, detail=f"at: not an ISO 8601 date-time: {at!r}") from None
    if moment.tzinfo is None:
        raise HTTPException(422, detail="at: give a time zone offset, e.g. 2026-11-29T03:00Z")
    return moment


# The JSON actions on a ticket: what they answer, and the refusals of the ticket's rules.
ACTION_DOCS: dict[str, Any] = {
    "response_model": None,
    "responses": {200: {"model": ActionResult},
                  **technician_errors(ActionRefusal, 404, 409, described={
                      409: "The ticket's state or a rule does not allow it (e.g. "
                           "`not_accepted`, `not_paged_person`).",
                      422: "The body does not fit the schema, a required text is missing "
                           "(`reason_required`, `note_required`) or a file is refused."})}}


def _refusal(error: DomainError) -> JSONResponse:
    return JSONResponse({"error": error.code, "message": error.message},
                        status_code=STATUS_OF_ERROR.get(error.code, 409))


def _result(result: Handled) -> dict[str, Any]:
    state = result.state
    return {"case_number": result.case, "status": state.status,
            "stored": [type(e).__name__ for e in result.events],
            "already_done": not result.changed,
            "reaction_deadline": state.reaction_deadline,
            "response_deadline": state.response_deadline,
            "paged_technician": state.paged_technician,
            "acknowledged_by": state.page_acknowledged_by}


def oncall_router(runtime: Runtime, rota: Rota, board: TicketBoard,
                  entries: TechnicianEntries,
                  clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> APIRouter:
    """All routes of the oncall service: rota, the public live status page (``clock`` is
    its "now"), acknowledge links, the JSON actions and the technician console (on the
    service's queue read model and time entries)."""
    router = APIRouter()
    technicians = technician_router(runtime.authenticator, tags=["oncall"])
    _rota_routes(technicians, runtime, rota)
    _action_routes(technicians, runtime)
    router.include_router(technicians)
    router.include_router(live_status_router(runtime, rota, clock))
    _ack_link_routes(router, runtime)
    router.include_router(console_router(runtime, board, entries))
    return router


def _rota_routes(router: APIRouter, runtime: Runtime, rota: Rota) -> None:
    @router.get("/api/oncall/now", response_model=None, responses={
                    200: {"model": OnCallNow},
                    **technician_errors(ErrorMessage, described={
                        422: "`at` is not an ISO 8601 time with an offset."})})
    async def on_call_now(at: str | None = Query(None, description="ISO time, default now")
                          ) -> dict[str, Any]:
        """Who is on call at ``at`` on every escalation level, and the rota's gaps. For
        technicians only: it names people and their addresses."""
        return on_call_report(rota, _parse_at(at), runtime.settings.oncall.rota_check_weeks)


def _page(title: str, body: str, language: TechLanguage, status_code: int = 200
          ) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='{language}'><head><meta charset='utf-8'>"
        f"<meta name='robots' content='noindex'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>", status_code=status_code)


def _ack_link_routes(router: APIRouter, runtime: Runtime) -> None:
    secret = keyring(runtime.settings)  # links signed with a previous key still work

    def language_of(technician: str) -> TechLanguage:
        """The technician account's language; German without an account or a language."""
        tech = runtime.accounts.technicians.get(technician)
        return tech_language(tech.language if tech else None)

    def refused(check: str, language: TechLanguage) -> HTMLResponse:
        return _page(words(language, "refused.title"),
                     f"<p>{html.escape(words(language, f'refused.{check}'))}</p>", language, 403)

    @router.get("/oncall/ack/{case}/{technician}", include_in_schema=False)
    async def confirm_page(case: str, technician: str, exp: str = "", sig: str = ""
                           ) -> HTMLResponse:
        language = language_of(technician)
        check = check_ack_link(secret, case, technician, exp, sig)
        if check != "ok":
            return refused(check, language)
        action = html.escape(f"/oncall/ack/{case}/{technician}?exp={exp}&sig={sig}")
        who = html.escape(words(language, "confirm.technician", technician=technician))
        button = html.escape(words(language, "confirm.button"))
        return _page(words(language, "confirm.title", case=case),
                     f"<p>{who}</p><form method='post' action='{action}'>"
                     f"<button type='submit'>{button}</button></form>", language)

    @router.post("/oncall/ack/{case}/{technician}", include_in_schema=False)
    async def acknowledge_by_link(case: str, technician: str, exp: str = "", sig: str = ""
                                  ) -> HTMLResponse:
        language = language_of(technician)
        check = check_ack_link(secret, case, technician, exp, sig)
        if check != "ok":
            return refused(check, language)
        try:
            result = await actions.acknowledge(runtime, case, technician)
        except DomainError as error:
            status = 404 if error.code in ("unknown_ticket", "invalid_case_number") else 403
            reason = refusal_text(error) if language == "de" else f"{error.message}."
            return _page(words(language, "not_acknowledged"),
                         f"<p>{html.escape(reason)}</p>", language, status)
        if not result.changed:
            by = result.state.page_acknowledged_by or ""
            return _page(words(language, "already.title"), "<p>" + html.escape(
                words(language, "already", case=case, by=by)) + "</p>", language)
        return _page(words(language, "done.title"),
                     f"<p>{html.escape(words(language, 'done', case=case))}</p>", language)


def _action_routes(router: APIRouter, runtime: Runtime) -> None:
    async def run(coroutine: Any) -> JSONResponse:
        try:
            result = await coroutine
        except DomainError as error:
            return _refusal(error)
        return JSONResponse(msgspec.to_builtins(_result(result)))

    @router.get("/api/oncall/tickets/{case}", response_model=None, responses={
                    200: {"model": TicketClocks},
                    **technician_errors(ActionRefusal, 404)})
    async def clocks(case: str) -> JSONResponse:
        """A ticket's SLA clocks and paging state, for technicians."""
        try:
            actions.check_case(case)
            history = await runtime.store.load(case)
        except DomainError as error:
            return _refusal(error)
        state = history.state
        if state.status == "new":
            return _refusal(DomainError("unknown_ticket", "there is no such ticket"))
        return JSONResponse(msgspec.to_builtins({
            "case_number": case, "status": state.status, "priority": state.priority,
            "reaction_deadline": state.reaction_deadline,
            "response_deadline": state.response_deadline,
            "first_response_at": state.first_response_at,
            "paged_technician": state.paged_technician,
            "escalation_level": state.escalation_level,
            "acknowledged_by": state.page_acknowledged_by,
            "breached": sorted(state.breached_clocks)}))

    @router.post("/api/tickets/{case}/accept", **ACTION_DOCS)
    async def accept(case: str, tech: CurrentTechnician) -> JSONResponse:
        """Accept a ticket of a customer without SLA agreement."""
        return await run(actions.accept(runtime, case, tech.id))

    @router.post("/api/tickets/{case}/decline", **ACTION_DOCS)
    async def decline(case: str, body: DeclineBody, tech: CurrentTechnician) -> JSONResponse:
        """Decline a ticket of a customer without SLA; the reason is mailed to them."""
        return await run(actions.decline(runtime, case, tech.id, body.reason))

    @router.post("/api/tickets/{case}/respond", **ACTION_DOCS)
    async def respond(case: str, body: RespondBody, tech: CurrentTechnician) -> JSONResponse:
        """Answer the customer (mailed, with the files, once); the first answer stops the
        reaction / first-response clock. A refused file answers 422 and stores nothing."""
        try:
            return await run(actions.respond(runtime, case, tech.id,
                                             body.message, request_id=body.request_id,
                                             files=_uploads(body.files)))
        except FileRefused as refused:
            return JSONResponse({"error": refused.code, "message": refused.english},
                                status_code=422)

    @router.post("/api/tickets/{case}/note", **ACTION_DOCS)
    async def note(case: str, body: NoteBody, tech: CurrentTechnician) -> JSONResponse:
        """Add an internal note: technicians only, never mailed, never on the status page."""
        return await run(actions.note(runtime, case, tech.id, body.text,
                                      request_id=body.request_id))

    @router.post("/api/tickets/{case}/acknowledge", **ACTION_DOCS)
    async def acknowledge(case: str, tech: CurrentTechnician) -> JSONResponse:
        """Acknowledge the page (only the paged technician; twice is harmless)."""
        return await run(actions.acknowledge(runtime, case, tech.id))

    @router.post("/api/tickets/{case}/resolve", **ACTION_DOCS)
    async def resolve(case: str, tech: CurrentTechnician, body: ResolveBody | None = None
                      ) -> JSONResponse:
        """Resolve the ticket; its pending timers then do nothing."""
        return await run(actions.resolve(runtime, case, tech.id,
                                         body.resolution if body else ""))
