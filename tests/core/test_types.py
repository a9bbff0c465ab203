"""The product's type hints hold: mypy, configured in pyproject.toml ([tool.mypy]), finds
no error in shared/ and services/."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
MYPY = Path(sys.executable).parent / "mypy"


def test_mypy_finds_no_error() -> None:
    # This checkout's code (cwd and PYTHONPATH), not an installed copy of it.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([str(MYPY)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_checker_is_strict_where_it_matters() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert set(config["packages"]) == {"shared", "services"}
    for setting in ("check_untyped_defs", "warn_unused_ignores", "warn_redundant_casts",
                    "strict_equality"):
        assert config[setting] is True, setting
    # Missing type information is forgiven only for libraries named one by one.
    assert "ignore_missing_imports" not in config
    for override in config.get("overrides", []):
        if override.get("ignore_missing_imports"):
            assert all(not module.startswith(("shared", "services", "*"))
                       for module in override["module"]), override
    assert (ROOT / "shared" / "py.typed").is_file() and (ROOT / "services" / "py.typed").is_file()
