"""HTTP routes of the customer's door: the form, the JSON API, confirmation and status."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote

import nats.errors
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from services.intake.api_models import Problem, RequestAccepted, SupportRequestBody
from services.intake.catalogue import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    Language,
    as_language,
    from_accept_language,
    text,
)
from services.intake.protection import (
    CSRF_COOKIE,
    BodyTooLarge,
    RateLimiter,
    read_body,
    secured_route_class,
)
from services.intake.rendering import (
    STYLE_HASH,
    error_messages,
    field_labels,
    message_page,
    render,
    status_context,
    visible_attachments,
)
from services.intake.submission import IdempotencyKeyReused, Intake, Submitted
from services.intake.terms import AGREEMENT_KEYS, HOURS_KEYS, NEXT_KEYS, terms_figures
from shared.adapters.attachments import AttachmentNotFound
from shared.adapters.casenumbers import CounterUnavailable
from shared.adapters.eventstore import (
    ConcurrencyConflict,
    EventStore,
    EventStoreError,
    TicketHistory,
)
from shared.adapters.logthrottle import WarningThrottle
from shared.domain import events as ev
from shared.domain.calendar import berlin_date
from shared.domain.casenumber import is_valid_case_number
from shared.domain.requestform import SupportRequest, validate
from shared.runtime.csrf import csrf_token, csrf_valid, new_binding
from shared.runtime.links import status_path, verify_status_token
from shared.runtime.responses import attachment_download, security_headers
from shared.runtime.secrets import keyring
from shared.runtime.signing import FORM_CSRF
from shared.settings import Settings

log = logging.getLogger(__name__)

LANGUAGE_COOKIE = "lang"
MAX_FORM_FIELDS = 100
MAX_ECHOED_CHARS = 5000
RETRY_AFTER_S = 2  # a failover of the log's leader takes a few seconds (docs/operations.md)
ResponseT = TypeVar("ResponseT", bound=Response)
# The store or the bus did not answer: nothing was stored, the customer may try again.
UNAVAILABLE = (nats.errors.Error, TimeoutError, EventStoreError, ConcurrencyConflict,
               CounterUnavailable)


def retry_later(response: ResponseT) -> ResponseT:
    """A 503 says when to try again: the store is back after a leader election."""
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _form_fields(body: bytes) -> dict[str, str]:
    """The fields of an urlencoded body; the first of repeated names counts."""
    fields: dict[str, str] = {}
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                      max_num_fields=MAX_FORM_FIELDS, errors="strict")
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _client(request: Request) -> str:
    # The peer, or behind a trusted proxy the client it names (TICKETCORE_HTTP__TRUSTED_PROXIES).
    return request.client.host if request.client else "unknown"


class IntakeWeb:
    """The routes, bound to the intake's collaborators; ``read_file(sha256)`` reads a reply
    attachment (raises AttachmentNotFound)."""

    def __init__(self, settings: Settings, store: EventStore, intake: Intake,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 read_file: Callable[[str], Awaitable[bytes]] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.intake = intake
        self.clock = clock
        self.read_file = read_file
        self.submit_limiter = RateLimiter(settings.intake.rate_limit_per_minute)
        self.status_limiter = RateLimiter(settings.intake.status_rate_limit_per_minute)
        self.secure_cookies = (settings.http.public_url or "").startswith("https://")
        self.keys = keyring(settings)  # signs with the current key, accepts previous ones
        # A failover answers many requests 503 in a row: one warning per 30 s says so.
        self.unavailable = WarningThrottle(log)

    # -- helpers ------------------------------------------------------------------------

    def language_of(self, request: Request, chosen: object = None) -> Language:
        """Explicit choice, then the language cookie, then Accept-Language, then German."""
        return (as_language(chosen) or as_language(request.query_params.get("lang"))
                or as_language(request.cookies.get(LANGUAGE_COOKIE))
                or from_accept_language(request.headers.get("accept-language"))
                or DEFAULT_LANGUAGE)

    def status_url(self, case_number: str) -> str:
        return status_path(self.keys, case_number)

    def _form_page(self, request: Request, language: Language, *, cookie: str,
                   form_token: str | None = None, values: dict[str, str] | None = None,
                   errors: dict[str, str] | None = None, status_code: int = 200
                   ) -> HTMLResponse:
        form_token = form_token or new_binding()
        response = render("form.html", language, status_code=status_code,
                          switch_url=f"/?lang={'en' if language == 'de' else 'de'}",
                          action="/", values=values or {}, errors=errors or {},
                          form_token=form_token, terms=self._terms(language),
                          csrf=csrf_token(self.keys, FORM_CSRF, cookie, form_token))
        response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="lax",
                            secure=self.secure_cookies, path="/")
        response.set_cookie(LANGUAGE_COOKIE, language, samesite="lax",
                            secure=self.secure_cookies, path="/", max_age=365 * 24 * 3600)
        return response

    def _terms(self, language: Language) -> dict[str, object]:
        """The order terms with today's figures from the billing settings."""
        return {"agreement": AGREEMENT_KEYS, "hours": HOURS_KEYS, "next": NEXT_KEYS,
                "figures": terms_figures(self.settings, language)}

    async def _history(self, case_number: str, token: str) -> TicketHistory | None:
        """The ticket, if the number is valid, the token right and the ticket exists."""
        if not is_valid_case_number(case_number) or not token:
            return None
        if not verify_status_token(self.keys, case_number, token):
            return None
        history = await self.store.load(case_number)
        return history if history.events else None

    # -- HTML form ----------------------------------------------------------------------

    async def show_form(self, request: Request) -> HTMLResponse:
        cookie = request.cookies.get(CSRF_COOKIE) or new_binding()
        return self._form_page(request, self.language_of(request), cookie=cookie[:64])

    async def submit_form(self, request: Request) -> Response:
        language = self.language_of(request)
        wait = self.submit_limiter.retry_after(_client(request))
        if wait is not None:
            page = message_page(language, "error.rate_limited", status_code=429, seconds=wait)
            page.headers["Retry-After"] = str(wait)
            return page
        if _media_type(request) != "application/x-www-form-urlencoded":
            return message_page(language, "error.media_type", status_code=415,
                                expected="application/x-www-form-urlencoded")
        try:
            fields = _form_fields(await read_body(request, self.settings.intake.max_body_bytes))
        except BodyTooLarge:
            return message_page(language, "error.too_large", status_code=413)
        except ValueError:  # undecodable bytes, too many fields
            return message_page(language, "error.invalid_request", status_code=400)
        language = self.language_of(request, fields.get("lang"))
        cookie = request.cookies.get(CSRF_COOKIE)
        form_token = fields.get("form_token", "")
        token = fields.get("csrf_token", "")
        if not csrf_valid(self.keys, FORM_CSRF, token, cookie,
                          form_token) or len(form_token) > 64:
            return message_page(language, "error.form_expired", status_code=403,
                                link=f"/?lang={language}", link_text=text(language,
                                                                          "error.reload"))
        assert cookie is not None
        result = validate(dict(fields), "form", berlin_date(self.clock()))
        if not isinstance(result, SupportRequest):
            values = {name: value[:MAX_ECHOED_CHARS] for name, value in fields.items()}
            return self._form_page(request, language, cookie=cookie, form_token=form_token,
                                   values=values, errors=error_messages(result, language),
                                   status_code=422)
        try:
            submitted = await self.intake.submit(result, language=language, channel="web",
                                                 key=form_token, strict_key=False)
        except UNAVAILABLE as error:
            self.unavailable.warning("store", "intake: request not stored, answered 503: %r",
                                     error)
            return retry_later(message_page(language, "error.unavailable", status_code=503))
        number = submitted.case_number
        target = f"/confirmation/{number}?t={quote(self._token(number))}"
        return RedirectResponse(target, status_code=303)

    def _token(self, case_number: str) -> str:
        return self.status_url(case_number).split("?t=", 1)[1]

    # -- confirmation and status ---------------------------------------------------------

    def _status_rate_limited(self, request: Request, language: Language) -> Response | None:
        """The 429 page when this client asked for status pages too often (else None)."""
        wait = self.status_limiter.retry_after(_client(request))
        if wait is None:
            return None
        page = message_page(language, "error.rate_limited", status_code=429, seconds=wait)
        page.headers["Retry-After"] = str(wait)
        return page

    async def _ticket_page(self, request: Request, case_number: str, token: str,
                           template: str) -> Response:
        fallback = self.language_of(request)
        limited = self._status_rate_limited(request, fallback)
        if limited is not None:
            return limited
        try:
            history = await self._history(case_number, token)
        except UNAVAILABLE as error:
            log.warning("intake: status not readable: %r", error)
            return message_page(fallback, "error.unavailable", status_code=503)
        if history is None:
            return message_page(fallback, "error.not_found", status_code=404)
        first = history.events[0].event
        if not isinstance(first, ev.RequestSubmitted):
            return message_page(fallback, "error.not_found", status_code=404)
        language = as_language(request.query_params.get("lang")) or first.language
        context = status_context(history, language, lambda sha256: (
            f"/status/{case_number}/attachments/{sha256}?t={quote(token)}"))
        path = f"{request.url.path}?t={quote(token)}"
        return render(template, language, switch_url=f"{path}&lang="
                      f"{'en' if language == 'de' else 'de'}",
                      status_url=self.status_url(case_number),
                      redacted_labels=field_labels(first.redacted_fields, language), **context)

    async def confirmation(self, request: Request, case_number: str, t: str = "") -> Response:
        return await self._ticket_page(request, case_number, t, "confirmation.html")

    async def status(self, request: Request, case_number: str, t: str = "") -> Response:
        return await self._ticket_page(request, case_number, t, "status.html")

    async def attachment(self, request: Request, case_number: str, sha256: str,
                         t: str = "") -> Response:
        """A file of one of the ticket's customer replies, as a download. Anything not
        referenced by such a reply answers 404, exactly like a wrong token."""
        fallback = self.language_of(request)
        limited = self._status_rate_limited(request, fallback)
        if limited is not None:
            return limited
        try:
            history = await self._history(case_number, t)
            ref = visible_attachments(history).get(sha256) if history else None
            if ref is None or self.read_file is None:
                return message_page(fallback, "error.not_found", status_code=404)
            data = await self.read_file(sha256)
        except AttachmentNotFound:  # referenced, but the object store lost it
            log.warning("intake: attachment %s of %s is missing", sha256, case_number)
            return message_page(fallback, "error.not_found", status_code=404)
        except UNAVAILABLE as error:
            log.warning("intake: attachment not readable: %r", error)
            return message_page(fallback, "error.unavailable", status_code=503)
        return attachment_download(data, ref)

    # -- JSON API -----------------------------------------------------------------------

    def _problem(self, language: Language, status_code: int, key: str,
                 errors: dict[str, str] | None = None, **values: object) -> JSONResponse:
        body = {"message": text(language, key, **values), "errors": errors or {}}
        return JSONResponse(body, status_code=status_code,
                            headers={"Content-Language": language})

    async def create_request(self, request: Request,
                             idempotency_key: str | None) -> JSONResponse:
        language = from_accept_language(request.headers.get("accept-language")) or "de"
        wait = self.submit_limiter.retry_after(_client(request))
        if wait is not None:
            problem = self._problem(language, 429, "error.rate_limited", seconds=wait)
            problem.headers["Retry-After"] = str(wait)
            return problem
        if _media_type(request) != "application/json":
            return self._problem(language, 415, "error.media_type", expected="application/json")
        try:
            body = await read_body(request, self.settings.intake.max_body_bytes)
        except BodyTooLarge:
            return self._problem(language, 413, "error.too_large")
        if idempotency_key is not None and not _valid_key(idempotency_key):
            return self._problem(language, 422, "error.invalid_request", {
                "Idempotency-Key": text(language, "error.idempotency_key")})
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return self._problem(language, 400, "error.invalid_json")
        if not isinstance(data, dict):
            return self._problem(language, 422, "error.invalid_request",
                                 {"body": text(language, "error.not_an_object")})
        return await self._submit_json(data, language, idempotency_key)

    async def _submit_json(self, data: dict[str, Any], language: Language,
                           idempotency_key: str | None) -> JSONResponse:
        errors: dict[str, str] = {}
        if "language" in data and data["language"] is not None:
            if data["language"] in LANGUAGES:
                language = data["language"]
            else:
                errors["language"] = text(language, "error.language")
        result = validate(data, "json", berlin_date(self.clock()))
        if not isinstance(result, SupportRequest):
            errors.update(error_messages(result, language))
        if errors or not isinstance(result, SupportRequest):
            return self._problem(language, 422, "error.invalid_request", errors)
        try:
            submitted = await self.intake.submit(result, language=language, channel="api",
                                                 key=idempotency_key)
        except IdempotencyKeyReused:
            return self._problem(language, 422, "error.invalid_request", {
                "Idempotency-Key": text(language, "error.idempotency_reused")})
        except UNAVAILABLE as error:
            self.unavailable.warning("store", "intake: request not stored, answered 503: %r",
                                     error)
            return retry_later(self._problem(language, 503, "error.unavailable"))
        return self._accepted(submitted, language)

    def _accepted(self, submitted: Submitted, language: Language) -> JSONResponse:
        status_url = self.status_url(submitted.case_number)
        notice = None
        if submitted.redacted_fields:
            notice = text(language, "confirm.redacted", fields=", ".join(
                field_labels(submitted.redacted_fields, language)))
        body = RequestAccepted(case_number=submitted.case_number, status_url=status_url,
                               language=language, redacted_fields=list(submitted.redacted_fields),
                               notice=notice, replayed=submitted.replayed)
        headers = {"Location": status_url, "Content-Language": language}
        if submitted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(body.model_dump(), status_code=201, headers=headers)

    # -- router -------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(route_class=secured_route_class(security_headers(
            style_src=f"'{STYLE_HASH}'", img_src="'self' data:")))
        router.add_api_route("/", self.show_form, methods=["GET"], include_in_schema=False,
                             response_class=HTMLResponse)
        router.add_api_route("/", self.submit_form, methods=["POST"], include_in_schema=False)
        router.add_api_route("/confirmation/{case_number}", self.confirmation, methods=["GET"],
                             include_in_schema=False)
        router.add_api_route("/status/{case_number}", self.status, methods=["GET"],
                             include_in_schema=False)
        router.add_api_route("/status/{case_number}/attachments/{sha256}", self.attachment,
                             methods=["GET"], include_in_schema=False)
        web = self

        async def create_request(
            request: Request,
            idempotency_key: str | None = Header(
                None, alias="Idempotency-Key",
                description="Any text of 1 to 200 printable ASCII characters. Repeating a "
                "request with the same key (within 24 hours) creates no second ticket and "
                "answers the first case number again."),
        ) -> JSONResponse:
            return await web.create_request(request, idempotency_key)

        router.add_api_route(
            "/api/requests", create_request, methods=["POST"], tags=["intake"],
            summary="Submit a support request", status_code=201,
            description="Creates a ticket. Error messages follow `Accept-Language` or the "
                        "`language` field (de, en). Credentials in free-text fields are "
                        "removed before storing; `redacted_fields` names where.",
            responses={201: {"model": RequestAccepted}, 400: {"model": Problem},
                       413: {"model": Problem}, 415: {"model": Problem},
                       422: {"model": Problem}, 429: {"model": Problem},
                       503: {"model": Problem}},
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/json": {"schema": SupportRequestBody.model_json_schema()}}}},
        )
        return router


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 200 and all(32 <= ord(ch) < 127 for ch in key)
