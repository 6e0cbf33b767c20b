"""The package's layering and its public surfaces, checked rather than hoped for (docs/development.md).

- import-linter's contracts in pyproject.toml: the layers, no cycles at any depth, pipeline and statistics free of
  storage, Flask and click;
- no module imports or reaches for another module's private names (``_name``), in coder/ and in the tests,
  benchmarks and scripts that drive it; tests share builders through tests/support, never through test files.
"""
from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    # import-linter configures logging with dictConfig, which disables every logger that exists by then (coder's
    # included) for the rest of the test process; give them back
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    enabled = [lg for lg in loggers if not lg.disabled]
    try:
        assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=str(tmp_path), no_logo=True) == 0
    finally:
        for lg in enabled:
            lg.disabled = False


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom in ``module`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(path: Path):
    module, is_package = _module_of(path), path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            yield node, _resolve(module, is_package, node)


def private_uses(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every import of another module's private name, and every attribute access to a private name of an
    imported module, in the source of ``module``."""
    tree = ast.parse(source)
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            origin = _resolve(module, is_package, node)
            if not origin.startswith(("coder", "tests", "bench", "scripts")) or origin == module:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{module}:{node.lineno}: imports {origin}.{alias.name}")
                elif alias.name != "*":
                    modules.add(alias.asname or alias.name)  # perhaps a module: its attributes are checked below
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("coder"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{module}:{node.lineno}: uses {node.value.id}.{node.attr}")
    return found


def test_no_private_names_cross_modules():
    found = [line for path in _sources("coder", "tests", "bench", "scripts")
             for line in private_uses(path.read_text(encoding="utf-8"), _module_of(path), path.name == "__init__.py")]
    assert found == []


def test_tests_share_builders_through_support_only():
    """A test module imports helpers from tests/support (conftest's fixtures come by name), never from another
    test module or conftest, and bench/ and scripts/ never import test modules."""
    found = []
    for path in _sources("tests", "bench", "scripts"):
        for node, origin in _imports(path):
            leaf = origin.rsplit(".", 1)[-1]
            if origin.startswith("tests") and (leaf.startswith("test_") or leaf == "conftest"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {origin}")
    assert found == []


@pytest.mark.parametrize("source, expected", [
    ("from coder.study.ingest import _parse_row\n", 1),
    ("from coder.pipeline import vad\nvad._stamps(1)\n", 1),
    ("from . import _helper\n", 1),
    ("import coder.pipeline.vad\ncoder._hidden\n", 1),
    ("from coder.pipeline import vad\nvad.speech_stamps(1)\n", 0),
    ("def _own():\n    pass\n_own()\n", 0),
    ("from coder import __version__\n", 0),
])
def test_the_private_name_check_finds_what_it_should(source, expected):
    """The check above can fail: it finds private imports and private attributes, and passes clean code."""
    assert len(private_uses(source, "coder.sample")) == expected
