"""Every repository path, module and code name the README and docs/ cite exists.

Checked: backticked paths such as `shared/domain/pricing.py` (also inside a backticked
command line), citations of names in a file such as `shared/domain/pricing.py: price` or
`services/billing/service.py: BillingService.issue_invoice` (docs/domain.md cites every
rule so), backticked dotted names such as `shared.domain.pricing.running_total`, and
relative Markdown links. Placeholders (`services/<name>/`) and globs are skipped.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCUMENTS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = r"(?:shared|services|docs|tests|benchmarks)"
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE_SPAN = re.compile(r"`([^`]+)`")
# `shared/domain/pricing.py: price` or `...: Class.method, other`: a file and names in it.
CITATION = re.compile(rf"^({TOP}/[\w/]+\.py): ([\w.]+(?:, [\w.]+)*)$")
PATH = re.compile(rf"(?<![\w/.-]){TOP}/[\w./<>*{{}}-]*")
DOTTED = re.compile(r"(?<![\w/.-])(?:shared|services)(?:\.\w+)+")
LINK = re.compile(r"\]\(([^)\s]+)\)")
PLACEHOLDER = re.compile(r"[<>*{}]|\.\.\.")


def code_spans(text: str) -> list[str]:
    """Inline code of ``text`` (fenced blocks left out), whitespace collapsed."""
    return [" ".join(span.split()) for span in CODE_SPAN.findall(FENCE.sub("", text))]


def cited_paths(text: str) -> set[str]:
    """Repository paths in code spans and relative link targets of ``text``."""
    paths = {m for span in code_spans(text) for m in PATH.findall(span)}
    for target in LINK.findall(text):
        if not re.match(r"[a-z]+:|#", target):
            paths.add(target.split("#", 1)[0])
    return {p.rstrip(".,;:") for p in paths if p and not PLACEHOLDER.search(p)}


def cited_modules(text: str) -> set[str]:
    """Dotted names of our modules (and names in them) in code spans of ``text``."""
    return {m for span in code_spans(text) for m in DOTTED.findall(span)}


def cited_names(text: str) -> set[tuple[str, str]]:
    """(file, name) of every `file.py: name, ...` citation in ``text``."""
    found = set()
    for span in code_spans(text):
        match = CITATION.match(span)
        if match:
            found.update((match[1], name) for name in match[2].split(", "))
    return found


def defines(path: Path, name: str) -> bool:
    """Whether the module at ``path`` defines ``name`` (``Class.attribute`` included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    outer, _, inner = name.partition(".")
    if not inner:
        return outer in top_level_names(path)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == outer:
            assigned = {target.attr for sub in ast.walk(node) if isinstance(sub, ast.Assign)
                        for target in sub.targets if isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name) and target.value.id == "self"}
            return inner in _names_in(node.body) | assigned
    return False


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
    return _names_in(ast.parse(module.read_text(encoding="utf-8")).body)


def _names_in(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in body:
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


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_cited_names_exist(document: Path) -> None:
    cited = cited_names(document.read_text(encoding="utf-8"))
    missing = sorted(f"{file}: {name}" for file, name in cited
                     if not (ROOT / file).is_file() or not defines(ROOT / file, name))
    assert missing == []


def test_the_checks_see_paths_and_skip_placeholders() -> None:
    text = ("`shared/domain/pricing.py: price`, `pytest tests/core/x.py`, `services/<name>/`, "
            "[a](docs/oncall.md#rota), [b](https://example.com), `shared.domain.money.to_cents`")
    assert cited_paths(text) == {"shared/domain/pricing.py", "tests/core/x.py", "docs/oncall.md"}
    assert cited_modules(text) == {"shared.domain.money.to_cents"}
    assert resolves("shared.domain.money.to_cents")
    assert not resolves("shared.events.upcasting")
    assert cited_names("`shared/domain/money.py: to_cents, ZERO`\n`services/x.py:\nA.b`") == {
        ("shared/domain/money.py", "to_cents"), ("shared/domain/money.py", "ZERO"),
        ("services/x.py", "A.b")}
    assert defines(ROOT / "shared/domain/calendar.py", "BusinessCalendar.window_at")
    assert not defines(ROOT / "shared/domain/calendar.py", "BusinessCalendar.no_such_rule")
