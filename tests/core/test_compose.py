"""compose.yaml is written and validated here. No container engine runs in tests: the
nats-server command lines and config files compose.yaml uses are started with the venv's
nats-server (hostnames mapped to loopback, ports to free ones) and must form a cluster."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import yaml
from nats.js.api import StreamConfig

from shared.adapters.natsserver import free_port, nats_server_binary
from shared.runtime import registry
from shared.runtime.accounts import AccountStore
from shared.runtime.credentials import SERVICE_RIGHTS, inbox_prefix
from shared.runtime.natsconfig import (
    ClusterBlock,
    ServerConfig,
    TlsFiles,
    env_hash,
    hash_variable,
    password_variable,
    users_file,
)
from shared.runtime.proxy import nginx_config
from shared.settings import Settings
from tests.certificates import TestCA
from tests.processes import SERVE, run, running, wait_healthy

ROOT = Path(__file__).parents[2]
NODES = ("nats-1", "nats-2", "nats-3")
VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


CERTS = "/etc/nats-certs"  # where compose mounts TICKETCORE_NATS_CERTS_HOST


def node_config(name: str) -> str:
    """What deploy/nats/<name>.conf holds: one member of the three-node cluster, TLS for
    clients and routes, routes authorized by the cluster CA's certificates."""
    routes = [f"nats-route://{node}:6222" for node in NODES]
    tls = TlsFiles(f"{CERTS}/{name}.pem", f"{CERTS}/{name}-key.pem", f"{CERTS}/ca.pem")
    return ServerConfig(store_dir="/data", port=4222, host="0.0.0.0", name=name,
                        monitor_port=8222, cluster=ClusterBlock(routes=routes, tls=tls),
                        tls=tls).render('include "users.conf"\n')


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``."""
    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if name in env:
            return env[name]
        if kind == "-":
            return rest
        raise KeyError(f"compose would refuse to start: {name} ({rest})")
    return VARIABLE.sub(one, value)


def ticketcore_services() -> dict[str, Any]:
    return {name: s for name, s in compose()["services"].items() if s.get("build") == "."}


def test_every_service_runs_from_the_project_image_as_its_own_nats_user() -> None:
    services = ticketcore_services()
    for name in SERVICE_RIGHTS:
        service = services[name]
        assert service["command"] == ["serve", name]
        env = service["environment"]
        assert env["TICKETCORE_NATS__URL"].split(",") == [f"nats://{n}:4222" for n in NODES]
        assert env["TICKETCORE_NATS__REPLICAS"] == "3"
        assert env["TICKETCORE_NATS__USER"] == name
        assert env["TICKETCORE_NATS__TLS_CA_FILE"] == "/certs/ca.pem"
        assert f"NATS_PASSWORD_{name.upper()}:?" in env["TICKETCORE_NATS__PASSWORD"]
        assert service["depends_on"]["provision"]["condition"] == "service_completed_successfully"
    assert services["provision"]["environment"]["TICKETCORE_NATS__USER"] == "admin"
    assert services["intake"]["deploy"]["replicas"] == 2
    assert services["ack"]["deploy"]["replicas"] == 2


def test_no_secret_is_left_at_a_default() -> None:
    for name, service in compose()["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET", variable):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(value)), (name, variable, value)


def test_every_mounted_file_is_in_the_repository() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = interpolate(volume, {"TICKETCORE_NATS_CERTS_HOST": "/certs"}).split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, source)


def test_the_mounted_examples_are_readable_settings() -> None:
    accounts = AccountStore.from_file(ROOT / "deploy/accounts.example.toml")
    assert accounts.technicians and not any(t.password_hash for t in
                                            accounts.technicians.values())
    from services.oncall.rota import rota_from_settings

    settings = Settings(oncall={"rota_file": ROOT / "deploy/rota.example.toml"})
    assert rota_from_settings(settings) is not None


def test_every_environment_variable_in_compose_is_a_real_setting() -> None:
    fields = Settings.model_fields
    for service in ticketcore_services().values():
        for variable in service["environment"]:
            path = variable.removeprefix("TICKETCORE_").lower().split("__")
            model = fields[path[0]].annotation
            if len(path) == 2:
                assert path[1] in model.model_fields, variable  # type: ignore[union-attr]


def test_the_nats_configs_are_generated_from_the_credentials_table() -> None:
    assert (ROOT / "deploy/nats/users.conf").read_text() == users_file()
    for node in NODES:
        assert (ROOT / f"deploy/nats/{node}.conf").read_text() == node_config(node)


def test_the_proxy_is_the_one_public_origin_of_compose() -> None:
    """nginx in front, its configuration the one `ticketcore proxy config nginx` writes for
    compose's services; only the proxy publishes the HTTP port; every link is built from
    its address and only its X-Forwarded-For is believed."""
    services = compose()["services"]
    proxy = services["proxy"]
    upstreams = {name: [f"{name}:8080"] for name in ("intake", "oncall", "billing")}
    expected = nginx_config(registry.route_tables(), "0.0.0.0:8080", upstreams, Settings())
    assert (ROOT / "deploy/nginx/ticketcore.conf").read_text() == expected
    assert "./deploy/nginx/ticketcore.conf:/etc/nginx/conf.d/default.conf:ro" in \
        proxy["volumes"]
    assert proxy["ports"] == ["8080:8080"]
    assert {name: dependency["condition"] for name, dependency in
            proxy["depends_on"].items()} == dict.fromkeys(upstreams, "service_healthy")
    address = proxy["networks"]["default"]["ipv4_address"]
    for name, service in ticketcore_services().items():
        published = [interpolate(str(p), {}) for p in service.get("ports", [])]
        assert not any(p.endswith(":8080") for p in published), (name, published)
        if name == "provision":
            continue
        env = service["environment"]
        assert interpolate(env["TICKETCORE_HTTP__PUBLIC_URL"], {}) == "http://localhost:8080"
        assert json.loads(env["TICKETCORE_HTTP__TRUSTED_PROXIES"]) == [address]


def test_every_service_has_a_healthcheck_on_its_readiness() -> None:
    for name, service in compose()["services"].items():
        if name in ("provision", "mailcatcher"):
            continue
        check = service.get("healthcheck")
        assert check and check["test"][0] == "CMD", name
        if service.get("build") == ".":
            assert "http://127.0.0.1:8080/health/ready" in " ".join(check["test"]), name


def test_dockerfile_installs_the_project_and_runs_ticketcore() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and 'ENTRYPOINT ["ticketcore"]' in dockerfile


# -- the servers compose.yaml starts ------------------------------------------------------------


USERS = (*SERVICE_RIGHTS, "integrator", "admin")
PASSWORDS = {f"NATS_PASSWORD_{u.upper()}": f"test-{u}-secret" for u in USERS}
HASHES = {hash_variable(u): env_hash(PASSWORDS[password_variable(u)]) for u in USERS}


@dataclass
class ComposeCluster:
    """The three nats-servers of compose.yaml, on loopback, with their ports and CA."""

    ports: dict[str, dict[str, int]]
    ca: TestCA
    folder: Path

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{p['client']}" for p in self.ports.values()]

    def log(self, node: str) -> str:
        return (self.folder / f"{node}.log").read_text(errors="replace")


def local_copy(node: str, service: dict[str, Any], base: Path,
               ports: dict[str, dict[str, int]], env: dict[str, str]) -> list[str]:
    """The node's mounted config folder, copied with hostnames, ports and the certificates'
    folder made local; returns its exact compose command with the container paths mapped
    to the copies."""
    mounts: dict[str, Path] = {}
    for volume in service["volumes"]:
        source, target = interpolate(volume, env).split(":")[:2]
        if source.startswith("."):
            copy = base / node / target.strip("/").replace("/", "_")
            shutil.copytree(ROOT / source, copy)
            mounts[target] = copy
        elif target == CERTS:
            certs = Path(source)
    for conf in next(iter(mounts.values())).glob("*.conf"):
        text = conf.read_text()
        for other in NODES:
            text = text.replace(f"{other}:6222", f"127.0.0.1:{ports[other]['cluster']}")
        text = (text.replace("port: 4222", f"port: {ports[node]['client']}")
                .replace("port: 6222", f"port: {ports[node]['cluster']}")
                .replace("http_port: 8222", f"http_port: {ports[node]['monitor']}")
                .replace('"/data"', f'"{base / node / "data"}"')
                .replace(CERTS, str(certs))
                .replace('"0.0.0.0"', '"127.0.0.1"'))
        conf.write_text(text)
    command = [interpolate(part, env) for part in service["command"]]
    for target, copy in mounts.items():
        command = [part.replace(target, str(copy)) for part in command]
    return command


@pytest.fixture(scope="module")
def compose_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeCluster]:
    base = tmp_path_factory.mktemp("compose")
    ca = TestCA(base / "certs")
    for node in NODES:
        ca.issue(node)  # valid for the node's name and for 127.0.0.1
    env = {**PASSWORDS, **HASHES, "TICKETCORE_NATS_CERTS_HOST": str(ca.folder)}
    services = compose()["services"]
    ports = {node: {"client": free_port(), "cluster": free_port(), "monitor": free_port()}
             for node in NODES}
    processes = []
    try:
        for node in NODES:
            command = local_copy(node, services[node], base, ports, env)
            node_env = {k: interpolate(str(v), env)
                        for k, v in services[node]["environment"].items()}
            log = open(base / f"{node}.log", "wb")  # noqa: SIM115 - closed by the process
            processes.append(subprocess.Popen([nats_server_binary(), *command], env=node_env,
                                              stdout=log, stderr=subprocess.STDOUT))
        yield ComposeCluster(ports, ca, base)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def tls_to(ca: TestCA) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca.ca_file))


async def test_the_nats_servers_of_compose_form_a_jetstream_cluster(
        compose_cluster: ComposeCluster) -> None:
    admin = await _connect(compose_cluster, "admin")
    js = admin.jetstream(timeout=5.0)
    info = None
    for _ in range(60):  # the cluster elects its meta leader a few seconds after start
        try:
            info = await js.add_stream(StreamConfig(name="R3PROBE", subjects=["r3probe.>"],
                                                    num_replicas=3))
            break
        except Exception:
            await asyncio.sleep(0.5)
    assert info is not None, "no R3 stream could be created"
    for _ in range(40):
        info = await js.stream_info("R3PROBE")
        if info.cluster and info.cluster.leader and len(info.cluster.replicas or []) == 2:
            break
        await asyncio.sleep(0.25)
    assert info.cluster and info.cluster.leader in NODES
    assert len(info.cluster.replicas or []) == 2
    await js.publish("r3probe.one", b"x", stream="R3PROBE")
    await admin.close()
    # The users of the credentials table are in force: intake may not purge anything.
    intake = await _connect(compose_cluster, "intake")
    with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
        await intake.jetstream(timeout=1.0).purge_stream("R3PROBE")
    await intake.close()
    # Only hashes in the servers' configuration and environment: no plaintext warning.
    assert "Plaintext passwords detected" not in compose_cluster.log("nats-1")


def test_a_client_without_tls_is_refused(compose_cluster: ComposeCluster) -> None:
    """A client that sends its CONNECT in plain text is cut off (nothing but its INFO)."""
    with socket.create_connection(("127.0.0.1", compose_cluster.ports["nats-1"]["client"]),
                                  timeout=10) as plain:
        info = plain.recv(4096)
        assert b'"tls_required":true' in info
        plain.sendall(b'CONNECT {"user":"admin","pass":"test-admin-secret"}\r\nPING\r\n')
        answer = b"".join(iter(lambda: plain.recv(4096), b""))  # until the server closes
    assert b"PONG" not in answer and b"+OK" not in answer, answer


def test_a_node_without_the_clusters_certificate_cannot_join(
        compose_cluster: ComposeCluster, tmp_path: Path) -> None:
    """A nats-server that reaches the route port and trusts the cluster's (public) CA, but
    shows a certificate of another CA, gets no route: it never sees the cluster's users,
    streams or messages."""
    stranger = TestCA(tmp_path / "stranger", name="another CA")
    issued = stranger.issue("intruder")
    routes = [f"nats-route://127.0.0.1:{p['cluster']}" for p in compose_cluster.ports.values()]
    tls = TlsFiles(str(issued.cert_file), str(issued.key_file),
                   str(compose_cluster.ca.ca_file))
    monitor = free_port()
    config = tmp_path / "intruder.conf"
    config.write_text(ServerConfig(store_dir=str(tmp_path / "js"), port=free_port(),
                                   name="intruder", monitor_port=monitor,
                                   cluster=ClusterBlock(routes=routes, port=free_port(),
                                                        host="127.0.0.1", tls=tls)
                                   ).render(""))
    log = tmp_path / "intruder.log"
    with open(log, "wb") as output:
        intruder = subprocess.Popen([nats_server_binary(), "-c", str(config)],
                                    stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "TLS route handshake error" not in compose_cluster.log("nats-1"):
            assert time.monotonic() < deadline, log.read_text()
            assert intruder.poll() is None, log.read_text()
            time.sleep(0.1)
        routez = httpx.get(f"http://127.0.0.1:{monitor}/routez", timeout=5).json()
    finally:
        intruder.terminate()
        intruder.wait(10)
    assert routez["num_routes"] == 0, routez


async def test_services_and_commands_connect_over_tls(compose_cluster: ComposeCluster,
                                                      tmp_path: Path) -> None:
    """Provisioning (as admin) and a service (as its user) over TLS, checked against the
    cluster's CA; without the CA the command names the TLS problem."""
    url = ",".join(compose_cluster.urls)
    tls = {"TICKETCORE_NATS__URL": url, "TICKETCORE_NATS__REPLICAS": "3",
           "TICKETCORE_NATS__TLS_CA_FILE": str(compose_cluster.ca.ca_file),
           "TICKETCORE_DATA_DIR": str(tmp_path), "TICKETCORE_NATS__CONNECT_TIMEOUT_S": "10"}
    without_ca = {k: v for k, v in tls.items() if k != "TICKETCORE_NATS__TLS_CA_FILE"}
    untrusted, _ = await asyncio.to_thread(
        run, "nats", "provision", **without_ca, TICKETCORE_NATS__USER="admin",
        TICKETCORE_NATS__PASSWORD=PASSWORDS["NATS_PASSWORD_ADMIN"])
    assert untrusted.returncode == 1
    assert "TLS: the server's certificate is not trusted" in untrusted.stderr, untrusted.stderr
    for _ in range(30):  # the meta leader of a young cluster may not be there yet
        provisioned, _ = await asyncio.to_thread(
            run, "nats", "provision", **tls, TICKETCORE_NATS__USER="admin",
            TICKETCORE_NATS__PASSWORD=PASSWORDS["NATS_PASSWORD_ADMIN"])
        if provisioned.returncode == 0:
            break
        await asyncio.sleep(1)
    assert provisioned.returncode == 0, provisioned.stderr
    port, log = free_port(), tmp_path / "billing.log"
    with running("serve", "billing", log=log, **tls, **SERVE,
                 TICKETCORE_HTTP__PORT=str(port), TICKETCORE_NATS__USER="billing",
                 TICKETCORE_NATS__PASSWORD=PASSWORDS["NATS_PASSWORD_BILLING"]) as billing:
        await asyncio.to_thread(wait_healthy, f"http://127.0.0.1:{port}", billing, log)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
    assert health["nats"]["connected"] is True


async def _connect(cluster: ComposeCluster, user: str) -> nats.aio.client.Client:
    for _ in range(50):
        try:
            return await nats.connect(servers=cluster.urls, user=user,
                                      password=PASSWORDS[password_variable(user)],
                                      inbox_prefix=inbox_prefix(user), allow_reconnect=False,
                                      tls=tls_to(cluster.ca))
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError(f"could not connect as {user}")
