"""Billing commands: ``billing quote``, ``billing invoice``, ``time log``, ``time void``.

``billing quote`` is offline (pure pricing). The others call the billing HTTP API as a
technician: URL from ``--url``, else the settings (``TICKETCORE_API_URL``, else the public URL,
else this machine's HTTP port: where ``ticketcore up`` serves), API token from ``--token``,
else ``TICKETCORE_API_TOKEN``, else the token ``ticketcore up`` wrote beside its accounts
(``<data dir>/admin-api-token.txt``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.billing.quote import QuoteInputError, parse_quote_request
from shared.domain.calendar import BusinessCalendar
from shared.domain.pricing import Entry, TimeKind, price
from shared.runtime.accounts import API_TOKEN_FILE
from shared.settings import Settings

BENCH_ENTRIES = 10_000
BENCH_RUNS = 7


def register(commands: argparse._SubParsersAction) -> None:
    billing = commands.add_parser("billing", help="quotes and invoices")
    sub = billing.add_subparsers(title="billing commands")
    quote = sub.add_parser("quote", help="price time entries given as JSON (FILE or -)")
    quote.add_argument("file", nargs="?", help="JSON request, '-' for standard input")
    quote.add_argument("--bench", action="store_true",
                       help=f"time the pricing of {BENCH_ENTRIES} entries and print it")
    quote.set_defaults(run=_quote)
    invoice = sub.add_parser("invoice", help="issue the invoice of a resolved ticket")
    invoice.add_argument("case_number")
    _api_options(invoice)
    invoice.set_defaults(run=_invoice)

    time_parser = commands.add_parser("time", help="log and void time entries")
    time_sub = time_parser.add_subparsers(title="time commands")
    log = time_sub.add_parser("log", help="log a time entry on a ticket")
    log.add_argument("case_number")
    log.add_argument("--start", required=True, help="ISO-8601 with offset")
    log.add_argument("--end", required=True, help="ISO-8601 with offset")
    log.add_argument("--kind", required=True, choices=("work", "travel"))
    log.add_argument("--note", default="")
    log.add_argument("--entry-id", help="client id: repeating the command is then a no-op")
    _api_options(log)
    log.set_defaults(run=_time_log)
    void = time_sub.add_parser("void", help="void a time entry (log a corrected one anew)")
    void.add_argument("case_number")
    void.add_argument("entry_id")
    void.add_argument("--reason", default="")
    _api_options(void)
    void.set_defaults(run=_time_void)


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the system's HTTP address (default: TICKETCORE_API_URL, "
                                      "else where `ticketcore up` serves)")
    parser.add_argument("--token", help="a technician's API token (default: "
                                        "TICKETCORE_API_TOKEN, else the one `ticketcore up` "
                                        "wrote: <data dir>/admin-api-token.txt)")


def api_address(settings: Settings) -> str:
    """Where the running system answers, from the same settings the services read."""
    if settings.api_url:
        return settings.api_url.rstrip("/")
    if settings.http.public_url:
        return settings.http.public_url.rstrip("/")
    host = settings.http.host
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: this machine answers too
        host = "127.0.0.1"
    return f"http://{host}:{settings.http.port}"


# -- quote --------------------------------------------------------------------------------

def _quote(args: argparse.Namespace) -> int:
    if args.bench:
        return _bench()
    if not args.file:
        print("ticketcore: billing quote: give a FILE or - for standard input",
              file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if args.file == "-" else _read(args.file)
        request = parse_quote_request(text)
    except (QuoteInputError, OSError) as error:
        print(f"ticketcore: billing quote: {error}", file=sys.stderr)
        return 1
    print(json.dumps(request.quote().to_json(), indent=2))
    return 0


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def bench_entries(count: int = BENCH_ENTRIES) -> list[Entry]:
    """``count`` entries of 5 to 95 minutes spread over every hour and weekday of 2026."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    entries = []
    for i in range(count):
        begin = start + timedelta(minutes=(i * 7919) % (365 * 24 * 60))
        kind: TimeKind = "travel" if i % 4 == 0 else "work"
        entries.append(Entry(begin, begin + timedelta(minutes=5 + (i * 37) % 91), kind))
    return entries


