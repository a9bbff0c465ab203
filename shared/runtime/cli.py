"""The ``ticketcore`` command. Core commands live here; services and tools add theirs
through the registry (shared.runtime.registry: entry points ``ticketcore.commands``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import msgspec

from shared.runtime import backupcli, eventloop, eventschemas, natscli, proxy, registry
from shared.runtime.connection import NatsUnavailable
from shared.settings import ConfigurationError, Settings, load_settings

# What `ticketcore --help` tells its users (the docstring above is for developers).
DESCRIPTION = """Run and operate ticketcore, the support-ticket system.

`ticketcore up` starts everything on this machine. The other commands find a running
system through the same settings as the services (TICKETCORE_HTTP__PORT,
TICKETCORE_HTTP__PUBLIC_URL, TICKETCORE_NATS__URL, ...; `ticketcore settings` lists them all),
so they work against `ticketcore up` without any extra setup."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except ConfigurationError as error:
        print(f"ticketcore: {error}", file=sys.stderr)
        return 2
    except (SystemNotFound, NatsUnavailable) as error:
        print(f"ticketcore: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`ticketcore nats env | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


UP_HELP = """Start everything on this machine: an embedded nats-server (JetStream in the
data folder), all four services (intake, ack, oncall, billing) and one HTTP port.

The quick start. On its first start it creates what it needs in the data folder
(TICKETCORE_DATA_DIR): random secrets, the NATS users' passwords and a technician account
`admin` whose password it prints once. Without an SMTP server (TICKETCORE_SMTP__HOST)
mails go to a local mail catcher shown on /outbox, and invoices name an example seller;
the banner lists these development defaults. Ctrl-C (or SIGTERM) stops it."""

SERVE_HELP = """Run one service in production, for operators who scale each service on
its own: it connects to the NATS server or cluster of TICKETCORE_NATS__URL as its NATS user
(TICKETCORE_NATS__USER, TICKETCORE_NATS__PASSWORD) and serves its HTTP routes on
TICKETCORE_HTTP__PORT.

It refuses to start while a secret it needs is missing or while it would fall back to a
development default (the mail catcher, the example seller, no technician account), naming
each setting, and gives up when NATS does not take the connection within
TICKETCORE_NATS__CONNECT_TIMEOUT_S, naming the cause. SIGTERM stops it within 10 s."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketcore", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(title="commands")
    up = commands.add_parser("up", help="run everything: embedded NATS and all services",
                             description=UP_HELP,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    up.set_defaults(run=_up)
    serve = commands.add_parser("serve", help="run one service (for separate scaling)",
                                description=SERVE_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("service", choices=registry.service_names(),
                       help="the service to run")
    serve.set_defaults(run=_serve)
    settings_doc = commands.add_parser("settings", help="print every setting as a table")
    settings_doc.add_argument("--update-readme", metavar="README",
                              help="write the table into this README instead")
    settings_doc.set_defaults(run=_settings_table)
    _register_events(commands)
    _register_ticket(commands)
    _register_accounts(commands)
    _register_customer(commands)
    natscli.register(commands)
    proxy.register(commands)
    backupcli.register(commands)
    registry.register_commands(commands)
    return parser


def settings_from_env(service: str | None = None, *, command: bool = True) -> Settings:
    """The settings, with logging set up as they say (``service``: the one this process
    runs, named on every log line). A command (not ``up`` or ``serve``) logs its warnings
    only: its output is what it prints, not the connection's progress."""
    from shared.runtime.logs import configure_logging

    settings = load_settings()
    level = settings.log_level
    if command and level in ("DEBUG", "INFO") and not _log_level_chosen():
        level = "WARNING"
    configure_logging(level, settings.log_format, service=service)
    return settings


def _log_level_chosen() -> bool:
    return "TICKETCORE_LOG_LEVEL" in os.environ


def run_async(coroutine_factory: Callable[[], Any]) -> int:
    return int(eventloop.run(coroutine_factory()) or 0)


def _up(args: argparse.Namespace) -> int:
    from shared.runtime.accounts import API_TOKEN_FILE, ensure_first_account
    from shared.runtime.production import banner_notes
    from shared.runtime.secrets import ensure_secrets
    from shared.runtime.serving import require_free_ports, say, serve_forever

    settings = settings_from_env(command=False)
    names = registry.service_names()
    # Before anything is created: a busy port must not leave half a first start behind.
    require_free_ports(_listening_ports(settings, names, embedded=True))
    settings = ensure_secrets(settings)
    if settings.accounts_file is None:
        # Quick start: a first technician account, so the console can be tried at once.
        accounts_file = settings.data_dir / "accounts.toml"
        password = ensure_first_account(accounts_file)
        settings = settings.model_copy(update={"accounts_file": accounts_file})
        if password:
            say(settings.log_format, f"created technician account 'admin' with password "
                f"{password} (shown once; API token in "
                f"{accounts_file.parent / API_TOKEN_FILE})")
    notes = banner_notes(settings, names)
    return run_async(lambda: serve_forever(settings, names, embedded_ok=True, notes=notes))


def _serve(args: argparse.Namespace) -> int:
    from shared.runtime.production import require_production_settings
    from shared.runtime.proxy import require_public_origin
    from shared.runtime.secrets import secret_problems
    from shared.runtime.serving import require_free_ports, serve_forever

    settings = settings_from_env(service=args.service, command=False)
    names = (args.service,)
    if settings.nats.url is None:
        raise ConfigurationError("TICKETCORE_NATS__URL: required by `serve` (a service run "
                                 "alone connects to a shared NATS server; `up` embeds one)")
    problems = [*secret_problems(settings, names),
                *require_production_settings(settings, names)]
    try:
        require_public_origin(settings)
    except ConfigurationError as missing:
        problems.append(str(missing))
    if problems:
        raise ConfigurationError("refusing to start:\n  " + "\n  ".join(problems))
    require_free_ports(_listening_ports(settings, names, embedded=False))
    return run_async(lambda: serve_forever(settings, names, embedded_ok=False))


def _listening_ports(settings: Settings, names: tuple[str, ...], *, embedded: bool
                     ) -> dict[str, tuple[str, int]]:
    """The ports the process will listen on, by setting."""
    ports = {"TICKETCORE_HTTP__PORT": (settings.http.host, settings.http.port)}
    if embedded and settings.nats.url is None:
        ports["TICKETCORE_NATS__EMBEDDED_PORT"] = ("127.0.0.1", settings.nats.embedded_port)
    if "intake" in names:
        mail = settings.inbound_mail
        ports["TICKETCORE_INBOUND_MAIL__SMTP_PORT"] = (mail.smtp_host, mail.smtp_port)
        ports["TICKETCORE_INBOUND_MAIL__LMTP_PORT"] = (mail.smtp_host, mail.lmtp_port)
    return ports


def _settings_table(args: argparse.Namespace) -> int:
    from pathlib import Path

    from shared.settings.docs import settings_table
    from shared.settings.readme import update_readme

    if args.update_readme:
        update_readme(Path(args.update_readme))
    else:
        print(settings_table())
    return 0


# -- events ------------------------------------------------------------------------------

def _register_events(commands: argparse._SubParsersAction) -> None:
    events = commands.add_parser("events", help="event contracts and the live event feed")
    sub = events.add_subparsers(title="events commands")
    schema = sub.add_parser("schema", help="print the JSON Schema of every event")
    schema.set_defaults(run=lambda a: _print_json(__import__(
        "shared.domain.events", fromlist=["event_json_schema"]).event_json_schema()))
    eventschemas.register(sub)
    asyncapi = sub.add_parser("asyncapi", help="print the AsyncAPI 3.0 document")
    asyncapi.set_defaults(run=lambda a: _print_json(__import__(
        "shared.domain.events.asyncapi", fromlist=["asyncapi_document"]).asyncapi_document()))
    tail = sub.add_parser("tail", help="print events as JSON lines, live")
    tail.add_argument("--type", action="append", dest="types",
                      help="only this event type (repeatable)")
    tail.add_argument("--from-start", action="store_true", help="replay history first")
    tail.set_defaults(run=_tail)


def _print_json(value: Any) -> int:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))
    return 0


