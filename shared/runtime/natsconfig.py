"""nats-server configurations with ticketcore's users (shared.runtime.credentials).

The embedded server of ``ticketcore up`` and operators' servers (``ticketcore nats config``,
deploy/nats/) get the same text: JetStream with ``sync_interval: always``, an optional
cluster block, and one user per service plus ``integrator`` and ``admin``.

Passwords are random, generated once into ``<data dir>/nats-users.json`` (mode 0600, the
clients read them there) and never logged; a configuration holds only their bcrypt hashes,
which nats-server checks a password against. A configuration for operators may name
environment variables instead (``$NATS_PASSWORD_HASH_<USER>``, holding the hash in double
quotes: nats-server reads the value as configuration text, where an unquoted ``$`` would
start another variable).

A cluster authorizes its routes: a node joins only with the route user's password (in the
route URLs; the cluster block holds its hash) or, with TLS, only with a certificate of the
cluster's CA (``verify: true`` on the route port). TLS for clients and routes takes the
certificate, key and CA files as settings; clients then check the server against the CA
(TICKETCORE_NATS__TLS_CA_FILE).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import bcrypt

from shared.adapters.natsserver import TlsFiles
from shared.runtime.credentials import Permissions, all_permissions
from shared.runtime.privatefile import write_private

PASSWORDS_FILE = "nats-users.json"
ROUTE_USER = "route"  # the cluster's route user: a key of the passwords file, not a client
# Our passwords are 32 random characters: the cost only has to make a leaked hash useless,
# and nats-server pays it on every connect.
BCRYPT_ROUNDS = 10
VARIABLE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")


def password_variable(user: str) -> str:
    """The environment variable a client (a service) reads ``user``'s password from."""
    return f"NATS_PASSWORD_{user.upper()}"


def hash_variable(user: str) -> str:
    """The environment variable an operator's server config reads ``user``'s password
    hash from."""
    return f"NATS_PASSWORD_HASH_{user.upper()}"


def placeholders(users: Iterable[str]) -> dict[str, str]:
    """Password hashes as references to environment variables (rendered unquoted)."""
    return {user: f"${hash_variable(user)}" for user in users}


def is_variable(value: str) -> bool:
    """``$NAME``: nats-server takes the value from the environment."""
    return VARIABLE.fullmatch(value) is not None


def password_hash(password: str) -> str:
    """The bcrypt hash nats-server checks ``password`` against."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def env_hash(password: str) -> str:
    """The value of a ``NATS_PASSWORD_HASH_<USER>`` variable: the hash, double-quoted."""
    return json.dumps(password_hash(password))


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
    """The cluster a server joins: its route port, every member's route URL, and how
    routes are authorized: the route user's password (``route_password``: plain, for the
    URLs; its hash guards the port) and/or TLS with ``verify`` (a certificate of the CA)."""

    routes: list[str]
    port: int = 6222
    name: str = "ticketcore"
    host: str = "0.0.0.0"
    route_password: str | None = None
    tls: TlsFiles | None = None

    def render(self) -> str:
        routes = "\n".join(f"    {json.dumps(self._with_credentials(r))}" for r in self.routes)
        text = (f"cluster {{\n  name: {json.dumps(self.name)}\n  host: {json.dumps(self.host)}"
                f"\n  port: {self.port}\n")
        if self.route_password is not None:
            text += (f"  authorization {{\n    user: {json.dumps(ROUTE_USER)}\n    password: "
                     f"{json.dumps(password_hash(self.route_password))}\n    timeout: 2\n  }}\n")
        if self.tls is not None:
            text += self.tls.render(verify=True, indent="  ")
        return text + f"  routes: [\n{routes}\n  ]\n}}\n"

    def _with_credentials(self, route: str) -> str:
        if self.route_password is None:
            return route
        parts = urlsplit(route)
        host = parts.netloc.rsplit("@", 1)[-1]
        login = f"{ROUTE_USER}:{quote(self.route_password, safe='')}@"
        return urlunsplit(parts._replace(netloc=login + host))


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
    tls: TlsFiles | None = None  # for clients; they authenticate with their password
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
        if self.tls is not None:
            text += self.tls.render(verify=False)
        if self.cluster is not None:
            text += self.cluster.render()
        return text + authorization


def authorization_block(passwords: Mapping[str, str],
                        permissions: Mapping[str, Permissions] | None = None) -> str:
    """``authorization { users: [...] }`` for every user in ``permissions``, each with the
    bcrypt hash of its password; a ``$NAME`` instead of a password names the environment
    variable holding the hash and is written unquoted."""
    permissions = permissions if permissions is not None else all_permissions()
    entries = [_user_entry(user, passwords[user], rights)
               for user, rights in permissions.items()]
    return "authorization {\n  users: [\n" + "\n".join(entries) + "\n  ]\n}\n"


def _user_entry(user: str, password: str, rights: Permissions) -> str:
    secret = password if is_variable(password) else json.dumps(password_hash(password))
    block = json.dumps(rights.block(), indent=2).replace("\n", "\n      ")
    return (f"    {{\n      user: {json.dumps(user)}\n      password: {secret}\n"
            f"      permissions: {block}\n    }}")


def users_file(passwords: Mapping[str, str] | None = None) -> str:
    """The users alone, for an ``include`` beside an operator's server config."""
    users = list(all_permissions())
    header = ("# ticketcore's NATS users: written by `ticketcore nats users`, do not edit.\n"
              "# Each password's bcrypt hash comes from the environment variable named here,\n"
              "# in double quotes (`ticketcore nats env` writes them all).\n")
    return header + authorization_block(passwords or placeholders(users))
