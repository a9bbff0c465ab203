"""The one registry of services and of the commands they add to ``ticketcore``.

Services declare themselves as Python entry points in pyproject.toml (group
``ticketcore.services``: name -> the service's bootstrap; group ``ticketcore.commands``:
name -> a function adding subcommands; group ``ticketcore.routes``: name -> the service's
public routes, shared.runtime.routes). ``up``, ``serve``, ``/health`` and the CLI read only
this registry, so the runtime never names a service and ``shared`` never imports one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points

from shared.runtime.context import Runtime, Service
from shared.runtime.routes import PROCESS_ROUTES, ServiceRoutes, check_table

SERVICES_GROUP = "ticketcore.services"
COMMANDS_GROUP = "ticketcore.commands"
ROUTES_GROUP = "ticketcore.routes"

Bootstrap = Callable[[Runtime], Service]
RegisterCommands = Callable[[argparse._SubParsersAction], None]


class UnknownService(ValueError):
    """A service name the registry does not know."""


@cache
def _bootstraps() -> dict[str, Bootstrap]:
    found = {point.name: point for point in entry_points(group=SERVICES_GROUP)}
    if not found:
        raise RuntimeError(f"no services registered under the entry point group "
                           f"{SERVICES_GROUP!r}: is ticketcore installed (pip install -e .)?")
    return {name: found[name].load() for name in sorted(found)}


def service_names() -> tuple[str, ...]:
    """Every registered service, in a stable order (services do not depend on each other,
    so the order only decides the start banner's)."""
    return tuple(_bootstraps())


def bootstrap(name: str, runtime: Runtime) -> Service:
    """Build the service ``name`` with its collaborators."""
    bootstraps = _bootstraps()
    if name not in bootstraps:
        raise UnknownService(f"unknown service {name!r}: choose one of "
                             f"{', '.join(bootstraps)}")
    return bootstraps[name](runtime)


@cache
def route_tables() -> tuple[ServiceRoutes, ...]:
    """Every service's declared routes with its API reference (the public route table),
    checked: no path is claimed by two declarations, nor by a service and every process's
    own routes (shared.runtime.routes.PROCESS_ROUTES)."""
    points = {point.name: point for point in entry_points(group=ROUTES_GROUP)}
    tables = []
    for name in service_names():
        table = points[name].load() if name in points else ServiceRoutes(name, ())
        if not isinstance(table, ServiceRoutes) or table.service != name:
            raise RuntimeError(f"entry point {ROUTES_GROUP}:{name} is not the route table "
                               f"of {name}")
        tables.append(table.with_reference())
    check_table([*tables, PROCESS_ROUTES])
    return tuple(tables)


def register_commands(commands: argparse._SubParsersAction) -> None:
    """Let every registered command group add its subcommands."""
    for point in sorted(entry_points(group=COMMANDS_GROUP), key=lambda p: p.name):
        register: RegisterCommands = point.load()
        register(commands)
