"""`ticketcore nats config --route`: a cluster whose routes need the route user's password
(the configuration holds its bcrypt hash, the route URLs the password), and users whose
passwords are stored as bcrypt hashes only. Before, routes listened on 0.0.0.0 without
any authorization (whoever reached port 6222 joined the cluster, bypassing every user's
permissions) and passwords were plaintext in the config. Compose's TLS cluster, where
routes need a certificate of the cluster's CA: tests/core/test_compose.py."""

from __future__ import annotations

import json
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import nats
import pytest

from shared.adapters.natsserver import free_port, nats_server_binary
from shared.runtime.cli import main
from shared.runtime.credentials import inbox_prefix
from shared.runtime.natsconfig import PASSWORDS_FILE, ClusterBlock, ServerConfig


def start(config: Path, stack: ExitStack) -> Path:
    log = config.with_suffix(".log")
    with open(log, "wb") as output:
        process = subprocess.Popen([nats_server_binary(), "-c", str(config)], stdout=output,
                                   stderr=subprocess.STDOUT)

    def stop() -> None:
        process.terminate()
        process.wait(10)

    stack.callback(stop)
    return log


def routes_of(monitor: int) -> int:
    return int(httpx.get(f"http://127.0.0.1:{monitor}/routez", timeout=5).json()["num_routes"])


def wait_until(condition: object, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def node(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, port: int,
         cluster_port: int, monitor: int, routes: list[str]) -> Path:
    """A node's configuration as `ticketcore nats config` prints it (one data folder: the
    same passwords for every node)."""
    args = ["nats", "config", "--name", name, "--port", str(port), "--cluster-port",
            str(cluster_port), "--monitor-port", str(monitor), "--store-dir",
            str(tmp_path / name)]
    for route in routes:
        args += ["--route", route]
    assert main(args) == 0
    config = tmp_path / f"{name}.conf"
    # Loopback only in the test; the printed default listens for routes on all interfaces.
    config.write_text(capsys.readouterr().out.replace('host: "0.0.0.0"', 'host: "127.0.0.1"'))
    return config


async def test_a_node_without_the_route_password_cannot_join(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETCORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    ports = [(free_port(), free_port(), free_port()) for _ in range(2)]
    routes = [f"nats-route://127.0.0.1:{cluster}" for _, cluster, _ in ports]
    with ExitStack() as stack:
        logs = [start(node(tmp_path, capsys, f"n{i}", *ports[i], routes), stack)
                for i in range(2)]
        config_text = (tmp_path / "n0.conf").read_text()
        wait_until(lambda: routes_of(ports[0][2]) >= 1, "the two nodes never formed routes")
        # A third server with the route URLs but without the password.
        monitor = free_port()
        intruder = tmp_path / "intruder.conf"
        intruder.write_text(ServerConfig(
            store_dir=str(tmp_path / "intruder"), port=free_port(), name="intruder",
            monitor_port=monitor, cluster=ClusterBlock(routes=routes, port=free_port(),
                                                       host="127.0.0.1")).render(""))
        start(intruder, stack)
        wait_until(lambda: "authentication error" in logs[0].read_text(),
                   "the intruder's route was never refused")
        assert routes_of(monitor) == 0
        # A user's password is checked against its hash.
        passwords = json.loads((tmp_path / "data" / PASSWORDS_FILE).read_text())
        client = await nats.connect(f"nats://127.0.0.1:{ports[0][0]}", user="intake",
                                    password=passwords["intake"], allow_reconnect=False,
                                    inbox_prefix=inbox_prefix("intake"))
        await client.close()
    for password in passwords.values():
        assert f'password: "{password}"' not in config_text  # only hashes for users
    assert '"$2b$' in config_text
    assert "Plaintext passwords detected" not in logs[0].read_text()
