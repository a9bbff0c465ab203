"""nats-server configurations with ticketcore's users (shared.runtime.credentials).

The embedded server of ``ticketcore up`` and operators' servers (``ticketcore nats config``,
deploy/nats/) get the same text: JetStream with ``sync_interval: always``, an optional
cluster block, and one user per service plus ``integrator`` and ``admin``. Passwords are
random, generated once into ``<data dir>/nats-users.json`` (mode 0600) and never logged;
a config for operators may name environment variables instead (``$NATS_PASSWORD_<USER>``),
which nats-server resolves when it reads the file.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.runtime.credentials import Permissions, all_permissions
from shared.runtime.privatefile import write_private

PASSWORDS_FILE = "nats-users.json"


def password_variable(user: str) -> str:
    """The environment variable an operator's config reads ``user``'s password from."""
    return f"NATS_PASSWORD_{user.upper()}"


def placeholders(users: Iterable[str]) -> dict[str, str]:
    """Passwords as references to environment variables (rendered unquoted)."""
    return {user: f"${password_variable(user)}" for user in users}


def ensure_passwords(data_dir: Path, users: Iterable[str]) -> dict[str, str]:
    """Every user's password: read from the data dir, generated there for users that have
    none yet (first start), so a restart keeps the clients' credentials."""
    path = data_dir / PASSWORDS_FILE
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [user for user in users if user not in known]
    if missing:
        known.update({user: secrets.token_urlsafe(24) for user in missing})
        write_private(path, json.dumps(known, indent=2) + "\n")
    return known


@dataclass(frozen=True)
class ClusterBlock:
    """The cluster a server joins: its route port and every member's route URL."""

    routes: list[str]
    port: int = 6222
    name: str = "ticketcore"
    host: str = "0.0.0.0"

    def render(self) -> str:
        routes = "\n".join(f"    {json.dumps(route)}" for route in self.routes)
        return (f"cluster {{\n  name: {json.dumps(self.name)}\n  host: {json.dumps(self.host)}"
                f"\n  port: {self.port}\n  routes: [\n{routes}\n  ]\n}}\n")


@dataclass(frozen=True)
class ServerConfig:
    """One nats-server's configuration."""

    store_dir: str
    port: int = 4222
    host: str = "127.0.0.1"
    name: str = "ticketcore"
    sync_always: bool = True
    monitor_port: int | None = None
    cluster: ClusterBlock | None = None
    extra: list[str] = field(default_factory=list)

    def render(self, authorization: str) -> str:
        """The whole configuration file, ``authorization`` included (or an include)."""
        lines = [f"server_name: {json.dumps(self.name)}", f"host: {json.dumps(self.host)}",
                 f"port: {self.port}", "max_payload: 8MB"]
        if self.monitor_port is not None:
            lines.append(f"http_port: {self.monitor_port}")
        lines += ["jetstream {", f"  store_dir: {json.dumps(self.store_dir)}",
                  "  max_memory_store: 256MB"]
        if self.sync_always:  # fsync before acknowledging (README, durability)
            lines.append("  sync_interval: always")
        lines.append("}")
        text = "\n".join([*lines, *self.extra]) + "\n"
        if self.cluster is not None:
            text += self.cluster.render()
        return text + authorization


def authorization_block(passwords: Mapping[str, str],
                        permissions: Mapping[str, Permissions] | None = None) -> str:
    """``authorization { users: [...] }`` for every user in ``permissions``. A password
    starting with ``$`` names an environment variable and is written unquoted."""
    permissions = permissions if permissions is not None else all_permissions()
    entries = [_user_entry(user, passwords[user], rights)
               for user, rights in permissions.items()]
    return "authorization {\n  users: [\n" + "\n".join(entries) + "\n  ]\n}\n"


def _user_entry(user: str, password: str, rights: Permissions) -> str:
    secret = password if password.startswith("$") else json.dumps(password)
    block = json.dumps(rights.block(), indent=2).replace("\n", "\n      ")
    return (f"    {{\n      user: {json.dumps(user)}\n      password: {secret}\n"
            f"      permissions: {block}\n    }}")


def users_file(passwords: Mapping[str, str] | None = None) -> str:
    """The users alone, for an ``include`` beside an operator's server config."""
    users = list(all_permissions())
    header = ("# ticketcore's NATS users: written by `ticketcore nats users`, do not edit.\n"
              "# Each password comes from the environment variable named here.\n")
    return header + authorization_block(passwords or placeholders(users))
