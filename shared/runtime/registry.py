"""The one registry of services and of the commands they add to ``ticketcore``.

Services declare themselves as Python entry points in pyproject.toml (group
``ticketcore.services``: name -> the service's bootstrap; group ``ticketcore.commands``:
name -> a function adding subcommands). ``up``, ``serve``, ``/health`` and the CLI find
services only here, and ``shared`` never imports one. Where the runtime must know a
service's needs by name, it says so there: its NATS rights (``credentials.py``), the
secrets it signs with (``secrets.py``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points

from shared.runtime.runtime import Runtime, Service

SERVICES_GROUP = "ticketcore.services"
COMMANDS_GROUP = "ticketcore.commands"

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


def register_commands(commands: argparse._SubParsersAction) -> None:
    """Let every registered command group add its subcommands."""
    for point in sorted(entry_points(group=COMMANDS_GROUP), key=lambda p: p.name):
        register: RegisterCommands = point.load()
        register(commands)
