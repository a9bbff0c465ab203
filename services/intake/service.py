"""The intake service: the customer's door (web form, JSON API, confirmation and live
status page). It appends ``RequestSubmitted`` as the first event of every ticket."""

from __future__ import annotations

from fastapi import APIRouter

from services.intake.casenumbers import COUNTER_BUCKET, CaseNumberAllocator
from services.intake.mail import InboundMailChannel
from services.intake.submission import IDEMPOTENCY_BUCKET, Intake
from services.intake.web import IntakeWeb
from shared.adapters.attachments import read_attachment
from shared.adapters.consumer import ConsumerSpec
from shared.adapters.provision import ensure_kv
from shared.runtime.context import Runtime


class IntakeService:
    """Serves the form and the API; consumes no events."""

    name = "intake"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings.intake
        self.allocator = CaseNumberAllocator(runtime.js, node_id=settings.node_id,
                                             block_size=settings.case_number_block)
        self.intake = Intake(runtime.store, runtime.js, self.allocator, settings)
        bucket = runtime.settings.inbound_mail.attachments_bucket
        self.web = IntakeWeb(runtime.settings, runtime.store, self.intake, read_file=lambda
                             sha256: read_attachment(runtime.js, sha256, bucket=bucket))
        self.mail = InboundMailChannel(runtime)  # customer replies by SMTP / LMTP

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


def create_service(runtime: Runtime) -> IntakeService:
    return IntakeService(runtime)
