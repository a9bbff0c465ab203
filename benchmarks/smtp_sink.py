"""A local SMTP sink for the pipeline benchmark, run as its own process.

Prints one line per accepted receipt: ``<case number> <unix time accepted>``, so the load
generator can match receipts to submissions by the case number in the subject.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

CASE_IN_SUBJECT = re.compile(rb"^Subject:.*?\[SA#(\d+)\]", re.MULTILINE | re.IGNORECASE)


class ReceiptSink:
    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        accepted = time.time()
        found = CASE_IN_SUBJECT.search(envelope.original_content or b"")
        if found:
            sys.stdout.write(f"{found.group(1).decode()} {accepted:.6f}\n")
            sys.stdout.flush()
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    controller = Controller(ReceiptSink(), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()  # runs until the benchmark closes our standard input
    controller.stop()


if __name__ == "__main__":
    main()
