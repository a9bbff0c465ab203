"""A local SMTP sink for the pipeline benchmark, run as its own process.

Prints one line per accepted receipt: ``<case number> <unix time accepted>``, so the load
generator can match receipts to submissions by the case number in the subject.

It speaks the part of SMTP (RFC 5321) a submitting client uses: greeting, EHLO/HELO, MAIL,
RCPT, DATA (dot-stuffed, ended by ``<CRLF>.<CRLF>``), RSET, NOOP, QUIT, over keep-alive
connections. It is written on asyncio's protocol layer instead of aiosmtpd because on the
benchmark's two shared cores every millisecond the sink spends is taken from the system
under test: measured in the pipeline benchmark, aiosmtpd used about 0.9 ms of CPU per mail.
The services' tests use aiosmtpd (tests/support.py); this sink only has to be cheap.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from typing import cast

CASE_IN_SUBJECT = re.compile(rb"^Subject:.*?\[SA#(\d+)\]", re.MULTILINE | re.IGNORECASE)
END_OF_DATA = b"\r\n.\r\n"
MAX_LINE = 4096
MAX_MESSAGE = 10 * 2**20


class SinkProtocol(asyncio.Protocol):
    """One SMTP session; commands are answered in order (pipelining works too)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.in_data = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        transport = self.transport
        transport.write(b"220 sink.localhost ESMTP ticketcore benchmark sink\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and self._step():
            pass

    def _step(self) -> bool:
        """Handle one command or one message from the buffer; False when more is needed."""
        if self.in_data:
            end = self.buffer.find(END_OF_DATA)
            if end < 0:
                if len(self.buffer) > MAX_MESSAGE:
                    self._reply(b"552 message too large")
                    self._close()
                return False
            message = bytes(self.buffer[:end + 2])
            del self.buffer[:end + len(END_OF_DATA)]
            self.in_data = False
            self._accept(message)
            return True
        end = self.buffer.find(b"\r\n")
        if end < 0:
            if len(self.buffer) > MAX_LINE:
                self._reply(b"500 line too long")
                self._close()
            return False
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 2]
        self._command(line)
        return True

    def _command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb == b"EHLO":
            self._reply(b"250-sink.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                        b"250-SIZE 10485760\r\n250 SMTPUTF8")
        elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            self._reply(b"250 OK")
        elif verb == b"DATA":
            self.in_data = True
            self._reply(b"354 end data with <CR><LF>.<CR><LF>")
        elif verb == b"QUIT":
            self._reply(b"221 bye")
            self._close()
        else:
            self._reply(b"502 command not implemented")

    def _accept(self, message: bytes) -> None:
        accepted = time.time()
        found = CASE_IN_SUBJECT.search(message)
        if found:
            sys.stdout.write(f"{found.group(1).decode()} {accepted:.6f}\n")
            sys.stdout.flush()
        self._reply(b"250 Message accepted for delivery")

    def _reply(self, text: bytes) -> None:
        assert self.transport is not None
        self.transport.write(text + b"\r\n")

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SinkProtocol, "127.0.0.1", port)
    print("ready", flush=True)
    # Runs until the benchmark closes our standard input.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


def main() -> None:
    from shared.runtime import eventloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    eventloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
