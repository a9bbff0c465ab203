"""The split layout as one public origin: Debian's nginx, configured by
``ticketcore proxy config nginx``, on loopback in front of intake, ack, oncall and billing,
each its own ``ticketcore serve`` process connected as its own NATS user, with a real SMTP
server. Every service builds its links from ``TICKETCORE_HTTP__PUBLIC_URL`` (the proxy).

One request goes from the form through the proxy to its receipt, the page of the on-call
technician and its acknowledgement, the console, a technician's answer, a reply with a
password and its notice, the time logged by ``ticketcore time log`` against the public
origin, and the invoice; every link in every mail and on every page reached on the way
resolves through the proxy to the service that owns it. The same processes take a 200 MB
unauthenticated upload each without their memory growing."""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import psutil
import pytest

from shared.adapters.natsserver import EmbeddedNats, free_port
from shared.adapters.provision import provision
from shared.runtime.auth import SESSION_COOKIE
from shared.runtime.credentials import ADMIN, all_permissions, inbox_prefix
from shared.runtime.natsconfig import authorization_block, ensure_passwords
from tests.intake.conftest import valid_form
from tests.oncall.conftest import TOKENS, write_accounts, write_rota
from tests.security.test_web_auth import console_login
from tests.support import SmtpSink

pytestmark = pytest.mark.slow

SERVICES = ("intake", "ack", "oncall", "billing")
SECRET = "public-origin-test-secret-5f1c0e"
SUPPORT = "auftrag@msp.example"
CUSTOMER = "erika@kunde.example"
START_TIMEOUT_S = 120.0
UPLOAD_BYTES = 200 * 1024 * 1024
# What a process may add to its peak memory while refusing the upload: the limit it reads
# at most, buffers, the answer; far below the upload.
ALLOWED_GROWTH_BYTES = 24 * 1024 * 1024
LINK = re.compile(r"""(?:href|src)=["']([^"']+)["']|(https?://[^\s"'<>]+)""")


