"""Builds the intake service and its collaborators from the process's Runtime."""

from __future__ import annotations

from services.intake.mail import InboundMailChannel
from services.intake.service import IntakeService
from services.intake.submission import Intake
from services.intake.web import IntakeWeb
from shared.adapters.attachments import read_attachment
from shared.adapters.casenumbers import CaseNumberAllocator
from shared.runtime.runtime import Runtime


def bootstrap(runtime: Runtime) -> IntakeService:
    """The form, the API and the status pages over one submission path, and the inbound
    mail listener."""
    settings = runtime.settings
    allocator = CaseNumberAllocator(runtime.js, node_id=settings.intake.node_id,
                                    block_size=settings.intake.case_number_block,
                                    clock=runtime.clock)
    intake = Intake(runtime.store, runtime.js, allocator, settings.intake, clock=runtime.clock)
    bucket = settings.inbound_mail.attachments_bucket
    web = IntakeWeb(settings, runtime.store, intake,
                    read_file=lambda sha256: read_attachment(runtime.js, sha256, bucket=bucket),
                    clock=runtime.clock)
    return IntakeService(runtime, allocator=allocator, web=web,
                         mail=InboundMailChannel(runtime))
