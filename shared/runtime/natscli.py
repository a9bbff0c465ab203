"""``ticketcore nats``: nats-server configurations with ticketcore's users, for operators."""

from __future__ import annotations

import argparse

from shared.adapters.provision import provision
from shared.runtime.credentials import all_permissions
from shared.runtime.natsconfig import (
    ClusterBlock,
    ServerConfig,
    authorization_block,
    ensure_passwords,
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
                        help="passwords as $NATS_PASSWORD_<USER> environment variables "
                        "instead of the generated ones of the data dir")
    config.set_defaults(run=_config)
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
    passwords = (placeholders(users) if args.placeholders
                 else ensure_passwords(settings.data_dir, users))
    cluster = ClusterBlock(routes=args.route, port=args.cluster_port) if args.route else None
    store_dir = args.store_dir or str(settings.data_dir / "nats" / "jetstream")
    server = ServerConfig(store_dir=store_dir, port=args.port, host=args.host, name=args.name,
                          sync_always=not args.no_sync_always,
                          monitor_port=args.monitor_port, cluster=cluster)
    # The passwords go to stdout only, for the operator to redirect into a private file.
    print(server.render(authorization_block(passwords)), end="")
    return 0
