"""Reading stored messages by JetStream's direct get API: one message, many by stream
sequence, or a batch by subject. Any replica of the stream may answer."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from shared.adapters.snapshots import StoredMessage, kept_headers

DIRECT_GET_BATCH = 256


class DirectGets:
    """Direct gets on one stream."""

    def __init__(self, nc: NatsClient, stream: str, timeout_s: float) -> None:
        self.nc = nc
        self.stream = stream
        self.timeout_s = timeout_s
        self.api = f"$JS.API.DIRECT.GET.{stream}"

    async def one(self, request: dict[str, Any]) -> Msg | None:
        """One message by a direct get (None: there is none)."""
        reply = await self.nc.request(self.api, json.dumps(request).encode(),
                                      timeout=self.timeout_s)
        if (reply.headers or {}).get("Status"):
            return None
        return reply

    async def last_sequence(self, subject: str) -> int | None:
        """Stream sequence of the last message on ``subject`` (wildcards allowed)."""
        last = await self.one({"last_by_subj": subject})
        return int(last.headers["Nats-Sequence"]) if last is not None else None  # type: ignore[index]

    async def by_sequences(self, sequences: list[int]) -> list[Msg | None]:
        """Many messages by sequence: every request in flight at once on one subscription
        (a future per request would cost more than the server's answer)."""
        if not sequences:
            return []
        inbox = self.nc.new_inbox()
        found: list[Msg | None] = [None] * len(sequences)
        answered = 0
        complete = asyncio.Event()

        async def arrive(msg: Msg) -> None:
            nonlocal answered
            if not (msg.headers or {}).get("Status"):
                found[int(msg.subject.rsplit(".", 1)[1])] = msg
            answered += 1
            if answered == len(sequences):
                complete.set()

        sub = await self.nc.subscribe(f"{inbox}.*", cb=arrive)
        try:
            for index, seq in enumerate(sequences):
                await self.nc.publish(self.api, b'{"seq":%d}' % seq, reply=f"{inbox}.{index}")
            await asyncio.wait_for(complete.wait(), self.timeout_s)
        finally:
            await sub.unsubscribe()
        return found

    async def batch_by_subject(self, subject: str, start_seq: int) -> tuple[list[Msg], bool]:
        """Up to DIRECT_GET_BATCH messages on ``subject`` from ``start_seq`` on, and whether
        more are left."""
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        request = {"batch": DIRECT_GET_BATCH, "next_by_subj": subject, "seq": start_seq}
        try:
            await self.nc.publish(self.api, json.dumps(request).encode(), reply=inbox)
            found: list[Msg] = []
            while True:
                msg = await sub.next_msg(timeout=self.timeout_s)
                status = (msg.headers or {}).get("Status")
                if status is None:
                    found.append(msg)
                    continue
                # 204 EOB ends a batch; 404 means no (more) messages for the subject.
                pending = int((msg.headers or {}).get("Nats-Num-Pending", "0") or 0)
                return found, status == "204" and pending > 0
        finally:
            await sub.unsubscribe()


def stored(msg: Msg) -> StoredMessage:
    """A direct get's answer as the stored message it carries."""
    headers = msg.headers or {}
    return StoredMessage(int(headers["Nats-Sequence"]), headers["Nats-Subject"],
                         headers.get("Nats-Time-Stamp"), kept_headers(headers), msg.data)


def parse_time(value: str | None) -> datetime | None:
    """A direct get's time stamp (RFC 3339, nanoseconds) as a datetime."""
    if not value:
        return None
    # Nanosecond precision: keep microseconds for datetime.
    match = re.match(r"^(.*?T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-].*)$", value)
    if not match:
        return None
    base, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7]
    zone = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{base}{fraction}{zone}")
