"""Configuration: environment, optional TOML file, errors naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import ConfigurationError, load_settings


def test_environment_overrides_file_and_defaults(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "ticketcore.toml"
    config.write_text('secret_key = "from-the-file-0123456789"\n[billing]\nvat_rate = "0.07"\n'
                      '[http]\nport = 9000\n')
    monkeypatch.setenv("TICKETCORE_CONFIG_FILE", str(config))
    monkeypatch.setenv("TICKETCORE_HTTP__PORT", "9100")
    settings = load_settings()
    assert settings.secret_key == "from-the-file-0123456789"
    assert str(settings.billing.vat_rate) == "0.07"
    assert settings.http.port == 9100
    assert settings.nats.sync_always is True  # durable by default


@pytest.mark.parametrize(("variable", "value"), [
    ("TICKETCORE_NATS__URL", "http://wrong"),
    ("TICKETCORE_BILLING__VAT_RATE", "1.5"),
    ("TICKETCORE_BILLING__FEDERAL_STATE", "XX"),
    ("TICKETCORE_SECRET_KEY", "short"),
    ("TICKETCORE_NO_SUCH_SETTING", "1"),
])
def test_wrong_values_name_the_setting(variable: str, value: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert variable in str(raised.value) or "NO_SUCH_SETTING" in str(raised.value)


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETCORE_CONFIG_FILE", "/nonexistent/ticketcore.toml")
    with pytest.raises(ConfigurationError, match="TICKETCORE_CONFIG_FILE"):
        load_settings()


def test_the_nats_url_may_name_the_servers_of_a_cluster(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    monkeypatch.setenv("TICKETCORE_NATS__URL",
                       "nats://a:4222, nats://b:4223 ,tls://user:pw@c.example:4224")
    nats = load_settings().nats
    assert nats.servers == ["nats://a:4222", "nats://b:4223", "tls://user:pw@c.example:4224"]
    assert nats.url == "nats://a:4222,nats://b:4223,tls://user:pw@c.example:4224"
    monkeypatch.delenv("TICKETCORE_NATS__URL")
    assert load_settings().nats.servers == []  # the embedded server


@pytest.mark.parametrize("value", [
    "nats://a:4222,http://b:4222",
    "nats://a:4222,,nats://b:notaport",
    "nats://a:99999",
    "nats://",
    " , ",
    "a:4222",
])
def test_a_bad_server_in_the_nats_url_is_named(value: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    monkeypatch.setenv("TICKETCORE_NATS__URL", value)
    with pytest.raises(ConfigurationError, match="TICKETCORE_NATS__URL") as raised:
        load_settings()
    bad = [part.strip() for part in value.split(",") if part.strip()]
    assert not bad or any(part in str(raised.value) for part in bad)
