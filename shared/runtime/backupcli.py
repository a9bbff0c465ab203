"""``ticketcore backup DIR`` and ``ticketcore restore DIR``: every stream, KV bucket and
object store of the system, copied while it runs and loaded into an empty server or cluster
with any number of replicas (shared.adapters.streambackup does the copying).

Each stream's copy is consistent in itself (the server's snapshot at one point of its
history). Across streams the log ``TICKETS`` is copied first and everything else after it:
case numbers, invoice numbers, data keys and files are all taken *before* the event that
uses them is appended, so every event in the copied log finds its number, key and file in
the copies made after it. What the later copies may hold beyond the log (a number taken,
a claim made, for an event appended after the log's copy) is what a crash at that moment
leaves too, and the services recover from it as they do from a crash (docs/operations.md).

A backup folder holds ``manifest.json`` (written last: a folder without it is incomplete)
and one folder per stream under ``streams/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats.errors
from nats.aio.client import Client as NatsClient

from shared.adapters.eventstore import STREAM
from shared.adapters.streambackup import (
    BackupError,
    StreamCopy,
    restore_stream,
    snapshot_stream,
    stream_names,
    verify_copy,
)
from shared.settings import ConfigurationError

MANIFEST = "manifest.json"
FORMAT = "ticketcore-backup-1"
READY_WAIT_S = 30.0  # a cluster just started elects its JetStream meta leader first


def register(commands: argparse._SubParsersAction) -> None:
    backup = commands.add_parser(
        "backup", help="copy every stream, bucket and object store into a folder, while "
        "the system runs (as the NATS admin user)",
        description="Copy every JetStream stream, KV bucket and object store of the system "
        "(the log first) into DIR, each consistent in itself, while the services run. "
        "Connects like every command (TICKETCORE_NATS__URL, as admin).")
    backup.add_argument("folder", metavar="DIR", help="a new or empty folder")
    backup.set_defaults(run=_backup)
    restore = commands.add_parser(
        "restore", help="load a backup into an empty NATS server or cluster",
        description="Load a backup made by `ticketcore backup` into a NATS server or "
        "cluster that has none of its streams yet, with --replicas replicas each. Start "
        "the services afterwards.")
    restore.add_argument("folder", metavar="DIR", help="the backup folder")
    restore.add_argument("--replicas", type=int, choices=range(1, 6), metavar="N",
                         help="replicas of every stream (default: TICKETCORE_NATS__REPLICAS)")
    restore.set_defaults(run=_restore)


def _backup(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if folder.exists() and any(folder.iterdir()):
        raise ConfigurationError(f"{folder}: not empty; give a new or empty folder")
    return _with_connection(lambda nc: backup(nc, folder))


def _restore(args: argparse.Namespace) -> int:
    from shared.runtime.cli import settings_from_env

    replicas = args.replicas or settings_from_env().nats.replicas
    return _with_connection(lambda nc: restore(nc, Path(args.folder), replicas))


def _with_connection(work: Any) -> int:
    from shared.runtime.cli import connect_for_command, run_async, settings_from_env

    settings = settings_from_env()

    async def run() -> int:
        runtime = await connect_for_command(settings)
        try:
            summary = await work(runtime.nc)
        except BackupError as error:
            raise ConfigurationError(str(error)) from None
        finally:
            await runtime.close()
        print(json.dumps(summary, indent=2))
        return 0

    return run_async(run)


async def backup(nc: NatsClient, folder: Path) -> dict[str, Any]:
    """Copy every stream into ``folder`` (the log first); the manifest last."""
    names = await _ready_stream_names(nc)
    ordered = [STREAM, *sorted(n for n in names if n != STREAM)] if STREAM in names \
        else sorted(names)
    folder.mkdir(parents=True, exist_ok=True)
    copies: list[StreamCopy] = []
    for name in ordered:
        copies.append(await snapshot_stream(nc, name, folder / "streams" / name))
    manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(),
                "streams": [copy.to_json() for copy in copies]}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return {"backup": str(folder), "streams": {c.name: c.messages for c in copies}}


def read_manifest(folder: Path) -> list[StreamCopy]:
    """The streams of a complete backup, in the order they were copied."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"{folder}: no {MANIFEST}: not a backup, or one that did "
                                 "not finish") from None
    if manifest.get("format") != FORMAT:
        raise ConfigurationError(f"{folder}: unknown backup format {manifest.get('format')!r}")
    return [StreamCopy(**entry) for entry in manifest["streams"]]


async def restore(nc: NatsClient, folder: Path, replicas: int) -> dict[str, Any]:
    """Load every stream of the backup into a server that has none of them yet."""
    copies = read_manifest(folder)
    for copy in copies:
        verify_copy(folder / "streams" / copy.name, copy)
    present = set(await _ready_stream_names(nc)) & {copy.name for copy in copies}
    if present:
        raise ConfigurationError(
            f"the server already has {', '.join(sorted(present))}: restore loads into a "
            "server or cluster without them (nothing was restored)")
    for copy in copies:
        state = await restore_stream(nc, folder / "streams" / copy.name, replicas=replicas)
        if (int(state.get("messages", -1)), int(state.get("last_seq", -1))) != (
                copy.messages, copy.last_seq):
            raise BackupError(f"{copy.name}: restored {state.get('messages')} messages up "
                              f"to {state.get('last_seq')}, the backup holds {copy.messages} "
                              f"up to {copy.last_seq}")
    return {"restored": str(folder), "replicas": replicas,
            "streams": {c.name: c.messages for c in copies}}


async def _ready_stream_names(nc: NatsClient) -> list[str]:
    """The account's streams, once JetStream answers (a new cluster elects its leader)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_WAIT_S
    while True:
        try:
            return await stream_names(nc, timeout_s=2.0)
        except (TimeoutError, nats.errors.Error, BackupError) as error:
            if loop.time() > deadline:
                raise BackupError(f"JetStream did not answer within {READY_WAIT_S:g} s "
                                  f"({error!r})") from None
            await asyncio.sleep(0.5)
