"""``GET /metrics`` (Prometheus text format) and the HTTP timing of every request.

The consumers' lag is read from JetStream's consumer info when Prometheus scrapes, so it is
as fresh as the scrape and costs nothing between scrapes. The metrics themselves are
declared in :mod:`shared.adapters.metrics`; docs/operations.md lists what they mean.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from shared.adapters.consumer import EventConsumer, consumer_lag
from shared.adapters.metrics import HTTP_DURATION, series, set_consumer_lag

log = logging.getLogger(__name__)

# The ASGI interface, spelled out (the same as starlette.types, which FastAPI builds on).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED = "unmatched"  # one label for every unknown path: scanners cannot blow up series


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request (called by the request middleware, shared.runtime.logs)."""
    series(HTTP_DURATION, method, route, str(status)).observe(seconds)


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``unmatched``."""
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


ConsumersOf = Callable[[], Iterable[EventConsumer]]  # asked at each scrape: the current ones


def install_metrics(app: FastAPI, consumers: ConsumersOf) -> None:
    """Serve ``/metrics`` with ``consumers``' lag (requests are timed by the request
    middleware, shared.runtime.logs)."""
    app.include_router(metrics_router(consumers))


def metrics_router(consumers: ConsumersOf) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", tags=["operations"], response_class=Response,
                summary="Prometheus metrics of this process (text format)")
    async def metrics() -> Response:
        await read_consumer_lag(consumers())
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router


async def read_consumer_lag(consumers: Iterable[EventConsumer]) -> None:
    for consumer in consumers:
        spec = consumer.spec
        try:
            # The consumer's own connection: where services have NATS users, only the
            # owner may read its consumer's state.
            lag = await consumer_lag(consumer.js, spec.stream, spec.durable)
        except Exception as error:  # NATS away: the scrape still answers, lag stays stale
            log.debug("metrics: no consumer info for %s: %r", spec.durable, error)
            continue
        set_consumer_lag(spec.durable, lag["pending"], lag["ack_pending"])
