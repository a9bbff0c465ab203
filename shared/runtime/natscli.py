"""``ticketcore nats``: nats-server configurations with ticketcore's users, for operators."""

from __future__ import annotations

import argparse
import secrets

from shared.adapters.provision import provision
from shared.runtime.credentials import all_permissions
from shared.runtime.natsconfig import (
    ROUTE_USER,
    ClusterBlock,
    ServerConfig,
    TlsFiles,
    authorization_block,
    ensure_passwords,
    env_hash,
    hash_variable,
    password_variable,
    placeholders,
    users_file,
)
from shared.settings import ConfigurationError, Settings


def register(commands: argparse._SubParsersAction) -> None:
    nats_parser = commands.add_parser("nats", help="nats-server configuration with the users")
    sub = nats_parser.add_subparsers(title="nats commands")
    config = sub.add_parser("config", help="print a whole nats-server config")
    config.add_argument("--name", default="ticketcore", help="server_name")
    config.add_argument("--host", default="127.0.0.1", help="client listen address")
    config.add_argument("--port", type=int, default=4222)
    config.add_argument("--store-dir", help="JetStream folder (default: <data dir>/nats)")
    config.add_argument("--monitor-port", type=int, help="HTTP monitoring port (healthz)")
    config.add_argument("--no-sync-always", action="store_true",
                        help="fsync every 2 minutes only (risks acknowledged writes)")
    config.add_argument("--route", action="append", default=[], metavar="URL",
                        help="a cluster member's route URL (repeat; switches clustering on)")
    config.add_argument("--cluster-port", type=int, default=6222)
    config.add_argument("--placeholders", action="store_true",
                        help="password hashes as $NATS_PASSWORD_HASH_<USER> environment "
                        "variables instead of the hashes of the data dir's passwords "
                        "(routes are then authorized by certificate: give --tls-*)")
    config.add_argument("--tls-cert", metavar="FILE", help="the server's certificate (PEM), "
                        "for clients and routes")
    config.add_argument("--tls-key", metavar="FILE", help="its private key (PEM)")
    config.add_argument("--tls-ca", metavar="FILE", help="the CA that signed the nodes' "
                        "certificates; a route must show one of them")
    config.set_defaults(run=_config)
    env = sub.add_parser("env", help="print new random NATS passwords and their hashes as "
                         "an environment file (for compose's .env)")
    env.set_defaults(run=_env_file)
    users = sub.add_parser("users", help="print the users alone (with placeholders), for "
                           "an include beside your own server config")
    users.set_defaults(run=lambda args: print(users_file(), end="") or 0)
    provision_parser = sub.add_parser("provision", help="create or upgrade the streams and "
                                      "shared buckets (run as the admin user)")
    provision_parser.set_defaults(run=_provision)


def _provision(args: argparse.Namespace) -> int:
    from shared.runtime.cli import run_async, settings_from_env

    settings = settings_from_env()
    if settings.nats.url is None:
        raise ConfigurationError("TICKETCORE_NATS__URL: required by `nats provision`")
    return run_async(lambda: provision_as(settings))


async def provision_as(settings: Settings) -> None:
    """Streams and shared buckets, created by the configured (admin) user."""
    from shared.runtime.connection import open_connection

    nc = await open_connection(settings, settings.nats.url or "", name="ticketcore-provision")
    try:
        await provision(nc.jetstream(timeout=10.0), settings.nats.replicas)
    finally:
        await nc.close()


def _config(args: argparse.Namespace) -> int:
    from shared.runtime.cli import settings_from_env

    settings = settings_from_env()
    users = list(all_permissions())
    tls = _tls_files(args)
    if args.placeholders:
        if args.route and tls is None:
            raise ConfigurationError("--placeholders with --route: routes are then authorized "
                                     "by certificate; give --tls-cert, --tls-key, --tls-ca")
        passwords, route_password = placeholders(users), None
    else:
        passwords = ensure_passwords(settings.data_dir, [*users, ROUTE_USER])
        route_password = passwords.pop(ROUTE_USER)
    cluster = ClusterBlock(routes=args.route, port=args.cluster_port,
                           route_password=route_password, tls=tls) if args.route else None
    store_dir = args.store_dir or str(settings.data_dir / "nats" / "jetstream")
    server = ServerConfig(store_dir=store_dir, port=args.port, host=args.host, name=args.name,
                          sync_always=not args.no_sync_always,
                          monitor_port=args.monitor_port, cluster=cluster, tls=tls)
    # Only hashes; the route password is in the route URLs (a node presents it): redirect
    # the output into a private file.
    print(server.render(authorization_block(passwords)), end="")
    return 0


def _tls_files(args: argparse.Namespace) -> TlsFiles | None:
    given = [args.tls_cert, args.tls_key, args.tls_ca]
    if not any(given):
        return None
    if not all(given):
        raise ConfigurationError("--tls-cert, --tls-key and --tls-ca go together")
    return TlsFiles(cert_file=args.tls_cert, key_file=args.tls_key, ca_file=args.tls_ca)


def _env_file(args: argparse.Namespace) -> int:
    """New passwords for every user: the plain one (for the service) and its hash (for
    the servers), in the form compose's .env file takes literally (single quotes)."""
    print("# ticketcore's NATS users: written by `ticketcore nats env` (keep it private).")
    for user in all_permissions():
        password = secrets.token_urlsafe(24)
        print(f"{password_variable(user)}={password}")
        print(f"{hash_variable(user)}='{env_hash(password)}'")
    return 0
