"""The ack service's routes (shared.runtime.routes): only the development mail catcher's
outbox, shown on the machine that runs it and never forwarded by the proxy."""

from __future__ import annotations

from shared.runtime.routes import Route, ServiceRoutes

ROUTES = ServiceRoutes("ack", (
    Route("/outbox", "local"),
    Route("/outbox/{name}", "local"),
))