def nginx_or_skip() -> str:
    """Debian's nginx, installed by `make system-packages` (CI fails without it)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (Debian package `nginx`, make system-packages)")
        pytest.skip("nginx is not installed (Debian package `nginx`)")
    return found


@dataclass
class Origin:
    url: str
    folder: Path
    sink: SmtpSink
    ports: dict[str, int]
    pids: dict[str, int]
    inbound_port: int
    environment: dict[str, str]
    logs: dict[str, Path] = field(default_factory=dict)


def service_env(folder: Path, name: str, port: int, nats_url: str, passwords: dict[str, str],
                origin: str, smtp_port: int, inbound_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETCORE_")}
    return env | {
        "TICKETCORE_DATA_DIR": str(folder / name), "TICKETCORE_LOG_LEVEL": "WARNING",
        "TICKETCORE_NATS__URL": nats_url, "TICKETCORE_NATS__USER": name,
        "TICKETCORE_NATS__PASSWORD": passwords[name],
        "TICKETCORE_HTTP__PORT": str(port), "TICKETCORE_HTTP__PUBLIC_URL": origin,
        "TICKETCORE_HTTP__TRUSTED_PROXIES": '["127.0.0.1"]',
        "TICKETCORE_SECRET_KEY": SECRET, "TICKETCORE_ONCALL__WEBHOOK_SECRET": SECRET + "-hooks",
        "TICKETCORE_SMTP__HOST": "127.0.0.1", "TICKETCORE_SMTP__PORT": str(smtp_port),
        "TICKETCORE_SMTP__SECURITY": "none",
        "TICKETCORE_INBOUND_MAIL__SUPPORT_ADDRESS": SUPPORT,
        "TICKETCORE_INBOUND_MAIL__SMTP_PORT": str(inbound_port if name == "intake" else 0),
        "TICKETCORE_ACCOUNTS_FILE": str(folder / "accounts.toml"),
        "TICKETCORE_ONCALL__ROTA_FILE": str(folder / "rota.toml"),
        "TICKETCORE_INTAKE__RATE_LIMIT_PER_MINUTE": "100000",
        # A real seller: `serve billing` has no business invoicing as the example one.
        "TICKETCORE_BILLING__SELLER__NAME": "Muster IT-Service GmbH",
        "TICKETCORE_BILLING__SELLER__STREET": "Am Markt 3",
        "TICKETCORE_BILLING__SELLER__VAT_ID": "DE999999999",
        "TICKETCORE_BILLING__SELLER__EMAIL": "rechnung@msp.example"}


def nginx_main_config(folder: Path, generated: Path) -> Path:
    """The main file around the generated one (which belongs into the http block)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = folder / "nginx.conf"
    config.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log warn;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  access_log {folder}/access.log;\n"
        + "".join(f"  {kind}_temp_path {folder}/{kind};\n"
                  for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {generated};\n}}\n", encoding="utf-8")
    return config


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready in {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    nginx = nginx_or_skip()
    folder = tmp_path_factory.mktemp("origin")
    passwords = ensure_passwords(folder, all_permissions())
    server = EmbeddedNats(folder / "nats", port=0, sync_always=True,
                          authorization=authorization_block(passwords))
    nats_url = server.start()
    asyncio.run(_provision(nats_url, passwords[ADMIN]))
    sink = SmtpSink().start()
    write_accounts(folder / "accounts.toml")
    write_rota(folder / "rota.toml")
    proxy_port, inbound_port = free_port(), free_port()
    url = f"http://127.0.0.1:{proxy_port}"
    ports = {name: free_port() for name in SERVICES}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    env = {}
    try:
        for name in SERVICES:
            (folder / name).mkdir()
            env[name] = service_env(folder, name, ports[name], nats_url, passwords, url,
                                    sink.port, inbound_port)
            logs[name] = folder / name / "service.log"
            with open(logs[name], "wb") as log:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "shared.runtime.cli", "serve", name],
                    env=env[name], stdout=log, stderr=subprocess.STDOUT)
        for name in SERVICES:
            wait_ready(f"http://127.0.0.1:{ports[name]}/health/ready", processes[name],
                       logs[name])
        generated = folder / "ticketcore.conf"
        written = subprocess.run(
            [sys.executable, "-m", "shared.runtime.cli", "proxy", "config", "nginx",
             "--listen", f"127.0.0.1:{proxy_port}",
             *(f"--upstream={n}=127.0.0.1:{ports[n]}" for n in ("intake", "oncall", "billing"))],
            env=env["intake"], capture_output=True, text=True, timeout=60)
        assert written.returncode == 0, written.stderr
        generated.write_text(written.stdout, encoding="utf-8")
        main = nginx_main_config(folder, generated)
        checked = subprocess.run([nginx, "-t", "-c", str(main), "-p", str(folder),
                                  "-e", str(folder / "error.log")],
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stderr
        logs["nginx"] = folder / "nginx.log"
        with open(logs["nginx"], "wb") as log:
            processes["nginx"] = subprocess.Popen(
                [nginx, "-c", str(main), "-p", str(folder), "-e", str(folder / "error.log")],
                stdout=log, stderr=subprocess.STDOUT)
        wait_ready(f"{url}/live-status", processes["nginx"], logs["nginx"])
        yield Origin(url, folder, sink, ports, {n: p.pid for n, p in processes.items()},
                     inbound_port, env["intake"], logs)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        sink.stop()
        server.stop()


async def _provision(url: str, password: str) -> None:
    import nats

    client = await nats.connect(url, user=ADMIN, password=password,
                                inbox_prefix=inbox_prefix(ADMIN))
    try:
        await provision(client.jetstream())
    finally:
        await client.close()


# -- following links -------------------------------------------------------------------------


def links_in(text: str) -> list[str]:
    return [html.unescape(a or b) for a, b in LINK.findall(text)]


def mail_links(message: EmailMessage) -> list[str]:
    parts = [part.get_content() for part in message.walk()
             if part.get_content_type() in ("text/plain", "text/html")]
    return [link for part in parts for link in links_in(part) if link.startswith("http")]


def reached_a_service(answer: httpx.Response) -> bool:
    """True if a service answered (every answer of ours carries the baseline headers; the
    proxy's own 404 and 502 do not)."""
    return answer.headers.get("referrer-policy") == "no-referrer"


async def mails_to(sink: SmtpSink, address: str, count: int,
                   timeout_s: float = 60.0) -> list[EmailMessage]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        found = [m for m in sink.messages if address in str(m["To"])]
        if len(found) >= count or loop.time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def resolve_every_link(http: httpx.AsyncClient, origin: Origin, links: list[str],
                             cookie: str | None = None) -> int:
    """GET every link (absolute ones must be on the origin); each must reach its service
    and answer 200. Returns how many were followed."""
    followed = 0
    for link in links:
        if link.startswith("http"):
            assert link.startswith(origin.url + "/"), link  # the one origin, nothing else
            link = link.removeprefix(origin.url)
        answer = await http.get(link, cookies={SESSION_COOKIE: cookie} if cookie else None)
        assert reached_a_service(answer) and answer.status_code == 200, (
            link, answer.status_code, answer.text[:300])
        followed += 1
    return followed


async def crawl(http: httpx.AsyncClient, start: list[str], cookie: str | None = None,
                limit: int = 80) -> set[str]:
    """Every page reachable from ``start`` by same-origin links (GET), with its forms:
    each page answers 200 from a service; each form's target reaches a service too (a
    POST without the form's CSRF token: refused there, never by the proxy)."""
    seen: set[str] = set()
    queue = list(start)
    cookies = {SESSION_COOKIE: cookie} if cookie else None
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen or "logout" in path:
            continue
        seen.add(path)
        page = await http.get(path, cookies=cookies)
        assert reached_a_service(page) and page.status_code == 200, (path, page.status_code)
        if "text/html" not in page.headers.get("content-type", ""):
            continue
        for form in re.finditer(r"<form([^>]*)>", page.text):
            attributes = form.group(1)
            action = re.search(r'action="([^"]*)"', attributes)
            target = html.unescape(action.group(1)) if action else path
            if re.search(r"method=[\"']post", attributes, re.IGNORECASE):
                answer = await http.post(target, data={"csrf": "0" * 64}, cookies=cookies)
                assert reached_a_service(answer), (path, target, answer.status_code)
                assert answer.status_code in (303, 401, 403), (path, target, answer.status_code)
            else:  # a search form: its target answers (an empty search: "not found")
                answer = await http.get(target, cookies=cookies)
                assert reached_a_service(answer) and answer.status_code < 500, (path, target)
        for link in links_in(page.text):
            if link.startswith("/") and not link.startswith("//") and link not in seen:
                queue.append(link)
    return seen


# -- the request's way ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def client(origin: Origin) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=origin.url, timeout=60) as http:
        yield http


async def test_a_request_goes_from_the_form_to_the_invoice_through_one_origin(
        origin: Origin) -> None:
    async with client(origin) as http:
        # The form, submitted as a browser does: through the proxy, to intake.
        form = await http.get("/")
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">',
                                 form.text))
        sent = await http.post("/", data={**valid_form(email=CUSTOMER, priority="yes"),
                                          **hidden})
        assert sent.status_code == 303, sent.text[:500]
        confirmation = await http.get(sent.headers["Location"])
        assert confirmation.status_code == 200
        case = re.search(r"/confirmation/(\d+)", sent.headers["Location"]).group(1)
        customer_pages = await crawl(http, [sent.headers["Location"], "/live-status", "/"])

        # The receipt and the page: every link leads through the origin to its service.
        [receipt] = await mails_to(origin.sink, CUSTOMER, 1)
        assert await resolve_every_link(http, origin, mail_links(receipt)) >= 1
        pages = [m for m in await mails_to(origin.sink, "@example.com", 1) if case in
                 str(m["Subject"])]
        assert pages, [str(m["Subject"]) for m in origin.sink.messages]
        page = pages[0]
        page_links = mail_links(page)
        acknowledge = next(link for link in page_links if "/oncall/ack/" in link)
        assert await resolve_every_link(http, origin, page_links) == len(page_links) >= 2
        confirm = await http.get(acknowledge.removeprefix(origin.url))
        action = html.unescape(re.search(r"action='([^']+)'", confirm.text).group(1))
        acknowledged = await http.post(action)
        assert acknowledged.status_code == 200 and case in acknowledged.text
        technician = acknowledge.split("/oncall/ack/")[1].split("/")[1].split("?")[0]
        token = TOKENS[technician]

        # The console: every page and form of it, reached through the origin.
        cookie = await console_login(http, technician)
        console_pages = await crawl(http, ["/console", f"/console/tickets/{case}",
                                           "/console/mail", "/console/announcements"], cookie)
        assert f"/console/tickets/{case}" in console_pages

        # The technician's answer, by the API through the origin: its mail's links resolve.
        bearer = {"Authorization": f"Bearer {token}"}
        answered = await http.post(f"/api/tickets/{case}/respond", headers=bearer,
                                   json={"message": "Wir kümmern uns darum."})
        assert answered.status_code == 200, answered.text
        answer = (await mails_to(origin.sink, CUSTOMER, 2))[-1]
        assert "Wir kümmern uns darum." in answer.get_body(("plain",)).get_content()
        assert await resolve_every_link(http, origin, mail_links(answer)) >= 1

        # A reply with a password: the notice about its removal links through the origin.
        await reply_with_password(origin, case, str(receipt["Message-ID"]))
        notice = (await mails_to(origin.sink, CUSTOMER, 3))[-1]
        assert "entfernt" in str(notice["Subject"]) or "removed" in str(notice["Subject"])
        assert await resolve_every_link(http, origin, mail_links(notice)) >= 1

        # Time logged with the CLI against the public origin, then resolved and invoiced.
        logged = await time_log(origin, case, token)
        assert logged.returncode == 0, logged.stderr
        resolved = await http.post(f"/api/tickets/{case}/resolve", headers=bearer,
                                   json={"resolution": "Treiber neu installiert."})
        assert resolved.status_code == 200, resolved.text
        resolution = (await mails_to(origin.sink, CUSTOMER, 4))[-1]
        assert await resolve_every_link(http, origin, mail_links(resolution)) >= 1
        invoiced = await http.post(f"/api/tickets/{case}/invoice", headers=bearer)
        assert invoiced.status_code == 201, invoiced.text
        number = invoiced.json()["invoice_number"]
        pdf = await http.get(f"/api/invoices/{number}.pdf", headers=bearer)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["Cache-Control"] == "no-store"

        # The reference of every service is on the origin; a process's own routes are not.
        reference = await http.get("/docs", follow_redirects=True)
        assert reference.status_code == 200 and "<script" not in reference.text
        for private in ("/health", "/metrics", "/outbox", "/openapi.json"):
            assert (await http.get(private)).status_code == 404, private
    assert len(customer_pages) >= 3