def event_line(recorded: Any) -> str:
    """One event as one JSON line, for integrators and operators."""
    return json.dumps({
        "seq": recorded.seq, "ticket": recorded.ticket_id, "id": recorded.event_id,
        "type": recorded.type_name,
        "recorded_at": recorded.recorded_at.isoformat() if recorded.recorded_at else None,
        "event": msgspec.to_builtins(recorded.event),
    }, ensure_ascii=False, default=str)


def _tail(args: argparse.Namespace) -> int:
    settings = settings_from_env()

    async def tail() -> None:
        runtime = await connect_for_command(settings)
        info = await runtime.js.stream_info("TICKETS")
        start = 1 if args.from_start else info.state.last_seq + 1
        async for recorded in runtime.store.replay(start, until_end=False):
            if args.types and recorded.type_name not in args.types:
                continue
            print(event_line(recorded), flush=True)

    return run_async(tail)


def _require_url(settings: Settings) -> str:
    if settings.nats.url:
        return settings.nats.url
    return f"nats://127.0.0.1:{settings.nats.embedded_port}"


def _as_operator_of_up(settings: Settings) -> Settings:
    """A command run beside ``ticketcore up`` (no NATS URL, no user configured) connects
    to its embedded server as ``admin``, with the password ``up`` generated into the data
    dir: whoever can read that file runs the system anyway."""
    from shared.runtime.app import as_user
    from shared.runtime.credentials import ADMIN
    from shared.runtime.natsconfig import PASSWORDS_FILE

    passwords = settings.data_dir / PASSWORDS_FILE
    if settings.nats.url or settings.nats.user or not passwords.exists():
        return settings
    return as_user(settings, ADMIN, json.loads(passwords.read_text())[ADMIN])


