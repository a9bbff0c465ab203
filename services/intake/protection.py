"""Protection of the public door: body limits, rate limits, headers on every route.

CSRF tokens follow the one scheme of :mod:`shared.runtime.csrf`, the headers
:func:`shared.runtime.responses.security_headers`."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

CSRF_COOKIE = "intake_csrf"


class BodyTooLarge(Exception):
    """The request body is larger than allowed."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes whatever Content-Length claims."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class RateLimiter:
    """A token bucket per client address, in this process (so: per replica).

    ``per_minute`` requests may come at once; after that one more every 60/per_minute s.
    """

    MAX_CLIENTS = 10_000

    def __init__(self, per_minute: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, client: str) -> int | None:
        """Take one token for ``client``: None if allowed, else seconds to wait."""
        now = self.clock()
        tokens, since = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - since) * self.refill_per_s)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return max(1, int((1.0 - tokens) / self.refill_per_s + 0.999))
        if len(self._buckets) >= self.MAX_CLIENTS and client not in self._buckets:
            self._forget_full_buckets(now)
        self._buckets[client] = (tokens - 1.0, now)
        return None

    def _forget_full_buckets(self, now: float) -> None:
        refill_s = self.capacity / self.refill_per_s
        self._buckets = {client: entry for client, entry in self._buckets.items()
                         if now - entry[1] < refill_s}


def style_hash(css: str) -> str:
    digest = hashlib.sha256(css.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def secured_route_class(headers: dict[str, str]) -> type[APIRoute]:
    """An APIRoute that adds ``headers`` to every response it produces."""

    class SecuredRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def secured(request: Request) -> Response:
                response = await handler(request)
                for name, value in headers.items():
                    response.headers.setdefault(name, value)
                return response

            return secured

    return SecuredRoute