async def reply_with_password(origin: Origin, case: str, receipt_id: str) -> None:
    message = EmailMessage()
    message["From"] = f"Erika Mustermann <{CUSTOMER}>"
    message["To"] = SUPPORT
    message["Subject"] = f"AW: [SA#{case}] Drucker druckt nicht"
    message["In-Reply-To"] = receipt_id
    message["Message-ID"] = f"<reply-{case}@kunde.example>"
    message.set_content("Der Zugang zum NAS: Benutzer admin, Passwort: Sommer2026!x\nDanke")
    await aiosmtplib.send(message, sender=CUSTOMER, recipients=[SUPPORT],
                          hostname="127.0.0.1", port=origin.inbound_port, start_tls=False,
                          timeout=30)


async def time_log(origin: Origin, case: str, token: str) -> subprocess.CompletedProcess[str]:
    """``ticketcore time log`` as a technician runs it: the public origin from the same
    settings as the services, nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETCORE_")}
    env |= {"TICKETCORE_HTTP__PUBLIC_URL": origin.url, "TICKETCORE_API_TOKEN": token,
            "TICKETCORE_DATA_DIR": str(origin.folder / "cli")}
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "shared.runtime.cli", "time", "log", case,
                         "--start", "2026-11-25T17:50:00+01:00",
                         "--end", "2026-11-25T18:20:00+01:00", "--kind", "work"],
        env=env, capture_output=True, text=True, timeout=120)


# -- a 200 MB upload ---------------------------------------------------------------------------


async def upload() -> AsyncIterator[bytes]:
    """200 MB in 1 MB chunks, sent as they come (chunked: no Content-Length to refuse)."""
    chunk = b"a=" + b"x" * (1024 * 1024 - 2)
    for _ in range(UPLOAD_BYTES // len(chunk)):
        yield chunk


@dataclass
class PeakMemory:
    """The resident memory of a process, sampled every 10 ms in a thread."""

    pid: int
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        process = psutil.Process(self.pid)
        self.peak = process.memory_info().rss

        def sample() -> None:
            while not self._stop.wait(0.01):
                self.peak = max(self.peak, process.memory_info().rss)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# One route per process that takes a body, as a stranger finds them.
UPLOAD_ROUTES = {"intake": "/api/requests", "oncall": "/api/tickets/20261125000010/respond",
                 "billing": "/api/tickets/20261125000010/time", "ack": "/outbox"}


@pytest.mark.parametrize("service", [*SERVICES, "oncall-login"])
async def test_a_200_mb_unauthenticated_upload_is_cut_off_without_memory_growth(
        origin: Origin, service: str) -> None:
    name = service.split("-")[0]
    path = "/console/login" if service == "oncall-login" else UPLOAD_ROUTES[name]
    before = psutil.Process(origin.pids[name]).memory_info().rss
    with PeakMemory(origin.pids[name]) as memory:
        async with httpx.AsyncClient(timeout=120) as http:
            try:
                answer = await http.post(
                    f"http://127.0.0.1:{origin.ports[name]}{path}", content=upload(),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
                status = answer.status_code
            except httpx.TransportError:  # cut off while still sending: as intended
                status = None
    assert status in (None, 401, 405, 413), (service, status)
    assert memory.peak - before < ALLOWED_GROWTH_BYTES, (
        service, f"{(memory.peak - before) / 2**20:.1f} MB more")
    assert psutil.Process(origin.pids[name]).is_running()
    print(f"\n{service}: {path}: answer {status}, peak memory +"
          f"{(memory.peak - before) / 2**20:.1f} MB")
    # Declared as large as it is, the upload is refused before one byte of it is read.
    reader, writer = await asyncio.open_connection("127.0.0.1", origin.ports[name])
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {UPLOAD_BYTES}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode())
        await writer.drain()
        declared = await asyncio.wait_for(reader.read(), 60)
    finally:
        writer.close()
    assert declared.startswith(b"HTTP/1.1 413 "), declared[:200]


async def test_the_proxy_refuses_an_oversized_body_itself(origin: Origin) -> None:
    """The route's limit is in the proxy's configuration too: the upload never reaches
    the service."""
    async with client(origin) as http:
        try:
            answer = await http.post("/api/requests", content=upload(),
                                     headers={"Content-Type": "application/json"})
            status = answer.status_code
        except httpx.TransportError:
            status = None
    assert status in (None, 413)
    assert "client intended to send too large" in (origin.folder / "error.log").read_text()
