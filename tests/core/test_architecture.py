"""The layout's rules hold: the import-linter contracts in pyproject.toml are all kept.

The contracts (see docs/architecture.md, "Layout"): the domain is pure (no I/O, nothing of
ours outside it), services never import each other, shared never imports a service, the
application reaches NATS only through the adapters, on-call's policy is pure, and the
layers of shared run runtime > application > adapters > domain.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_import_contracts_are_kept() -> None:
    # Analyse this checkout's code (cwd and PYTHONPATH), not an installed copy of it.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_contracts_cover_domain_services_and_layers() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}
    assert set(contracts) >= {"pure-domain", "independent-services", "shared-below-services",
                              "application-without-nats", "pure-policy", "layers"}
    assert {"asyncio", "nats", "shared.adapters", "services"} <= set(
        contracts["pure-domain"]["forbidden_modules"])
    assert set(contracts["independent-services"]["modules"]) == {
        f"services.{name}" for name in ("intake", "ack", "oncall", "billing")}
    assert contracts["application-without-nats"]["forbidden_modules"] == ["nats"]
    assert {"asyncio", "nats", "shared.adapters", "shared.runtime"} <= set(
        contracts["pure-policy"]["forbidden_modules"])
    assert contracts["layers"]["layers"] == [
        "shared.runtime", "shared.application", "shared.adapters", "shared.domain"]
