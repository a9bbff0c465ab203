"""Runs the ack service (settings from the environment) and kills its own process with
``os._exit`` when a receipt send reaches the step named on the command line: a real crash,
no clean-up, no ack, no nak."""

from __future__ import annotations

import asyncio
import os
import sys

from services.ack.service import AckService
from shared.app import running_system
from shared.settings import load_settings

CRASH_EXIT_CODE = 17


async def main(crash_at: str) -> None:
    async with running_system(load_settings(), ("ack",)) as system:
        service = system.services[0]
        assert isinstance(service, AckService)

        async def crash(step: str) -> None:
            if step == crash_at:
                os._exit(CRASH_EXIT_CODE)

        service.set_step_hook(crash)
        print("ready", flush=True)
        await asyncio.sleep(60)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
