"""The intake service (to be completed)."""

from __future__ import annotations

from fastapi import APIRouter

from shared.consumer import ConsumerSpec
from shared.runtime import Runtime


class IntakeService:
    name = "intake"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def consumers(self) -> list[ConsumerSpec]:
        return []

    def router(self) -> APIRouter | None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def create_service(runtime: Runtime) -> IntakeService:
    return IntakeService(runtime)
