"""Settings of the message bus and the HTTP server."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

NATS_SCHEMES = ("nats", "tls", "ws", "wss")
SECRET_MIN_LENGTH = 16


def check_secret_length(value: str) -> str:
    """A secret setting is unset (empty: `up` fills it, `serve` refuses) or long enough."""
    if value and len(value) < SECRET_MIN_LENGTH:
        raise ValueError(f"give at least {SECRET_MIN_LENGTH} random characters")
    return value


class PreviousSecretKey(BaseModel):
    """A secret key replaced by a new one, still accepted until ``until``."""

    key: str = Field(description="The old key.")
    until: datetime = Field(description="When it stops being accepted (with a time zone).")

    @field_validator("key")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if not value:
            raise ValueError("give the old key")
        return check_secret_length(value)

    @field_validator("until")
    @classmethod
    def _with_time_zone(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-12-31T00:00:00Z")
        return value


def nats_servers(url: str) -> list[str]:
    """The servers of a NATS URL setting: one URL, or several separated by commas (the
    nodes of a cluster)."""
    return [part.strip() for part in url.split(",") if part.strip()]


def without_credentials(url: str) -> str:
    """A NATS URL setting (one server or several, comma-separated) without user names,
    passwords or tokens: for messages, the banner and /health."""
    return ",".join(_bare(server) for server in nats_servers(url))


def _bare(server: str) -> str:
    parts = urlsplit(server)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_nats_url(url: str) -> str:
    """``url`` with blanks around its servers removed; ValueError naming a bad server."""
    servers = nats_servers(url)
    if not servers:
        raise ValueError("no server given")
    for server in servers:
        try:
            parts = urlsplit(server)
            port = parts.port  # ValueError when not a number in 0..65535
        except ValueError as error:
            raise ValueError(f"{server!r}: {error}") from None
        if parts.scheme not in NATS_SCHEMES or not parts.hostname or port == 0:
            raise ValueError(f"{server!r} is not a NATS server URL such as nats://host:4222 "
                             f"(schemes: {', '.join(NATS_SCHEMES)}; several: separated by "
                             "commas)")
    return ",".join(servers)


class NatsSettings(BaseModel):
    url: str | None = Field(
        None,
        description="URL of an external NATS server (e.g. nats://nats:4222), or the URLs "
        "of a cluster's nodes separated by commas (nats://a:4222,nats://b:4222): a client "
        "connects to any of them and reconnects to another when its node is lost. "
        "When set, no embedded server is started.",
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
    user: str | None = Field(
        None, description="NATS user of this service (its rights: docs/operations.md). "
        "Unset with the embedded server: it runs with generated users.")
    password: SecretStr | None = Field(None, description="Password of the NATS user.")
    tls_ca_file: Path | None = Field(
        None, description="PEM file of the CA that signed the NATS servers' certificates. "
        "Set: every connection uses TLS and checks the server against it (and refuses a "
        "server without TLS). Unset: TLS only where a server asks for it, checked against "
        "the system's CAs.")
    tls_cert_file: Path | None = Field(
        None, description="PEM client certificate, for servers that verify their clients "
        "(with TICKETCORE_NATS__TLS_KEY_FILE).")
    tls_key_file: Path | None = Field(None, description="PEM private key of the client "
                                      "certificate.")

    @field_validator("url")
    @classmethod
    def _servers_are_urls(cls, url: str | None) -> str | None:
        return None if url is None else check_nats_url(url)

    @model_validator(mode="after")
    def _client_certificate_with_its_key(self) -> NatsSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("TICKETCORE_NATS__TLS_CERT_FILE and TICKETCORE_NATS__TLS_KEY_FILE "
                             "go together: give both or neither")
        return self

    @property
    def servers(self) -> list[str]:
        """The configured servers (empty: the embedded one)."""
        return nats_servers(self.url) if self.url else []


def check_origin(url: str | None) -> str | None:
    """A public URL is an origin (scheme, host, port): every route lives at its root."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) origin such as https://support.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{url!r}: give the origin alone (scheme, host, port), without path "
                         "or query: ticketcore's routes live at its root")
    return url.rstrip("/")


class HttpSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP server.")
    public_url: str | None = Field(
        None,
        description="The one public origin customers and technicians reach (the reverse "
        "proxy in front of the services, e.g. https://support.example.com): every link in "
        "mails and pages is built from it. Required by `serve`; `up` defaults to "
        "http://<host>:<port>.",
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest request body of a route that declares no "
        "limit of its own (shared/runtime/routes.py); larger ones get 413 before anything "
        "is read.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (e.g. [\"127.0.0.1\"]); rate limits and login "
        "throttling then count the real client. Empty: every peer is the client.")
    request_timeout_s: float = Field(
        30.0, gt=0, description="A request's headers and body must arrive within this many "
        "seconds of its first byte, or the connection is closed (slow clients).")

    @field_validator("public_url")
    @classmethod
    def _an_origin(cls, url: str | None) -> str | None:
        return check_origin(url)


class TracingSettings(BaseModel):
    otlp_endpoint: str | None = Field(
        None, pattern=r"^https?://",
        description="OpenTelemetry: the collector's OTLP/HTTP traces URL (e.g. "
        "http://otel-collector:4318/v1/traces). Unset: no spans are recorded or sent (trace "
        "ids are still carried, for the logs).")
    service_name: str = Field(
        "ticketcore", description="The traces' service.name (`serve <name>` adds "
        "-<name>).")
