"""compose.yaml is written and validated here (no container engine runs in tests)."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.settings import Settings

ROOT = Path(__file__).parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_every_service_runs_from_the_project_image_with_shared_settings() -> None:
    services = compose()["services"]
    for name in ("intake", "ack", "oncall", "billing"):
        service = services[name]
        assert service["command"] == ["serve", name]
        assert service["build"] == "."
        env = service["environment"]
        assert env["TICKETCORE_NATS__URL"] == "nats://nats:4222"
        for shared in ("TICKETCORE_SECRET_KEY", "TICKETCORE_ACCOUNTS_FILE",
                       "TICKETCORE_SMTP__HOST", "TICKETCORE_HTTP__PUBLIC_URL"):
            assert shared in env, (name, shared)
        assert service["depends_on"]["nats"]["condition"] == "service_healthy"


def test_nats_runs_jetstream_with_fsync_and_a_mail_catcher_exists() -> None:
    services = compose()["services"]
    command = services["nats"]["command"]
    assert "-js" in command and command[command.index("--sync_interval") + 1] == "always"
    assert "mailcatcher" in services


def test_every_environment_variable_in_compose_is_a_real_setting() -> None:
    env = compose()["services"]["intake"]["environment"]
    fields = Settings.model_fields
    for variable in env:
        path = variable.removeprefix("TICKETCORE_").lower().split("__")
        model = fields[path[0]].annotation
        if len(path) == 2:
            assert path[1] in model.model_fields, variable  # type: ignore[union-attr]


def test_dockerfile_installs_the_project_and_runs_ticketcore() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and 'ENTRYPOINT ["ticketcore"]' in dockerfile
