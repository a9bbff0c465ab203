"""Runs the ack service (settings from the environment) and kills its own process with
``os._exit`` when a receipt send reaches the step named on the command line: a real crash,
no clean-up, no ack, no nak. A second argument pauses each send that many seconds after the
SMTP server accepted the mail."""

from __future__ import annotations

import asyncio
import os
import sys

from services.ack.service import AckService
from shared.runtime.app import running_system
from shared.settings import load_settings

CRASH_EXIT_CODE = 17


async def main(crash_at: str, pause_after_accepted_s: float) -> None:
    async with running_system(load_settings(), ("ack",)) as system:
        service = system.services[0]
        assert isinstance(service, AckService)

        async def crash(step: str) -> None:
            if step == crash_at:
                os._exit(CRASH_EXIT_CODE)
            if step == "accepted":  # room for the test to append to the ticket meanwhile
                await asyncio.sleep(pause_after_accepted_s)

        service.set_step_hook(crash)
        print("ready", flush=True)
        await asyncio.sleep(60)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