class SystemNotFound(Exception):
    """No NATS server took the command's connection (one line for the user)."""


async def connect_for_command(settings: Settings) -> Any:
    """The runtime for a command, or :class:`SystemNotFound` naming the cause within the
    connect timeout. The services reconnect forever once running; a command must not."""
    from shared.runtime.runtime import connect

    url = _require_url(settings)
    settings = _as_operator_of_up(settings)
    try:
        return await connect(settings, url, name="ticketcore-cli")
    except NatsUnavailable as error:
        raise SystemNotFound(f"{error}{_beside_up_hint(settings, str(error))}") from None


def _beside_up_hint(settings: Settings, message: str) -> str:
    """Where a command beside ``ticketcore up`` most likely went wrong."""
    if settings.nats.url is not None:
        return ""
    if "no NATS user given" in message:
        return (f"; run the command in the folder of `ticketcore up` (its data folder "
                f"{settings.data_dir} holds the NATS passwords; TICKETCORE_DATA_DIR)")
    if "connection refused" in message:
        return "; is `ticketcore up` running?"
    return ""


# -- ticket ------------------------------------------------------------------------------

def _register_ticket(commands: argparse._SubParsersAction) -> None:
    ticket = commands.add_parser("ticket", help="look at one ticket")
    sub = ticket.add_subparsers(title="ticket commands")
    show = sub.add_parser("show", help="print a ticket (state and events) as one JSON document")
    show.add_argument("ticket_id", help="the case number")
    show.add_argument("--as-of", metavar="TIME",
                      help="the ticket as it was then (ISO 8601 with offset), from the log")
    show.set_defaults(run=_show_ticket)


