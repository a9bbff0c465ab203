"""Text that cannot be encoded never reaches a route: 422 naming the field, not a 500.

A JSON string may hold a lone surrogate (``"\\ud800"``) that no UTF-8 encoder accepts (the
event store, the mailer, the crypto-shredding of personal data). A query string or an
urlencoded form may hold percent-encoded bytes that are no UTF-8. This ASGI middleware,
in front of every route of every service, reads such bodies (up to ``MAX_CHECKED_BYTES``),
answers 422 naming the first field that holds such text, and otherwise hands the body on
unchanged. Invisible characters are a matter of the field's kind: shared.domain.text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.domain.text import encodable

MAX_CHECKED_BYTES = 1 << 20
Path = tuple[str | int, ...]


def unencodable_in_json(value: Any, path: Path = ()) -> Path | None:
    """The path of the first key or string in a JSON value that cannot be encoded."""
    for where, text in _strings(value, path):
        if not encodable(text):
            return where
    return None


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), key
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def undecodable_in_query(raw: bytes) -> str | None:
    """The name of the first field of a query string or urlencoded form whose name or
    value is no UTF-8 (None: every field decodes)."""
    if raw.isascii() and b"%" not in raw:
        return None  # only escapes or raw non-ASCII bytes can be no UTF-8
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        name_bytes = unquote_to_bytes(name.replace(b"+", b" "))
        try:
            name_bytes.decode("utf-8")
            unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return name_bytes.decode("utf-8", "replace")
    return None


def _refusal(location: str, where: Path) -> Message:
    field = ".".join(str(part) for part in where) or location
    detail = {"loc": [location, *where], "type": "unencodable_text",
              "msg": f"{field}: text that cannot be encoded (invalid Unicode, e.g. a lone "
                     "surrogate or bytes that are no UTF-8)"}
    return {"detail": [detail], "message": detail["msg"], "errors": {field: detail["msg"]}}


class TextGuard:
    """ASGI middleware: 422 for text that cannot be encoded, before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        name = undecodable_in_query(scope.get("query_string", b""))
        if name is not None:
            await _answer(send, 422, _refusal("query", (name,)))
            return
        kind = _body_kind(scope)
        if kind is None:
            await self.app(scope, receive, send)
            return
        body, more = await _read(receive)
        refusal = None if more else _check_body(kind, body)
        if refusal is not None:
            await _answer(send, 422, refusal)
            return
        await self.app(scope, _replay(body, more, receive), send)


def _body_kind(scope: Scope) -> str | None:
    content_type = next((value for name, value in scope.get("headers", [])
                         if name == b"content-type"), b"")
    media = content_type.split(b";")[0].strip().lower()
    if media == b"application/json" or media.endswith(b"+json"):
        return "json"
    if media == b"application/x-www-form-urlencoded":
        return "form"
    return None


def _check_body(kind: str, body: bytes) -> Message | None:
    if kind == "form":
        name = undecodable_in_query(body)
        return None if name is None else _refusal("body", (name,))
    if b"\\u" not in body:
        # Valid UTF-8 JSON can hold a lone surrogate only as a \u escape: without one there
        # is nothing to find, and the body is not parsed twice (the route parses it).
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON at all: the route says so in its own words
    where = unencodable_in_json(value)
    return None if where is None else _refusal("body", where)


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The body up to MAX_CHECKED_BYTES; True if more is still to come (not checked)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > MAX_CHECKED_BYTES:
            return b"".join(chunks), True


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay


async def _answer(send: Send, status: int, content: Message) -> None:
    body = json.dumps(content, ensure_ascii=True).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
