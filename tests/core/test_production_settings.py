"""Production refuses development defaults: `serve` stops at once, one line per setting,
when it would mail into the local catcher, invoice as the example seller or run a console
nobody can log in to; `up` keeps them and says so. A secret that is too short is named,
never echoed. Before, `serve ack` recorded receipts as sent that never left, `serve
billing` invoiced as "Example IT-Service GmbH, DE123456789", `serve oncall` started
without accounts, and a short secret was printed in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.runtime.accounts import new_token
from shared.runtime.production import banner_notes, require_production_settings
from shared.settings import ConfigurationError, Settings, load_settings
from tests.processes import SERVE, run


def test_each_service_is_refused_only_its_own_defaults(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert require_production_settings(settings, ("intake",)) == []
    ack = require_production_settings(settings, ("ack",))
    assert [line.split(":")[0] for line in ack] == ["TICKETCORE_SMTP__HOST"]
    billing = {line.split(":")[0] for line in require_production_settings(settings,
                                                                            ("billing",))}
    assert billing == {"TICKETCORE_BILLING__SELLER__NAME", "TICKETCORE_BILLING__SELLER__STREET",
                       "TICKETCORE_BILLING__SELLER__VAT_ID", "TICKETCORE_BILLING__SELLER__EMAIL"}
    oncall = {line.split(":")[0] for line in require_production_settings(settings, ("oncall",))}
    assert oncall == {"TICKETCORE_SMTP__HOST", "TICKETCORE_ACCOUNTS_FILE"}


def test_real_settings_are_accepted_and_a_seller_needs_a_tax_id(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(f'[[technicians]]\nid = "anna"\nname = "Anna"\n'
                        f'token_hashes = ["{new_token()[1]}"]\n')
    seller = {"name": "Muster IT GmbH", "street": "Weg 1", "vat_id": "DE811111111",
              "email": "rechnung@muster.example"}
    settings = Settings(data_dir=tmp_path, accounts_file=accounts, smtp={"host": "mail"},
                        billing={"seller": seller})
    assert require_production_settings(settings, ("intake", "ack", "oncall", "billing")) == []
    without_tax_id = settings.model_copy(update={"billing": settings.billing.model_copy(
        update={"seller": settings.billing.seller.model_copy(update={"vat_id": ""})})})
    [line] = require_production_settings(without_tax_id, ("billing",))
    assert line.startswith("TICKETCORE_BILLING__SELLER__VAT_ID: invoices name neither")
    assert banner_notes(settings, ("ack",)) == []


def test_up_names_the_defaults_it_runs_with(tmp_path: Path) -> None:
    notes = banner_notes(Settings(data_dir=tmp_path), ("intake", "ack", "oncall", "billing"))
    assert notes[0].startswith("Development defaults in use")
    assert any("mail catcher" in line for line in notes)
    assert any("example seller" in line for line in notes)


def test_serve_refuses_every_default_at_once_naming_each_setting(tmp_path: Path) -> None:
    result, _ = run("serve", "oncall", cwd=tmp_path, TICKETCORE_DATA_DIR=str(tmp_path),
                    TICKETCORE_NATS__URL="nats://127.0.0.1:9", **SERVE)
    assert result.returncode == 2, result.stderr
    assert "refusing to start" in result.stderr
    assert "TICKETCORE_SMTP__HOST: mails go to the local mail catcher" in result.stderr
    assert "TICKETCORE_ACCOUNTS_FILE: no technician can log in" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("variable", ["secret_key", "oncall"])
def test_a_short_secret_is_named_and_never_echoed(variable: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    short = "Short-Secret-42"
    given: dict[str, object] = ({"secret_key": short} if variable == "secret_key"
                                else {"oncall": {"webhook_secret": short}})
    with pytest.raises(ConfigurationError) as refused:
        load_settings(**given)
    assert "give at least 16 random characters" in str(refused.value)
    assert short not in str(refused.value)


def test_a_wrong_nats_section_does_not_echo_its_password(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    with pytest.raises(ConfigurationError) as refused:
        load_settings(nats={"password": "the-nats-password", "tls_cert_file": "c.pem"})
    assert "go together" in str(refused.value)
    assert "the-nats-password" not in str(refused.value)
