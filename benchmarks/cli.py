"""``ticketcore bench ...``: benchmarks that print figures (the last line is one JSON object)."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable
from typing import Any

from benchmarks.common import machine, report, say
from shared.runtime import eventloop


def register(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="benchmarks: throughput, latency, replay")
    sub = bench.add_subparsers(title="benchmarks")

    _benchmark(sub, "replay", "rebuild every ticket from a log of N events", _replay,
               events=True)
    load = _benchmark(sub, "load-ticket", "time to load a 50-event ticket from a big log",
                      _load_ticket, events=True)
    load.add_argument("--loads", type=int, default=300, help="how many loads to time")
    _benchmark(sub, "memory", "each service's RSS with a log of N events", _memory,
               events=True)
    raw_limits = _benchmark(sub, "raw", "the raw JetStream limits of this machine", _raw)
    raw_limits.add_argument("--publishes", type=int, default=5000)
    raw_limits.add_argument("--tickets", type=int, default=2000)
    pipeline = _benchmark(sub, "pipeline", "end to end: HTTP submit to receipt accepted",
                          _pipeline)
    pipeline.add_argument("--tickets", type=int, default=3000,
                          help="requests for the throughput phase")
    pipeline.add_argument("--rate", type=float, default=300.0,
                          help="offered requests per second for the latency phase")
    pipeline.add_argument("--duration", type=float, default=10.0,
                          help="seconds of the latency phase")
    pipeline.add_argument("--sweep", default="",
                          help="comma-separated offered rates: latency at each, e.g. 50,100,300")
    pipeline.add_argument("--plot", default="", help="write a PNG of latency against load here")
    pipeline.add_argument("--layout", choices=("one", "split"), default="one",
                          help="one: `ticketcore up` (all services in one process); split: "
                               "each service its own process (`ticketcore serve`)")
    pipeline.add_argument("--intake-replicas", type=int, default=2,
                          help="intake processes in the split layout")
    pipeline.add_argument("--idempotency-keys", action="store_true",
                          help="send an Idempotency-Key with every request (one more write)")


def _benchmark(sub: argparse._SubParsersAction, name: str, help_text: str,
               run: Callable[[argparse.Namespace], int], *, events: bool = False
               ) -> argparse.ArgumentParser:
    """One ``ticketcore bench <name>`` with the options every benchmark has."""
    parser = sub.add_parser(name, help=help_text)
    if events:
        parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sync", choices=("always", "default"), default="always",
                        help="nats-server sync_interval: always (fsync before ack, as in "
                             "production) or the server's default (fsync every 2 minutes)")

    def stopping_cleanly(args: argparse.Namespace) -> int:
        _stop_cleanly_on_sigterm()
        return run(args)

    parser.set_defaults(run=stopping_cleanly)
    return parser


def _stop_cleanly_on_sigterm() -> None:
    """A benchmark stopped with SIGTERM (a timeout, ``kill``) unwinds like Ctrl-C, so its
    nats-server, services and SMTP sink are stopped instead of left running."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _finish(result: dict[str, Any]) -> int:
    result["machine"] = machine()
    report(result)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from benchmarks import replay

    return _finish(eventloop.run(replay.run(args.events, sync=args.sync)))


def _memory(args: argparse.Namespace) -> int:
    from benchmarks import memory

    return _finish(eventloop.run(memory.run(args.events, sync=args.sync)))


def _load_ticket(args: argparse.Namespace) -> int:
    from benchmarks import load_ticket

    return _finish(eventloop.run(load_ticket.run(args.events, args.loads, sync=args.sync)))


def _raw(args: argparse.Namespace) -> int:
    from benchmarks import raw

    return _finish(eventloop.run(raw.limits(args.publishes, args.tickets, sync=args.sync)))


def _pipeline(args: argparse.Namespace) -> int:
    from benchmarks import pipeline

    try:
        return _finish(pipeline.run_from_args(args))
    except pipeline.IntakeApiMissing as error:
        say(f"ticketcore bench pipeline: cannot run: {error}")
        return 2
