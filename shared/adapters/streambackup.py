"""Backups of JetStream streams, made and loaded by the server itself (the JetStream
snapshot API: ``$JS.API.STREAM.SNAPSHOT.<stream>`` and ``$JS.API.STREAM.RESTORE.<stream>``).

A snapshot is the stream's own store, taken at one point in the stream's history while it
keeps taking writes: every message exactly as stored (subject, headers, body, sequence
number, time stamp), its deleted sequences, and its consumers with their positions. A
restore recreates the stream from it with any number of replicas. Nothing is decoded or
re-encoded on the way, so whatever a reader checks on a stored message (signatures,
hash chains over headers and bodies, the sequences an append expects) holds afterwards.

The files per stream are those of the NATS command-line tool (``backup.json`` with the
configuration and state, ``stream.tar.s2`` with the data), so ``nats stream restore`` reads
them too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats.errors
from nats.aio.client import Client as NatsClient

log = logging.getLogger(__name__)

API = "$JS.API"
CHUNK_BYTES = 128 * 1024
META_FILE = "backup.json"
DATA_FILE = "stream.tar.s2"
STALL_S = 30.0  # no chunk for this long: the server stopped sending
RESTORE_ATTEMPTS = 25


class BackupError(Exception):
    """A snapshot or restore failed; the message names the stream and the server's reason."""


@dataclass(frozen=True)
class StreamCopy:
    """One stream's copy in a backup folder."""

    name: str
    messages: int
    first_seq: int
    last_seq: int
    data_bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


async def stream_names(nc: NatsClient, timeout_s: float = 10.0) -> list[str]:
    """Every stream of the account (KV buckets are ``KV_<bucket>``, object stores
    ``OBJ_<store>``)."""
    names: list[str] = []
    while True:
        reply = await _api(nc, f"{API}.STREAM.NAMES", {"offset": len(names)}, timeout_s)
        page = reply.get("streams") or []
        names += page
        if not page or len(names) >= int(reply.get("total", 0)):
            return names


async def snapshot_stream(nc: NatsClient, stream: str, folder: Path, *,
                          timeout_s: float = 10.0) -> StreamCopy:
    """Write ``stream``'s snapshot (with its consumers) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=False)
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, pending_msgs_limit=-1, pending_bytes_limit=-1)
    digest = hashlib.sha256()
    size = 0
    try:
        meta = await _api(nc, f"{API}.STREAM.SNAPSHOT.{stream}",
                          {"deliver_subject": inbox, "chunk_size": CHUNK_BYTES}, timeout_s)
        with open(folder / DATA_FILE, "wb") as data:
            while True:
                msg = await sub.next_msg(timeout=STALL_S)
                if not msg.data:  # the end; a status header means the server gave up
                    _check_end(stream, msg.headers)
                    break
                data.write(msg.data)
                digest.update(msg.data)
                size += len(msg.data)
                if msg.reply:  # flow control: the server waits for these
                    await nc.publish(msg.reply, b"")
    except TimeoutError:
        raise BackupError(f"{stream}: the server stopped sending the snapshot") from None
    finally:
        await sub.unsubscribe()
    (folder / META_FILE).write_text(json.dumps(
        {"config": meta["config"], "state": meta["state"]}, indent=2) + "\n")
    state = meta["state"]
    return StreamCopy(stream, int(state.get("messages", 0)), int(state.get("first_seq", 0)),
                      int(state.get("last_seq", 0)), size, digest.hexdigest())


def _check_end(stream: str, headers: dict[str, str] | None) -> None:
    status = (headers or {}).get("Status") or (headers or {}).get("Nats-Status")
    if status and not status.startswith("2"):
        description = (headers or {}).get("Description", "")
        raise BackupError(f"{stream}: the server ended the snapshot with {status} "
                          f"{description}".rstrip())


def read_copy(folder: Path) -> dict[str, Any]:
    """The configuration and state a stream's copy was taken with."""
    return dict(json.loads((folder / META_FILE).read_text()))


def verify_copy(folder: Path, expected: StreamCopy) -> None:
    """BackupError unless the data file is the one the backup wrote."""
    digest = hashlib.sha256()
    with open(folder / DATA_FILE, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected.sha256:
        raise BackupError(f"{expected.name}: {folder / DATA_FILE} is damaged (its sha256 "
                          "differs from the backup's manifest)")


async def restore_stream(nc: NatsClient, folder: Path, *, replicas: int,
                         timeout_s: float = 10.0) -> dict[str, Any]:
    """Create the stream from its copy in ``folder`` with ``replicas`` replicas; returns
    the restored stream's state (the server checks the data as it loads it)."""
    meta = read_copy(folder)
    config = dict(meta["config"])
    config["num_replicas"] = replicas
    config.pop("placement", None)  # the cluster it came from may not be this one
    name = config["name"]
    reply = await _api(nc, f"{API}.STREAM.RESTORE.{name}",
                       {"config": config, "state": meta["state"]}, timeout_s)
    target = reply["deliver_subject"]
    with open(folder / DATA_FILE, "rb") as data:
        for chunk in iter(lambda: data.read(CHUNK_BYTES), b""):
            _check_reply(name, await _send(nc, target, chunk, timeout_s))
    # Loading the data can take a while on a large stream: the server answers when done.
    done = await nc.request(target, b"", timeout=max(timeout_s, 600.0))
    answer = _check_reply(name, done)
    return dict(answer.get("state") or {})


async def _send(nc: NatsClient, target: str, chunk: bytes, timeout_s: float) -> Any:
    """One chunk of a restore. On a cluster the node that takes the chunks may announce
    its subscription a moment after the restore request was answered: ask again."""
    for _ in range(RESTORE_ATTEMPTS - 1):
        try:
            return await nc.request(target, chunk, timeout=timeout_s)
        except nats.errors.NoRespondersError:
            await asyncio.sleep(0.2)
    return await nc.request(target, chunk, timeout=timeout_s)


def _check_reply(stream: str, msg: Any) -> dict[str, Any]:
    if not msg.data:
        return {}
    try:
        answer = json.loads(msg.data)
    except ValueError:
        raise BackupError(f"{stream}: unreadable answer from the server: {msg.data[:200]!r}"
                          ) from None
    if isinstance(answer, dict) and answer.get("error"):
        raise BackupError(f"{stream}: {answer['error'].get('description', answer['error'])}")
    return answer if isinstance(answer, dict) else {}


async def _api(nc: NatsClient, subject: str, request: dict[str, Any],
               timeout_s: float) -> dict[str, Any]:
    msg = await nc.request(subject, json.dumps(request).encode(), timeout=timeout_s)
    answer = json.loads(msg.data)
    if answer.get("error"):
        stream = subject.rsplit(".", 1)[-1]
        raise BackupError(f"{stream}: {answer['error'].get('description', answer['error'])}")
    return dict(answer)
