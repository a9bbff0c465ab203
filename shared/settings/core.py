"""Settings of the message bus and the HTTP server."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class NatsSettings(BaseModel):
    url: str | None = Field(
        None,
        description="URL of an external NATS server (e.g. nats://nats:4222). "
        "When set, no embedded server is started.",
        pattern=r"^(nats|tls|ws|wss)://",
    )
    embedded_port: int = Field(4222, ge=0, le=65535,
                               description="Port of the embedded server (0 = any free port).")
    sync_always: bool = Field(
        True,
        description="Embedded server fsyncs every write before acknowledging it. "
        "False risks losing acknowledged events on power failure.",
    )
    replicas: int = Field(1, ge=1, le=5, description="Stream replicas (3 in a cluster).")
    new_consumers_from: Literal["start", "end"] = Field(
        "start",
        description="Where a service's consumers begin when they are created for the first "
        "time: start (handle the whole log) or end (only new events, e.g. when a service is "
        "added to a long-running log). Existing consumers keep their position.")
    connect_timeout_s: float = Field(5.0, gt=0, description="Seconds to wait for NATS at start.")


class HttpSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP server.")
    public_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Base URL customers and technicians reach (for links in mails). "
        "Default: http://<host>:<port>.",
    )
