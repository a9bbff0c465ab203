"""Least-privilege NATS users, checked by a real nats-server started with the rendered
configuration: each user does its normal work, and every refusal comes from the server."""

from __future__ import annotations

import asyncio
import json
import re
import stat
import subprocess
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from services.oncall.webhook import webhooks_stream
from shared.adapters.eventstore import STREAM, EventStore
from shared.adapters.natsserver import free_port, nats_server_binary
from shared.adapters.orderholds import HOLDS_BUCKET, OrderHolds
from shared.adapters.pii import PII_BUCKET
from shared.adapters.provision import (
    OPS_BUCKET,
    TIMERS_STREAM,
    ensure_kv,
    ensure_object_store,
    provision,
)
from shared.runtime.credentials import (
    ADMIN,
    ATTACHMENTS,
    INTEGRATOR,
    SERVICE_RIGHTS,
    all_durables,
    all_permissions,
    inbox_prefix,
)
from shared.runtime.natsconfig import (
    PASSWORDS_FILE,
    ROUTE_USER,
    ServerConfig,
    authorization_block,
    ensure_passwords,
)
from tests.factories import request_submitted

ROOT = Path(__file__).parents[2]
FILTERS = {STREAM: "tickets.>", TIMERS_STREAM: "timers.due.>", "WEBHOOKS": "webhooks.>"}
REFUSAL_WAIT_S = 1.0


@dataclass
class SecuredServer:
    url: str
    passwords: dict[str, str]
    process: subprocess.Popen[bytes]


@dataclass
class User:
    """A connection as one user, recording the server's permission violations."""

    name: str
    nc: NatsClient
    js: JetStreamContext
    violations: list[str] = field(default_factory=list)

    async def refused(self, subject: str, operation: Awaitable[Any]) -> None:
        """``operation`` gets no answer and the server reports a violation on ``subject``."""
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await asyncio.wait_for(operation, REFUSAL_WAIT_S)
        await asyncio.sleep(0.05)
        # nats-py lower-cases the server's message
        assert any(f'"{subject.lower()}"' in v for v in self.violations), (
            subject, self.violations)

    def assert_no_violation(self) -> None:
        assert not self.violations, self.violations


