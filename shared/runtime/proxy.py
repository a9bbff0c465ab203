"""``ticketcore proxy config nginx``: the reverse proxy that makes the split layout one public
origin, written from the services' route tables (shared.runtime.routes).

Every declared route becomes one nginx ``location`` that forwards to its service's
upstream (exact for a fixed path, a regular expression for a template), with the route's
body limit; every other path answers 404 at the proxy, so a process's own routes
(``/health``, ``/metrics``) and the development mail catcher never reach the internet. The
proxy passes the client's address and scheme (``X-Forwarded-For``, ``X-Forwarded-Proto``):
set ``TICKETCORE_HTTP__TRUSTED_PROXIES`` to the proxy's address so the services believe
them. Regenerate the file after an upgrade: a new route appears in it only then.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence

from shared.runtime.routes import Route, ServiceRoutes, is_parameter, segments
from shared.settings import ConfigurationError, Settings

HOST_PORT = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$")
UPSTREAM_KEEPALIVE_S = 4  # below the services' keep-alive (5 s): nginx never reuses a
# connection the service is closing, which would fail a POST with 502


def require_public_origin(settings: Settings) -> None:
    """``serve`` runs one service of several: links to the others' routes (a page mail's
    acknowledge link, a receipt's status link, the console) work only through the one
    origin in front of them all, so it must be named (``up`` serves every route itself)."""
    if settings.http.public_url is None:
        raise ConfigurationError(
            "TICKETCORE_HTTP__PUBLIC_URL: not set: give the one origin customers and "
            "technicians reach, the reverse proxy in front of every service (e.g. "
            "https://support.example.com; `ticketcore proxy config nginx` writes it): every "
            "link in mails and pages is built from it")


def register(commands: argparse._SubParsersAction) -> None:
    proxy = commands.add_parser("proxy", help="the reverse proxy in front of the services")
    sub = proxy.add_subparsers(title="proxy commands")
    config = sub.add_parser("config", help="print a reverse proxy configuration")
    kinds = config.add_subparsers(title="proxies")
    nginx = kinds.add_parser(
        "nginx", help="an nginx configuration (http context: upstreams and one server)",
        description="Print an nginx configuration that serves every service's public routes "
        "on one origin (include it in the http block, e.g. /etc/nginx/conf.d/).")
    nginx.add_argument("--listen", required=True, metavar="HOST:PORT",
                       help="where nginx listens, e.g. 127.0.0.1:8080 or 0.0.0.0:443")
    nginx.add_argument("--upstream", action="append", default=[], required=True,
                       metavar="SERVICE=HOST:PORT",
                       help="where a service's process answers; repeat for every service "
                            "and every replica")
    nginx.add_argument("--tls-certificate", metavar="PATH",
                       help="serve https with this certificate (chain) file")
    nginx.add_argument("--tls-key", metavar="PATH", help="the certificate's private key")
    nginx.set_defaults(run=_print_nginx)


def _print_nginx(args: argparse.Namespace) -> int:
    from shared.runtime import registry
    from shared.runtime.cli import settings_from_env

    settings = settings_from_env()
    if bool(args.tls_certificate) != bool(args.tls_key):
        raise ConfigurationError("--tls-certificate and --tls-key go together")
    tls = (args.tls_certificate, args.tls_key) if args.tls_certificate else None
    text = nginx_config(registry.route_tables(), args.listen, parse_upstreams(args.upstream),
                        settings, tls=tls)
    sys.stdout.write(text)
    return 0


def parse_upstreams(values: Sequence[str]) -> dict[str, list[str]]:
    """``SERVICE=HOST:PORT`` arguments as the addresses of each service."""
    upstreams: dict[str, list[str]] = {}
    for value in values:
        service, _, address = value.partition("=")
        if not service or not HOST_PORT.match(address):
            raise ConfigurationError(f"--upstream {value!r}: give SERVICE=HOST:PORT, e.g. "
                                     "intake=10.0.0.5:8080")
        upstreams.setdefault(service.strip(), []).append(address)
    return upstreams


def nginx_config(tables: Sequence[ServiceRoutes], listen: str,
                 upstreams: Mapping[str, Sequence[str]], settings: Settings,
                 tls: tuple[str, str] | None = None) -> str:
    """The configuration text; ConfigurationError naming a service without an upstream,
    an upstream of no service, or a bad listen address."""
    if not HOST_PORT.match(listen):
        raise ConfigurationError(f"--listen {listen!r}: give HOST:PORT, e.g. 127.0.0.1:8080")
    served = [table for table in tables if table.public]
    known = {table.service for table in tables}
    unknown = sorted(set(upstreams) - known)
    if unknown:
        raise ConfigurationError(f"--upstream {', '.join(unknown)}: no such service "
                                 f"(services: {', '.join(sorted(known))})")
    missing = [table.service for table in served if table.service not in upstreams]
    if missing:
        raise ConfigurationError(f"no --upstream for {', '.join(missing)}: every service with "
                                 "public routes needs one (SERVICE=HOST:PORT)")
    lines = ["# ticketcore: one public origin in front of its services. Written by",
             "# `ticketcore proxy config nginx` from the services' route tables: regenerate",
             "# it after an upgrade rather than editing it.", ""]
    for table in served:
        lines += _upstream(table.service, upstreams[table.service])
    lines += _server(served, listen, settings, tls)
    return "\n".join(lines) + "\n"


def _upstream(service: str, addresses: Sequence[str]) -> list[str]:
    return [f"upstream ticketcore_{service} {{",
            *(f"    server {address};" for address in addresses),
            "    keepalive 16;",
            f"    keepalive_timeout {UPSTREAM_KEEPALIVE_S}s;",
            "}", ""]


def _server(tables: Sequence[ServiceRoutes], listen: str, settings: Settings,
            tls: tuple[str, str] | None) -> list[str]:
    lines = ["server {",
             f"    listen {listen}{' ssl' if tls else ''};",
             *([f"    ssl_certificate {tls[0]};", f"    ssl_certificate_key {tls[1]};"]
               if tls else []),
             "    server_tokens off;",
             # Slow clients wait at the proxy, which buffers whole requests (the services'
             # own deadline is TICKETCORE_HTTP__REQUEST_TIMEOUT_S).
             "    client_header_timeout 10s;",
             "    client_body_timeout 10s;",
             "    keepalive_timeout 5s;",
             "    send_timeout 30s;",
             f"    client_max_body_size {settings.http.max_body_bytes};",
             "    proxy_http_version 1.1;",
             '    proxy_set_header Connection "";',
             "    proxy_set_header Host $host;",
             # The proxy faces the clients: it names the one it talks to, never the one a
             # client claims (set TICKETCORE_HTTP__TRUSTED_PROXIES to believe it).
             "    proxy_set_header X-Forwarded-For $remote_addr;",
             "    proxy_set_header X-Forwarded-Proto $scheme;",
             "    proxy_read_timeout 60s;",
             ""]
    for table in tables:
        lines.append(f"    # {table.service}")
        lines += [_location(route, table.service, settings) for route in table.public]
        lines.append("")
    reference = next((t.service for t in tables if any(
        r.path == f"/docs/{t.service}" for r in t.public)), None)
    if reference is not None:  # the API reference: each service has its own page
        lines.append(f"    location = /docs {{ return 302 /docs/{reference}; }}")
    lines += ["    # Everything else (a process's /health and /metrics among it): not here.",
              "    location / { return 404; }", "}"]
    return lines


def _location(route: Route, service: str, settings: Settings) -> str:
    if any(is_parameter(part) for part in segments(route.path)):
        match = f'~ "{route.pattern}"'
    else:
        match = f"= {route.path}"
    return (f"    location {match} {{ proxy_pass http://ticketcore_{service}; "
            f"client_max_body_size {route.max_body_bytes(settings)}; }}")
