"""Fail fast: a service or command that cannot connect to NATS gives up within
TICKETCORE_NATS__CONNECT_TIMEOUT_S with one line naming the servers and the cause, and
errors point the right way (a wrong or missing password, no server, a command run outside
`ticketcore up`'s folder). Before, ``serve`` with a wrong password retried forever and
``nats provision`` without a password looped with tracebacks; commands blamed a missing
server for every cause. Times are printed, never asserted (hang guards only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.natsserver import EmbeddedNats
from shared.runtime.credentials import all_permissions
from shared.runtime.natsconfig import authorization_block, ensure_passwords
from tests.processes import SERVE, run

CONNECT_TIMEOUT_S = "3"


@pytest.fixture(scope="module")
def server_with_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """A nats-server with ticketcore's users (as `up` and production run it)."""
    folder = tmp_path_factory.mktemp("users")
    passwords = ensure_passwords(folder, all_permissions())
    server = EmbeddedNats(folder / "nats", authorization=authorization_block(passwords))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_serve_with_a_wrong_password_exits_at_once_naming_the_user(
        server_with_users: EmbeddedNats, tmp_path: Path) -> None:
    result, seconds = run("serve", "billing", TICKETCORE_DATA_DIR=str(tmp_path),
                          TICKETCORE_NATS__URL=server_with_users.url,
                          TICKETCORE_NATS__USER="billing",
                          TICKETCORE_NATS__PASSWORD="not-the-password",
                          TICKETCORE_NATS__CONNECT_TIMEOUT_S=CONNECT_TIMEOUT_S,
                          **SERVE)
    print(f"\nserve with a wrong password exited after {seconds:.2f} s "
          f"(connect timeout {CONNECT_TIMEOUT_S} s)")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert f"cannot connect to NATS at {server_with_users.url}" in line
    assert "authorization violation for user 'billing'" in line
    assert "not-the-password" not in line


def test_nats_provision_without_a_password_names_the_cause_once(
        server_with_users: EmbeddedNats, tmp_path: Path) -> None:
    result, seconds = run("nats", "provision", TICKETCORE_DATA_DIR=str(tmp_path),
                          TICKETCORE_NATS__URL=server_with_users.url,
                          TICKETCORE_NATS__USER="admin",
                          TICKETCORE_NATS__CONNECT_TIMEOUT_S=CONNECT_TIMEOUT_S)
    print(f"\nnats provision without a password exited after {seconds:.2f} s")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "authorization violation for user 'admin' (wrong or missing password" in line


def test_a_command_outside_ups_folder_says_where_the_passwords_are(
        server_with_users: EmbeddedNats, tmp_path: Path) -> None:
    """No NATS URL (the embedded server of `up`) and no data folder with its passwords:
    the server answers, so "is `ticketcore up` running?" would point the wrong way."""
    result, _ = run("ticket", "show", "20261126000011", cwd=tmp_path,
                    TICKETCORE_NATS__EMBEDDED_PORT=str(server_with_users.port),
                    TICKETCORE_NATS__CONNECT_TIMEOUT_S=CONNECT_TIMEOUT_S)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "authorization violation: no NATS user given" in line
    assert "run the command in the folder of `ticketcore up`" in line
    assert "is `ticketcore up` running?" not in line
