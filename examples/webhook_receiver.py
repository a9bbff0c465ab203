"""A webhook receiver for ticketcore's pages, as an integrator would write one.

Standard library only. It accepts a delivery only when

1. the signature ``X-Ticketcore-Signature: v2=<hex>`` is HMAC-SHA256 with the shared
   secret over ``v2.<timestamp>.<event id>.<body>`` (compared in constant time); while
   ticketcore's secret changes the header holds two, ``v2=<hex>,v2=<hex>``, and one made
   with this receiver's secret suffices,
2. the timestamp ``X-Ticketcore-Timestamp`` is within ``WINDOW_S`` of the receiver's clock
   (an old delivery, replayed later, is refused), and
3. the event id ``X-Ticketcore-Event-Id`` was not handled before: a retry (ticketcore sends
   the same id again when an answer got lost) or a replay within the window is answered
   200 but not acted on twice. Ids are remembered for twice the window: anything older is
   refused by rule 2 anyway.

Run it::

    TICKETCORE_WEBHOOK_SECRET=... python examples/webhook_receiver.py --port 9000

and set ``TICKETCORE_ONCALL__WEBHOOK_URL=http://<host>:9000/hook``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WINDOW_S = 300
MAX_BODY = 1_000_000


def expected_signature(secret: str, timestamp: str, event_id: str, body: bytes) -> str:
    message = b".".join([b"v2", timestamp.encode(), event_id.encode(), body])
    return "v2=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class SeenEvents:
    """Event ids handled within the last ``keep_s`` seconds (thread-safe)."""

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, event_id: str, now: float) -> bool:
        with self._lock:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self.keep_s}
            if event_id in self._seen:
                return False
            self._seen[event_id] = now
            return True


class Receiver:
    """Checks deliveries and hands each genuine, new event to ``handle`` once."""

    def __init__(self, secret: str, handle: Callable[[dict[str, Any]], None],
                 window_s: float = WINDOW_S, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.handle = handle
        self.window_s = window_s
        self.clock = clock
        self.seen = SeenEvents(2 * window_s)

    def check(self, headers: Any, body: bytes) -> tuple[int, str]:
        """(HTTP status, reason) for one delivery; acts on it when it is new."""
        timestamp = headers.get("X-Ticketcore-Timestamp", "")
        event_id = headers.get("X-Ticketcore-Event-Id", "")
        signature = headers.get("X-Ticketcore-Signature", "")
        expected = expected_signature(self.secret, timestamp, event_id, body).encode()
        # During a change of the secret the header holds two signatures, comma-separated:
        # one made with the secret this receiver holds is enough.
        if not any(hmac.compare_digest(expected, one.strip().encode("utf-8", "replace"))
                   for one in signature.split(",")):
            return 401, "bad signature"
        try:
            age = abs(self.clock() - int(timestamp))
        except ValueError:
            return 401, "bad timestamp"
        if age > self.window_s:
            return 401, "outside the replay window"
        if not self.seen.first_time(event_id, self.clock()):
            return 200, "duplicate, ignored"
        self.handle(json.loads(body))
        return 200, "accepted"

    def server(self, host: str, port: int) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.path != "/hook" or length > MAX_BODY:
                    self.send_error(404 if self.path != "/hook" else 413)
                    return
                status, reason = receiver.check(self.headers, self.rfile.read(length))
                data = json.dumps({"result": reason}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    secret = os.environ["TICKETCORE_WEBHOOK_SECRET"]

    def show(event: dict[str, Any]) -> None:
        print(f"page {event.get('case_number')}: {event.get('technician')} "
              f"(level {event.get('level')})", flush=True)

    Receiver(secret, show).server(args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()
