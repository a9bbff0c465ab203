"""The intake service: the customer's door (web form, JSON API, confirmation and live
status page). It appends ``RequestSubmitted`` as the first event of every ticket."""

from __future__ import annotations

from fastapi import APIRouter

from services.intake.mail import InboundMailChannel
from services.intake.submission import IDEMPOTENCY_BUCKET
from services.intake.web import IntakeWeb
from shared.adapters.casenumbers import COUNTER_BUCKET, CaseNumberAllocator
from shared.adapters.consumer import ConsumerSpec
from shared.adapters.provision import ensure_kv
from shared.runtime.runtime import Runtime


class IntakeService:
    """Serves the form and the API; consumes no events."""

    name = "intake"

    def __init__(self, runtime: Runtime, *, allocator: CaseNumberAllocator, web: IntakeWeb,
                 mail: InboundMailChannel) -> None:
        self.runtime = runtime
        self.allocator = allocator
        self.web = web
        self.mail = mail  # customer replies by SMTP / LMTP

    def consumers(self) -> list[ConsumerSpec]:
        return []

    def router(self) -> APIRouter | None:
        return self.web.router()

    def announce(self) -> list[str]:
        base = self.runtime.public_url
        return [f"support API (OpenAPI):  {base}/docs  (POST {base}/api/requests)",
                *self.mail.announce()]

    async def start(self) -> None:
        replicas = self.runtime.settings.nats.replicas
        await ensure_kv(self.runtime.js, COUNTER_BUCKET, replicas=replicas)
        await ensure_kv(self.runtime.js, IDEMPOTENCY_BUCKET, replicas=replicas,
                        ttl_s=float(self.runtime.settings.intake.idempotency_ttl_s))
        await self.mail.start()

    async def stop(self) -> None:
        await self.mail.stop()

    async def health(self) -> dict[str, object]:
        """Intake runs no consumers; NATS being connected is reported for the process."""
        return {}
