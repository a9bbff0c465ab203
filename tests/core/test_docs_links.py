"""Every repository path and module the README and docs/ cite exists.

Checked: backticked paths such as `shared/domain/pricing.py` (also inside a backticked
command line), backticked dotted names such as `shared.domain.pricing.running_total`, and
relative Markdown links. Placeholders (`services/<name>/`) and globs are skipped.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = r"(?:shared|services|docs|tests|benchmarks)"
CODE_SPAN = re.compile(r"`([^`\n]+)`")
PATH = re.compile(rf"(?<![\w/.-]){TOP}/[\w./<>*{{}}-]*")
DOTTED = re.compile(r"(?<![\w/.-])(?:shared|services)(?:\.\w+)+")
LINK = re.compile(r"\]\(([^)\s]+)\)")
PLACEHOLDER = re.compile(r"[<>*{}]|\.\.\.")


def cited_paths(text: str) -> set[str]:
    """Repository paths in code spans and relative link targets of ``text``."""
    paths = {m for span in CODE_SPAN.findall(text) for m in PATH.findall(span)}
    for target in LINK.findall(text):
        if not re.match(r"[a-z]+:|#", target):
            paths.add(target.split("#", 1)[0])
    return {p.rstrip(".,;:") for p in paths if p and not PLACEHOLDER.search(p)}


def cited_modules(text: str) -> set[str]:
    """Dotted names of our modules (and names in them) in code spans of ``text``."""
    return {m for span in CODE_SPAN.findall(text) for m in DOTTED.findall(span)}


def module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def resolves(dotted: str) -> bool:
    """A module, or a module and one name defined or imported in it."""
    parts = dotted.split(".")
    if module_file(parts):
        return True
    module = module_file(parts[:-1])
    if module is None:
        return False
    return parts[-1] in top_level_names(module)


def top_level_names(module: Path) -> set[str]:
    """Names a module defines or imports at its top level."""
    names: set[str] = set()
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_cited_paths_exist(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    base = ROOT if document.name == "README.md" else document.parent
    missing = sorted(p for p in cited_paths(text)
                     if not (ROOT / p).exists() and not (base / p).exists())
    assert missing == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_cited_modules_exist(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    assert sorted(m for m in cited_modules(text) if not resolves(m)) == []


def test_the_checks_see_paths_and_skip_placeholders() -> None:
    text = ("`shared/domain/pricing.py: price`, `pytest tests/core/x.py`, `services/<name>/`, "
            "[a](docs/oncall.md#rota), [b](https://example.com), `shared.domain.money.to_cents`")
    assert cited_paths(text) == {"shared/domain/pricing.py", "tests/core/x.py", "docs/oncall.md"}
    assert cited_modules(text) == {"shared.domain.money.to_cents"}
    assert resolves("shared.domain.money.to_cents")
    assert not resolves("shared.events.upcasting")