def _bench() -> int:
    entries = bench_entries()
    timings: dict[str, float] = {}
    for priority in (True, False):
        runs = []
        for _ in range(BENCH_RUNS):
            calendar = BusinessCalendar("BY")  # fresh: holiday and day caches count
            began = time.perf_counter()
            quote = price(entries, calendar, priority=priority, hourly_rate=Decimal("130.00"),
                          vat_rate=Decimal("0.19"))
            runs.append(time.perf_counter() - began)
        timings["priority" if priority else "normal"] = statistics.median(runs)
        blocks = sum(line.minutes for line in quote.lines) // 10
    print(f"billing quote: {len(entries)} entries ({blocks} blocks), median of {BENCH_RUNS} "
          f"runs: priority {timings['priority'] * 1000:.1f} ms, "
          f"normal {timings['normal'] * 1000:.1f} ms")
    return 0


# -- API calls ----------------------------------------------------------------------------

def _call(args: argparse.Namespace, method: str, path: str,
          body: dict[str, Any] | None = None) -> int:
    import httpx

    from shared.runtime.cli import settings_from_env

    settings = settings_from_env()
    url = (args.url or api_address(settings)).rstrip("/")
    token = args.token or settings.api_token or token_of_up(settings)
    if not token:
        print("ticketcore: give an API token (--token or TICKETCORE_API_TOKEN; `ticketcore "
              f"up` writes one to {settings.data_dir / API_TOKEN_FILE})", file=sys.stderr)
        return 2
    try:
        # Fail fast when nothing listens, as commands that talk to NATS do.
        timeout = httpx.Timeout(30.0, connect=settings.nats.connect_timeout_s)
        response = httpx.request(method, url + path, json=body, timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as error:
        print(f"ticketcore: cannot reach {url}: {error or type(error).__name__}",
              file=sys.stderr)
        return 1
    if response.status_code >= 400:
        print(f"ticketcore: {refusal(response, method, url, path)}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    return 0


def token_of_up(settings: Settings) -> str | None:
    """The API token ``ticketcore up`` wrote beside the accounts it created, if readable."""
    try:
        return (settings.data_dir / API_TOKEN_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def refusal(response: Any, method: str, url: str, path: str) -> str:
    """What went wrong, for one line: the server's reason, or what a 404 without one and a
    401 mean (the wrong address, the wrong token)."""
    detail = _detail(response)
    if response.status_code == 404 and not _our_refusal(response):
        return (f"{url} has no {method} {path.split('?')[0]} (404): it is not the address "
                "of the billing service or of the public origin in front of the services "
                "(--url, TICKETCORE_API_URL, TICKETCORE_HTTP__PUBLIC_URL)")
    if response.status_code == 401:
        return (f"refused (401): the API token is not a technician's (--token, "
                f"TICKETCORE_API_TOKEN): {detail}")
    return f"refused ({response.status_code}): {detail}"


def _our_refusal(response: Any) -> bool:
    """True if a 404 came from a rule (an unknown ticket or invoice names its code), not
    from a server that has no such route."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    return isinstance(detail, dict) and "code" in detail


def _detail(response: Any) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return str(response.text)
    if isinstance(detail, dict):
        return str(detail.get("message", detail))
    if isinstance(detail, list) and all(isinstance(d, dict) for d in detail):
        # FastAPI's validation errors: name the field, e.g. "start: Input should be ..."
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', ())[1:])}: "
                         f"{d.get('msg', '')}" for d in detail)
    return json.dumps(detail, ensure_ascii=False) if not isinstance(detail, str) else detail


def _invoice(args: argparse.Namespace) -> int:
    return _call(args, "POST", f"/api/tickets/{args.case_number}/invoice")


def _time_log(args: argparse.Namespace) -> int:
    body = {"start": args.start, "end": args.end, "kind": args.kind, "note": args.note}
    if args.entry_id:
        body["entry_id"] = args.entry_id
    return _call(args, "POST", f"/api/tickets/{args.case_number}/time", body)


def _time_void(args: argparse.Namespace) -> int:
    return _call(args, "POST", f"/api/tickets/{args.case_number}/time/{args.entry_id}/void",
                 {"reason": args.reason})