def _show_ticket(args: argparse.Namespace) -> int:
    from shared.adapters.eventstore import TicketHistory

    settings = settings_from_env()
    as_of = _parse_as_of(args.as_of) if args.as_of else None

    async def show() -> int:
        runtime = await connect_for_command(settings)
        try:
            history = await runtime.store.load(args.ticket_id)
        except ValueError as error:
            print(f"ticketcore: {error}", file=sys.stderr)
            return 1
        finally:
            await runtime.close()
        if as_of is not None:  # what was recorded by then: the log keeps every step
            history = TicketHistory(args.ticket_id, [
                e for e in history.events if e.recorded_at and e.recorded_at <= as_of])
        if not history.events:
            when = f" as of {args.as_of}" if as_of else ""
            print(f"ticketcore: no ticket {args.ticket_id}{when}", file=sys.stderr)
            return 1
        print(json.dumps(ticket_document(history, settings, as_of), indent=2,
                         ensure_ascii=False, default=str))
        return 0

    return run_async(show)


def _parse_as_of(value: str) -> Any:
    from shared.domain.calendar import NotAnInstant, parse_instant

    try:
        return parse_instant(value)
    except NotAnInstant as error:
        raise ConfigurationError(f"--as-of: {error}; e.g. 2026-11-27T17:00:00+01:00") from None


def ticket_document(history: Any, settings: Settings, as_of: Any = None) -> dict[str, Any]:
    """One ticket as one JSON document: its state and the events that made it."""
    from shared.domain.pricing import running_total

    state = history.state
    return {"ticket": history.ticket_id, "as_of": as_of.isoformat() if as_of else None,
            "version": history.version, "status": state.status,
            "running_total": running_total(state, settings.billing.tariff(),
                                           settings.billing.calendar()).to_json(),
            "state": msgspec.to_builtins(state),
            "events": [json.loads(event_line(recorded)) for recorded in history.events]}


# -- customer ----------------------------------------------------------------------------

def _register_customer(commands: argparse._SubParsersAction) -> None:
    customer = commands.add_parser("customer", help="customer data protection")
    sub = customer.add_subparsers(title="customer commands")
    erase = sub.add_parser("erase", help="make a customer's personal data unreadable "
                                         "everywhere, including the log")
    target = erase.add_mutually_exclusive_group(required=True)
    target.add_argument("--email", help="every ticket of the contact with this address")
    target.add_argument("--ticket", help="one ticket (case number)")
    erase.add_argument("--by", required=True, help="who asked for it (recorded)")
    erase.add_argument("--reason", default="", help="e.g. the request's reference")
    erase.set_defaults(run=_erase)


def _erase(args: argparse.Namespace) -> int:
    from shared.adapters.mailcatcher import erase_from_outbox, outbox_dir
    from shared.application.erasure import erase_ticket, tickets_of_customer

    settings = settings_from_env()

    async def erase() -> int:
        runtime = await connect_for_command(settings)
        try:
            tickets = ([args.ticket] if args.ticket
                       else await tickets_of_customer(runtime.store, args.email))
            erased = [t for t in tickets
                      if await erase_ticket(
                          runtime.store, t, by=args.by, reason=args.reason,
                          attachments_bucket=settings.inbound_mail.attachments_bucket)]
            # The local mail catcher's copies (only where `up` runs without SMTP).
            for ticket in erased:
                erase_from_outbox(outbox_dir(settings.data_dir), ticket)
        finally:
            await runtime.close()
        print(json.dumps({"erased_tickets": erased}))
        return 0 if erased else 1

    return run_async(erase)


# -- accounts ----------------------------------------------------------------------------

def _register_accounts(commands: argparse._SubParsersAction) -> None:
    accounts = commands.add_parser("accounts", help="technician account helpers")
    sub = accounts.add_subparsers(title="accounts commands")
    hash_pw = sub.add_parser("hash-password", help="hash a password (read from stdin)")
    hash_pw.set_defaults(run=_hash_password)
    token = sub.add_parser("new-token", help="make an API token and its hash")
    token.set_defaults(run=_new_token)


def _hash_password(args: argparse.Namespace) -> int:
    from shared.runtime.accounts import hash_password

    password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("ticketcore: give the password on standard input", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def _new_token(args: argparse.Namespace) -> int:
    from shared.runtime.accounts import new_token

    token, token_hash = new_token()
    print(f"token (give to the script, shown once): {token}")
    print(f"token_hashes entry for the accounts file: {token_hash}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
