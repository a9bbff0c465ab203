"""What every HTTP request and answer of every service passes first: the body limit and the
headers every answer carries.

- **One body limit for every route**, before anything else runs (parsing, authentication,
  the text check): a request declaring a larger ``Content-Length`` than its route allows
  gets 413 at once, without a byte of its body being read; a body without a length (chunked)
  is counted as it streams and cut off at the limit. uvicorn stops reading a connection
  whose application does not take the data, so an unauthenticated 200 MB upload costs
  memory for the limit, never for the upload. An answer given before the body was read
  to its end (401 to a stranger, 405, 413) closes the connection, so the server does not
  go on reading what nobody will look at. The limit of each route is declared with it
  (shared.runtime.routes); the rest have ``TICKETCORE_HTTP__MAX_BODY_BYTES``.
- **Headers on every answer**: ``Cache-Control: no-store`` (an invoice, a ticket or a page
  of the console is never kept by a browser or a proxy cache) unless the route chose its
  own, ``nosniff``, no referrer, never framed; an HTML answer without a policy of its own
  gets one that allows nothing but forms to the same origin.
- **422 answers echo a short excerpt at most**: FastAPI's validation errors carry the
  rejected input; a 200 MB string must not come back (:func:`validation_refused`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

EXCERPT_CHARS = 80
BASELINE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
HTML_POLICY = (b"content-security-policy",
               b"default-src 'none'; form-action 'self'; base-uri 'none'; "
               b"frame-ancestors 'none'")


class BodyTooLarge(HTTPException):
    """The body is larger than its route allows: 413, and the connection is closed."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, headers={"Connection": "close"},
                         detail=f"request body larger than {limit} bytes: refused")


class HttpGuard:
    """ASGI middleware: the body limit of each request and the headers of each answer."""

    def __init__(self, app: ASGIApp, default_limit: int,
                 limits: Sequence[tuple[re.Pattern[str], int]] = ()) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = tuple(limits)

    def limit_of(self, path: str) -> int:
        for pattern, limit in self.limits:
            if pattern.match(path):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _body_headers(scope)
        if not chunked and not declared:  # no body: only the answer's headers to add
            await self.app(scope, receive, _with_headers(send))
            return
        limit = self.limit_of(scope["path"])
        if declared is not None and declared > limit:
            _log_refusal(scope, limit, declared)
            await _refuse(send, limit)
            return
        body = _Body(receive, limit, scope)

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                body.answered = True
                message["headers"] = _with_baseline(list(message.get("headers", [])),
                                                    close=not body.done)
            await send(message)

        try:
            await self.app(scope, body.receive, answer)
        except BodyTooLarge:
            if not body.answered:
                await _refuse(send, limit)


def _log_refusal(scope: Scope, limit: int, declared: int | None) -> None:
    client = scope.get("client") or ("?", 0)
    size = f"{declared} bytes declared" if declared is not None else "more streamed"
    log.info("http: refused a body over %d bytes (%s) on %s %s from %s", limit, size,
             scope.get("method"), scope.get("path"), client[0])


def _with_headers(send: Send) -> Send:
    async def answer(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = _with_baseline(list(message.get("headers", [])))
        await send(message)

    return answer


class _Body:
    """The request's body as the app reads it: counted against the limit, and whether it
    was read to its end."""

    def __init__(self, receive: Receive, limit: int, scope: Scope) -> None:
        self._receive = receive
        self.limit = limit
        self.scope = scope
        self.received = 0
        self.done = False
        self.answered = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                _log_refusal(self.scope, self.limit, None)
                raise BodyTooLarge(self.limit)
            self.done = not message.get("more_body", False)
        return message


def _body_headers(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None: none, or not a number: uvicorn's parser refuses
    such a request before us) and whether the body comes chunked."""
    declared, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            declared = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": BodyTooLarge(limit).detail}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": _with_baseline([
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        close=True)})
    await send({"type": "http.response.body", "body": body})


def _with_baseline(headers: list[tuple[bytes, bytes]], *, close: bool = False
                   ) -> list[tuple[bytes, bytes]]:
    # ASGI header names are lower case (Starlette writes them so).
    present = {name for name, _ in headers}
    headers.extend(header for header in BASELINE_HEADERS if header[0] not in present)
    if close and b"connection" not in present:
        headers.append((b"connection", b"close"))
    if HTML_POLICY[0] not in present and any(
            name == b"content-type" and value.startswith(b"text/html")
            for name, value in headers):
        headers.append(HTML_POLICY)
    return headers


def excerpt(value: Any) -> Any:
    """A rejected input as a validation error may show it: short text as it is, anything
    longer or bigger as the start of its text."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


async def validation_refused(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 with each error's input cut to an excerpt (and no links to pydantic's
    documentation)."""
    assert isinstance(error, RequestValidationError)
    details = [{"loc": list(issue.get("loc", ())), "msg": str(issue.get("msg", "")),
                "type": str(issue.get("type", "")), "input": excerpt(issue.get("input"))}
               for issue in error.errors()]
    return JSONResponse({"detail": jsonable_encoder(details)}, status_code=422)