def start_secured(directory: Path) -> SecuredServer:
    passwords = ensure_passwords(directory, all_permissions())
    port = free_port()
    config = directory / "nats-server.conf"
    config.write_text(ServerConfig(store_dir=str(directory / "jetstream"), port=port,
                                   sync_always=False).render(authorization_block(passwords)))
    process = subprocess.Popen([nats_server_binary(), "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = SecuredServer(f"nats://127.0.0.1:{port}", passwords, process)
    asyncio.run(_provision_as_admin(server))
    return server


async def _provision_as_admin(server: SecuredServer) -> None:
    for _ in range(100):  # the server takes a moment to listen
        try:
            nc = await nats.connect(server.url, user=ADMIN, password=server.passwords[ADMIN],
                                    inbox_prefix=inbox_prefix(ADMIN), allow_reconnect=False)
            break
        except Exception:
            await asyncio.sleep(0.1)
    js = nc.jetstream()
    await provision(js)
    await js.add_stream(webhooks_stream())
    await ensure_object_store(js, ATTACHMENTS)
    await EventStore(nc).append("CASE1", [request_submitted(case_number="CASE1")], 0)
    await nc.close()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredServer]:
    server = start_secured(tmp_path_factory.mktemp("secured"))
    try:
        yield server
    finally:
        server.process.terminate()
        server.process.wait(10)


@pytest.fixture
async def connect(secured: SecuredServer) -> AsyncIterator[Any]:
    users: list[User] = []

    async def connect_as(name: str) -> User:
        violations: list[str] = []

        async def on_error(error: Exception) -> None:
            violations.append(str(error))

        nc = await nats.connect(secured.url, user=name, password=secured.passwords[name],
                                inbox_prefix=inbox_prefix(name), error_cb=on_error,
                                allow_reconnect=False)
        user = User(name, nc, nc.jetstream(timeout=REFUSAL_WAIT_S), violations)
        users.append(user)
        return user

    yield connect_as
    for user in users:
        await user.nc.close()


async def checked_append(user: User, ticket: str, event_type: str) -> dict[str, Any]:
    """A JetStream append as the event store makes it (expected version over the ticket)."""
    subject = f"tickets.{ticket}.{event_type}"
    last = await user.nc.request(f"$JS.API.DIRECT.GET.{STREAM}",
                                 json.dumps({"last_by_subj": f"tickets.{ticket}.>"}).encode())
    version = (last.headers or {}).get("Nats-Sequence", "0")
    reply = await user.nc.request(subject, b"{}", timeout=REFUSAL_WAIT_S, headers={
        "Nats-Expected-Last-Subject-Sequence": version,
        "Nats-Expected-Last-Subject-Sequence-Subject": f"tickets.{ticket}.>"})
    return json.loads(reply.data)


def foreign_event_type(service: str) -> str:
    own = set(SERVICE_RIGHTS[service].records)
    return next(t for rights in SERVICE_RIGHTS.values() for t in rights.records if t not in own)


def foreign_bucket(service: str) -> str:
    own = set(SERVICE_RIGHTS[service].keeps)
    return next(b for rights in SERVICE_RIGHTS.values() for b in rights.keeps if b not in own)


# -- services -------------------------------------------------------------------------------


@pytest.mark.parametrize("service", list(SERVICE_RIGHTS))
async def test_a_service_records_its_own_event_types_and_no_other(connect: Any,
                                                                   service: str) -> None:
    user = await connect(service)
    ticket = f"T{service}"
    for event_type in SERVICE_RIGHTS[service].records:
        ack = await checked_append(user, ticket, event_type)
        assert "error" not in ack and ack["stream"] == STREAM, (event_type, ack)
    user.assert_no_violation()
    other = foreign_event_type(service)
    await user.refused(f"tickets.{ticket}.{other}",
                       checked_append(user, ticket, other))


async def test_intake_submits_a_request_through_the_event_store(connect: Any) -> None:
    intake = await connect("intake")
    store = EventStore(intake.nc, timeout_s=REFUSAL_WAIT_S)
    version = await store.append("CASE2", [request_submitted(case_number="CASE2")], 0)
    history = await store.load("CASE2")
    assert history.version == version
    assert history.events[0].event.contact.email == "kunde@example.de"  # type: ignore[union-attr]
    intake.assert_no_violation()


async def test_ack_reads_a_ticket_with_its_personal_data_but_cannot_seal_new_data(
        connect: Any) -> None:
    ack = await connect("ack")
    history = await EventStore(ack.nc, timeout_s=REFUSAL_WAIT_S).load("CASE1")
    assert history.events[0].event.contact.first_name == "Erika"  # type: ignore[union-attr]
    ack.assert_no_violation()
    await ack.refused(f"$KV.{PII_BUCKET}.CASE9",
                      ack.nc.request(f"$KV.{PII_BUCKET}.CASE9", b"key", timeout=1.0))


@pytest.mark.parametrize("service", [s for s, r in SERVICE_RIGHTS.items() if r.consumes])
async def test_a_service_uses_its_own_durable_consumers(connect: Any, service: str) -> None:
    user = await connect(service)
    for durable in SERVICE_RIGHTS[service].consumes:
        await user.js.add_consumer(durable.stream, ConsumerConfig(
            durable_name=durable.name, filter_subject=FILTERS[durable.stream],
            ack_policy="explicit"))  # type: ignore[arg-type]
        sub = await user.js.pull_subscribe_bind(durable.name, durable.stream)
        try:
            for msg in await sub.fetch(1, timeout=0.5):
                await msg.ack()
        except nats.errors.TimeoutError:
            pass  # nothing on this stream yet: the pull itself was allowed
        await user.js.consumer_info(durable.stream, durable.name)
        holds = OrderHolds(user.js, durable.name, durable.stream)
        await holds.start()  # per-ticket order across replicas: its own holds only
        await holds.hold("CASE1", 1, 0.1)
        await holds.release("CASE1", 1)
        await holds.stop()
    user.assert_no_violation()


@pytest.mark.parametrize("service", list(SERVICE_RIGHTS))
async def test_a_service_cannot_use_another_services_consumer(connect: Any,
                                                              service: str) -> None:
    user = await connect(service)
    other = next(d for d in all_durables() if d not in SERVICE_RIGHTS[service].consumes)
    api = f"$JS.API.CONSUMER.%s.{other.stream}.{other.name}"
    await user.refused(api % "DURABLE.CREATE", user.js.add_consumer(
        other.stream, durable_name=other.name, filter_subject=FILTERS[other.stream]))
    await user.refused(api % "MSG.NEXT", user.nc.request(api % "MSG.NEXT", b'{"batch":1}'))
    await user.refused(api % "DELETE", user.js.delete_consumer(other.stream, other.name))


@pytest.mark.parametrize("service", list(SERVICE_RIGHTS))
async def test_a_service_keeps_its_own_buckets_and_cannot_open_anothers(
        connect: Any, service: str) -> None:
    user = await connect(service)
    for bucket in SERVICE_RIGHTS[service].keeps:
        await ensure_kv(user.js, bucket)
        kv = await user.js.key_value(bucket)
        await kv.put("probe", b"1")
        assert (await kv.get("probe")).value == b"1"
    user.assert_no_violation()
    other = foreign_bucket(service)
    await user.refused(f"$JS.API.STREAM.INFO.KV_{other}", user.js.key_value(other))
    await user.refused(f"$KV.{other}.probe", user.nc.request(f"$KV.{other}.probe", b"1"))


async def test_oncall_schedules_timers_queues_webhooks_and_stores_attachments(
        connect: Any) -> None:
    intake, oncall, ack = await connect("intake"), await connect("oncall"), await connect("ack")
    billing = await connect("billing")
    store = await intake.js.object_store(ATTACHMENTS)
    await store.put("sha-1", b"scan")
    # Technicians attach files to answers; the ack service mails them.
    await (await oncall.js.object_store(ATTACHMENTS)).put("sha-2", b"plan")
    assert (await (await ack.js.object_store(ATTACHMENTS)).get("sha-2")).data == b"plan"
    ack.assert_no_violation()
    await oncall.js.publish("timers.schedule.CASE1.sla", b"{}", stream=TIMERS_STREAM, headers={
        "Nats-Schedule": "@at 2099-01-01T00:00:00Z",
        "Nats-Schedule-Target": "timers.due.CASE1.sla"})
    await oncall.js.publish("webhooks.t1", b"job", stream="WEBHOOKS")
    assert (await (await oncall.js.object_store(ATTACHMENTS)).get("sha-1")).data == b"scan"
    intake.assert_no_violation()
    oncall.assert_no_violation()
    await ack.refused("timers.schedule.CASE1.sla",
                      ack.js.publish("timers.schedule.CASE1.sla", b"{}"))
    await billing.refused(f"$JS.API.STREAM.INFO.OBJ_{ATTACHMENTS}",
                          billing.js.object_store(ATTACHMENTS))


@pytest.mark.parametrize("service", ["oncall", "billing"])
async def test_read_models_replay_the_log(connect: Any, service: str) -> None:
    user = await connect(service)
    store = EventStore(user.nc, timeout_s=REFUSAL_WAIT_S)
    replayed = [r.ticket_id async for r in store.replay(1, reveal_personal_data=False)]
    assert "CASE1" in replayed
    user.assert_no_violation()


@pytest.mark.parametrize("name", [*SERVICE_RIGHTS, INTEGRATOR])
async def test_nobody_but_admin_purges_or_deletes(connect: Any, name: str) -> None:
    user = await connect(name)
    api = "$JS.API.STREAM"
    await user.refused(f"{api}.PURGE.{STREAM}", user.js.purge_stream(STREAM))
    await user.refused(f"{api}.DELETE.{STREAM}", user.js.delete_stream(STREAM))
    await user.refused(f"{api}.MSG.DELETE.{STREAM}", user.js.delete_msg(STREAM, 1))
    await user.refused(f"{api}.UPDATE.{STREAM}",
                       user.js.update_stream(name=STREAM, subjects=["tickets.>"]))
    await user.refused(f"{api}.CREATE.ROGUE", user.js.add_stream(name="ROGUE",
                                                                 subjects=["rogue.>"]))


async def test_a_user_cannot_read_others_replies(connect: Any) -> None:
    ack = await connect("ack")
    await ack.nc.subscribe("_INBOX.>")
    await ack.nc.flush()
    await asyncio.sleep(0.1)
    assert any("subscription" in v and "_inbox.>" in v for v in ack.violations), ack.violations


# -- integrator ------------------------------------------------------------------------------


async def test_the_integrator_reads_tickets_with_its_own_durable_consumer(connect: Any) -> None:
    integrator = await connect(INTEGRATOR)
    info = await integrator.js.stream_info(STREAM)
    assert info.state.messages >= 1
    last = await integrator.nc.request(f"$JS.API.DIRECT.GET.{STREAM}",
                                       b'{"last_by_subj":"tickets.CASE1.>"}')
    assert last.headers and last.headers["Nats-Subject"].startswith("tickets.CASE1.")
    await integrator.js.add_consumer(STREAM, durable_name="integrator-crm",
                                     filter_subject="tickets.*.RequestSubmitted",
                                     ack_policy="explicit")  # type: ignore[arg-type]
    sub = await integrator.js.pull_subscribe_bind("integrator-crm", STREAM)
    messages = await sub.fetch(1, timeout=2.0)
    await messages[0].ack_sync()
    await integrator.js.delete_consumer(STREAM, "integrator-crm")
    integrator.assert_no_violation()


async def test_the_integrator_cannot_write_or_take_a_services_consumer(connect: Any) -> None:
    integrator = await connect(INTEGRATOR)
    await integrator.refused("tickets.CASE1.TicketResolved",
                             checked_append(integrator, "CASE1", "TicketResolved"))
    await integrator.refused(f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.ack-receipts",
                             integrator.js.add_consumer(STREAM, durable_name="ack-receipts"))
    await integrator.refused(f"$KV.{PII_BUCKET}.CASE1",
                             integrator.nc.request(f"$KV.{PII_BUCKET}.CASE1", b""))
    await integrator.refused(f"$JS.API.DIRECT.GET.KV_{PII_BUCKET}.$KV.{PII_BUCKET}.CASE1",
                             integrator.nc.request(
                                 f"$JS.API.DIRECT.GET.KV_{PII_BUCKET}.$KV.{PII_BUCKET}.CASE1",
                                 b""))


async def test_an_unnamed_consumer_request_on_the_log_is_refused(connect: Any) -> None:
    """The server takes a consumer's name from the body of an unnamed create request, a
    service's durable's too: on streams with durables only named requests are allowed."""
    for name in (INTEGRATOR, "billing"):
        user = await connect(name)
        await user.refused(f"$JS.API.CONSUMER.CREATE.{STREAM}", user.nc.request(
            f"$JS.API.CONSUMER.CREATE.{STREAM}", json.dumps(
                {"stream_name": STREAM, "config": {"name": "ack-receipts"}}).encode()))


@pytest.mark.parametrize(("api", "config"), [
    ("CONSUMER.CREATE.TICKETS.integrator-x", {"name": "ack-receipts"}),
    ("CONSUMER.CREATE.TICKETS.integrator-x", {"durable_name": "ack-receipts"}),
    ("CONSUMER.DURABLE.CREATE.TICKETS.integrator-x", {"durable_name": "ack-receipts"}),
    ("CONSUMER.DURABLE.CREATE.TICKETS.integrator-x", {"name": "ack-receipts"}),
])
async def test_a_named_request_cannot_smuggle_a_services_consumer_name(
        connect: Any, api: str, config: dict[str, str]) -> None:
    """The name in the subject wins: the server refuses a different one in the body, or
    names the consumer as the subject says."""
    integrator = await connect(INTEGRATOR)
    request = {"stream_name": STREAM, "config": {**config, "ack_policy": "explicit",
                                                 "deliver_policy": "all"}}
    reply = await integrator.nc.request(f"$JS.API.{api}", json.dumps(request).encode())
    answer = json.loads(reply.data)
    assert "error" in answer or answer["name"] == "integrator-x", answer


# -- passwords and drift -------------------------------------------------------------------------


def test_passwords_are_generated_once_into_a_private_file(tmp_path: Path) -> None:
    first = ensure_passwords(tmp_path, ["intake", "ack"])
    path = tmp_path / PASSWORDS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ensure_passwords(tmp_path, ["intake", "ack", "billing"])
    assert again["intake"] == first["intake"] and again["ack"] == first["ack"]
    assert len(set(again.values())) == 3 and all(len(p) >= 32 for p in again.values())


def test_every_durable_and_bucket_in_the_code_is_in_the_table() -> None:
    """A consumer or bucket added to a service without rights would fail at its start."""
    source = "\n".join(p.read_text() for p in [*ROOT.glob("services/**/*.py"),
                                               *ROOT.glob("shared/application/*.py"),
                                               *ROOT.glob("shared/adapters/*.py")])
    durables = set(re.findall(r'(?:DURABLE\s*=\s*|ConsumerSpec\(\s*)"([\w-]+)"', source))
    buckets = set(re.findall(r'BUCKET\s*=\s*"(\w+)"', source))
    assert {d.name for d in all_durables()} == durables
    kept = {b for rights in SERVICE_RIGHTS.values() for b in rights.keeps}
    assert buckets - kept <= {PII_BUCKET, ATTACHMENTS, OPS_BUCKET, HOLDS_BUCKET}, buckets - kept


async def test_provisioning_runs_as_admin(secured: SecuredServer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.runtime.natscli import provision_as
    from shared.settings import load_settings

    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    settings = load_settings(data_dir=tmp_path, nats={
        "url": secured.url, "user": ADMIN, "password": secured.passwords[ADMIN]})
    await provision_as(settings)  # idempotent: everything exists already


def test_the_cli_prints_a_server_config_with_every_user(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.runtime.cli import main

    monkeypatch.setenv("TICKETCORE_DATA_DIR", str(tmp_path))
    assert main(["nats", "config", "--route", "nats-route://n2:6222"]) == 0
    text = capsys.readouterr().out
    passwords = json.loads((tmp_path / PASSWORDS_FILE).read_text())
    assert set(passwords) == {*all_permissions(), ROUTE_USER}
    # Routes need the route password (its hash guards this node's route port).
    assert "sync_interval: always" in text
    assert f"nats-route://{ROUTE_USER}:{passwords[ROUTE_USER]}@n2:6222" in text
    # Users' passwords only as bcrypt hashes.
    hashes = re.findall(r'password: "(\$2b\$[^"]+)"', text)
    assert len(hashes) == len(passwords)  # every user and the route user
    assert not any(json.dumps(p) in text for u, p in passwords.items() if u != ROUTE_USER)
    assert all(any(bcrypt.checkpw(p.encode(), h.encode()) for h in hashes)
               for p in passwords.values())
