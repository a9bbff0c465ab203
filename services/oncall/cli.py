"""``ticketcore oncall ...``: look at the rota without a running system."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from services.oncall.rota import RotaError, on_call_report, rota_from_settings
from shared.domain.calendar import parse_instant
from shared.runtime.accounts import AccountStore


def register(commands: argparse._SubParsersAction) -> None:
    oncall = commands.add_parser("oncall", help="the on-call rota")
    sub = oncall.add_subparsers(title="oncall commands")
    now = sub.add_parser("now", help="who is on call (now or --at), and rota gaps")
    now.add_argument("--at", help="ISO 8601 time with offset, e.g. 2026-11-29T03:00+01:00")
    now.add_argument("--json", action="store_true", help="print JSON")
    now.set_defaults(run=_on_call_now)
    check = sub.add_parser("check", help="check the rota file; exit 1 if it has gaps")
    check.set_defaults(run=_check)
    deadline = sub.add_parser(
        "deadline", help="the SLA deadline of a request given as JSON (FILE or - for stdin)",
        description="Reads {\"submitted_at\": \"2026-11-27T17:00:00+01:00\", \"priority\": "
        "false, \"state\": \"BY\", \"company_holidays\": [\"2026-12-24\"], "
        "\"reaction_minutes\": 240, \"accepted_at\": \"...\"} (all but the first two "
        "optional); prints {\"deadline\": ..., \"clock\": \"first_response\" | "
        "\"reaction\"}. Same calendar as the oncall service.")
    deadline.add_argument("file", help="JSON request, '-' for standard input")
    deadline.set_defaults(run=_deadline)


def _parse_at(value: str | None) -> datetime:
    return datetime.now(UTC) if value is None else parse_instant(value)


def _report(args: argparse.Namespace) -> dict[str, object] | None:
    from shared.runtime.cli import settings_from_env

    settings = settings_from_env()
    try:
        at = _parse_at(getattr(args, "at", None))
    except ValueError as error:
        print(f"ticketcore: --at: {error}", file=sys.stderr)
        return None
    try:
        rota = rota_from_settings(settings, AccountStore.from_file(settings.accounts_file))
    except RotaError as error:
        print(f"ticketcore: {error}", file=sys.stderr)
        return None
    return on_call_report(rota, at, settings.oncall.rota_check_weeks)


def _on_call_now(args: argparse.Namespace) -> int:
    report = _report(args)
    if report is None:
        return 2
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"on call at {report['at']}:")
    for entry in report["levels"]:  # type: ignore[attr-defined]
        person = entry["person"]
        who = f"{person['name']} <{person['email']}> ({person['id']})" if person else "NOBODY"
        print(f"  level {entry['level']}: {who}")
    if report["default_rota"]:
        print("  (no rota file configured: TICKETCORE_ONCALL__ROTA_FILE)")
    for gap in report["gaps"]:  # type: ignore[attr-defined]
        print(f"  gap: {gap['description']}")
    return 0


def _check(args: argparse.Namespace) -> int:
    report = _report(args)
    if report is None:
        return 2
    gaps = report["gaps"]
    for gap in gaps:  # type: ignore[attr-defined]
        print(f"gap: {gap['description']}")
    if not gaps:
        print("rota ok: no gaps in the weeks checked")
    return 1 if gaps else 0


def _deadline(args: argparse.Namespace) -> int:
    from services.oncall.deadline import DeadlineInputError, deadline_of

    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as file:
                text = file.read()
        answer = deadline_of(text)
    except (DeadlineInputError, OSError) as error:
        print(f"ticketcore: oncall deadline: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0
