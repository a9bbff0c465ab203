"""The HTTP app of a process: the routes of the services it runs, each checked against the
service's declared route table, and what every process serves besides (health, metrics, the
API reference), behind the guards every request passes (shared.runtime.httpguard)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from shared.runtime import registry
from shared.runtime.apipage import docs_router
from shared.runtime.health import Checked, health_router
from shared.runtime.httpguard import HttpGuard, validation_refused
from shared.runtime.logs import install_request_context
from shared.runtime.metrics import install_metrics
from shared.runtime.routes import body_limits, check_served, served_paths, tables_by_service
from shared.runtime.textguard import TextGuard

TITLE = "ticketcore"
VERSION = "0.1.0"


def build_http_app(system: Checked) -> FastAPI:
    """One app with every route of ``system``'s services; refuses (RouteTableError) a
    route a service does not declare in its table."""
    app = FastAPI(title=TITLE, version=VERSION, docs_url=None, redoc_url=None,
                  openapi_url=None, description="Event-sourced support-ticket core.")
    app.add_exception_handler(RequestValidationError, validation_refused)
    app.add_middleware(TextGuard)  # text that cannot be encoded: 422, never a 500
    tables = tables_by_service(registry.route_tables())
    documents = {}
    for service in system.services:
        router = service.router()
        if router is None:
            continue
        table = tables[service.name]
        check_served(table, served_paths(router.routes))
        app.include_router(router)
        if table.public:
            documents[service.name] = router.routes
    app.include_router(health_router(system))
    install_metrics(app, lambda: [c for cs in system.consumers_of.values() for c in cs])
    app.include_router(docs_router(TITLE, VERSION, documents, app.routes,
                                   documented_services()))
    settings = system.runtime.settings
    # Before anything reads a byte: the body limit; on every answer: the headers. Inside
    # the request's span and timing only (which read no body), so a refusal is counted.
    served = [tables[service.name] for service in system.services]
    app.add_middleware(HttpGuard, default_limit=settings.http.max_body_bytes,
                       limits=body_limits(served, settings))
    install_request_context(app)
    return app


def documented_services() -> list[str]:
    """Every service whose routes the public origin serves (each has /docs/<name>)."""
    return [table.service for table in registry.route_tables() if table.public]
