"""The public route table: which service answers which path of the one public origin.

Every service declares the routes it serves (``services/<name>/routes.py``, registered as
the entry point group ``ticketcore.routes``), each with who may call it and, where it takes
more than the default, how large its body may be. From these declarations alone:

- ``ticketcore proxy config nginx`` writes the reverse proxy in front of the split layout
  (shared.runtime.proxyconfig), so every link built from ``TICKETCORE_HTTP__PUBLIC_URL``
  reaches the service that owns it;
- every process refuses a body larger than its route allows before reading it
  (shared.runtime.httpguard);
- the HTTP app refuses to start with a route its service did not declare, and no path may be
  declared by two routes (:func:`check_table`): nothing is listed twice, nothing is missing.

A declared path is a template as FastAPI writes it: literal segments and ``{name}``
segments, each ``{name}`` standing for exactly one segment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from shared.settings import Settings

# Who may call a route:
#   anyone      the customers' door, the login form, the public live status
#   link        anyone holding a signed link (status page, acknowledge link)
#   technician  an API token, Basic, or the console's session (+ CSRF on changes)
#   console     the console's session (its pages redirect to the login form); CSRF on changes
#   local       this machine only (the development mail catcher): never behind the proxy
#   process     every process's own (health, metrics, its whole API reference): called on
#               the process's port by orchestrators and scrapers, never behind the proxy
Access = Literal["anyone", "link", "technician", "console", "local", "process"]
OPEN: frozenset[Access] = frozenset({"anyone", "link"})
BodyLimit = Callable[[Settings], int]


@dataclass(frozen=True)
class Route:
    """One declared path of a service."""

    path: str
    access: Access
    # The largest body a request may carry (None: TICKETCORE_HTTP__MAX_BODY_BYTES).
    body_limit: BodyLimit | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or any(
                not SEGMENT.match(part) for part in segments(self.path)):
            raise ValueError(f"not a route template: {self.path!r}")

    def max_body_bytes(self, settings: Settings) -> int:
        return (self.body_limit or default_body_limit)(settings)

    @property
    def pattern(self) -> str:
        """A regular expression matching exactly the paths of this route."""
        parts = ["[^/]+" if is_parameter(part) else re.escape(part)
                 for part in segments(self.path)]
        return "^/" + "/".join(parts) + "$"


@dataclass(frozen=True)
class ServiceRoutes:
    """The routes one service declares (``services/<name>/routes.py``)."""

    service: str
    routes: tuple[Route, ...]

    @property
    def public(self) -> tuple[Route, ...]:
        """The routes the proxy forwards."""
        return tuple(route for route in self.routes if route.access not in NOT_FORWARDED)

    def with_reference(self) -> ServiceRoutes:
        """The table with the service's own API reference (shared.runtime.apipage) when
        it has routes the public origin serves."""
        if not self.public:
            return self
        return ServiceRoutes(self.service, (*self.routes,
                                            Route(f"/docs/{self.service}", "anyone"),
                                            Route(f"/openapi/{self.service}.json", "anyone")))


NOT_FORWARDED: frozenset[Access] = frozenset({"local", "process"})


SEGMENT = re.compile(r"^(?:[A-Za-z0-9._~!$&'()*+,;=:@-]*|\{[a-z_][a-z0-9_]*\})$")


def default_body_limit(settings: Settings) -> int:
    return settings.http.max_body_bytes


def segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path != "/" else [""]


def is_parameter(segment: str) -> bool:
    return segment.startswith("{")


def covers(template: str, path: str) -> bool:
    """True if every path of ``path`` (a template or a concrete path) is one of
    ``template``'s: the same segments, a parameter of ``template`` standing for any one."""
    mine, theirs = segments(template), segments(path)
    return len(mine) == len(theirs) and all(
        is_parameter(a) or (a == b and not is_parameter(b))
        for a, b in zip(mine, theirs, strict=True))


def overlap(first: str, second: str) -> bool:
    """True if some path is a path of both templates."""
    a, b = segments(first), segments(second)
    return len(a) == len(b) and all(
        is_parameter(x) or is_parameter(y) or x == y for x, y in zip(a, b, strict=True))


class RouteTableError(ValueError):
    """Two declarations claim a path, or a service serves a path it did not declare."""


def check_table(tables: Iterable[ServiceRoutes]) -> None:
    """Refuse a table in which one path belongs to two declarations."""
    declared = [(table.service, route) for table in tables for route in table.routes]
    for index, (service, route) in enumerate(declared):
        for other_service, other in declared[index + 1:]:
            if overlap(route.path, other.path):
                raise RouteTableError(
                    f"{route.path} ({service}) and {other.path} ({other_service}) both claim "
                    "a path: every path belongs to one declaration")


def declaration_of(tables: Iterable[ServiceRoutes], path: str
                   ) -> tuple[str, Route] | None:
    """The service and declaration that cover ``path`` (a template or a concrete path)."""
    for table in tables:
        for route in table.routes:
            if covers(route.path, path):
                return table.service, route
    return None


def check_served(table: ServiceRoutes, served: Iterable[str]) -> None:
    """Refuse a service that serves a path its own table does not declare."""
    missing = sorted({path for path in served
                      if not any(covers(route.path, path) for route in table.routes)})
    if missing:
        raise RouteTableError(f"{table.service} serves {', '.join(missing)} without declaring "
                              f"it (services/{table.service}/routes.py)")


def served_paths(routes: Iterable[object]) -> list[str]:
    """The path of every route in ``routes``, those of included routers too (FastAPI
    includes a router lazily: its routes are reached through it)."""
    paths: list[str] = []
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str) and path:
            paths.append(path)
            continue
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            paths += served_paths(contexts())
    return paths


def body_limits(tables: Iterable[ServiceRoutes], settings: Settings
                ) -> list[tuple[re.Pattern[str], int]]:
    """The routes whose body limit differs from the default, as (path pattern, limit)."""
    default = default_body_limit(settings)
    return [(re.compile(route.pattern), limit) for table in tables for route in table.routes
            if (limit := route.max_body_bytes(settings)) != default]


def tables_by_service(tables: Iterable[ServiceRoutes]) -> Mapping[str, ServiceRoutes]:
    return {table.service: table for table in tables}


# What every process serves on its own port besides its services' routes.
PROCESS_ROUTES = ServiceRoutes("process", (
    Route("/health", "process"), Route("/health/live", "process"),
    Route("/health/ready", "process"), Route("/metrics", "process"),
    Route("/docs", "process"), Route("/openapi.json", "process"),
))
