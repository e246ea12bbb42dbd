"""Typed packages: every distribution ships ``py.typed``, the lazy top-level exports are
visible to type checkers, and the README's and docs' examples pass ``mypy --strict``."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.authoring.test_docs import _IMPORT, REQUIRE_ALL, RUN_PAGES, blocks
from tests.authoring.test_docs import ROOT as CHECKOUT

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [ROOT / "core/src/stockfish_core", ROOT / "examples/stockfish-example-rest/src/"
            "stockfish_example_rest", *sorted(ROOT.glob("plugins/*/src/stockfish_*"))]


def test_every_package_ships_py_typed() -> None:
    assert len(PACKAGES) >= 5
    for package in PACKAGES:
        assert (package / "py.typed").is_file(), f"{package} has no py.typed"
    template = ROOT / "core/src/stockfish_core/templates/connector/src/__package__"
    assert (template / "py.typed.tmpl").is_file(), "new-connector packages get py.typed too"


def test_lazy_exports_are_imported_for_type_checkers() -> None:
    """``__init__`` loads its exports lazily; the same names, from the same modules, are
    imported under ``TYPE_CHECKING`` and listed in a literal ``__all__``."""
    import stockfish_core

    tree = ast.parse((ROOT / "core/src/stockfish_core/__init__.py").read_text("utf-8"))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                for alias in stmt.names:
                    typed[alias.name] = stmt.module.removeprefix("stockfish_core.")
    assert typed == stockfish_core._EXPORTS
    assert sorted(stockfish_core.__all__) == sorted(["__version__", *stockfish_core._EXPORTS])


def test_waiting_helpers_import_without_pytest(tmp_path: Path) -> None:
    script = tmp_path / "no_pytest.py"
    script.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pytest', '_pytest'):\n"
        "            raise ImportError('pytest is not installed')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from stockfish_core.testing import Recorder, wait_until\n"
        "assert wait_until(lambda: True, 1.0)\n"
        "try:\n"
        "    from stockfish_core.testing import ConnectorConformance\n"
        "except ImportError:\n"
        "    print('conformance kit needs pytest')\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "conformance kit needs pytest"


def _installed(text: str) -> bool:
    """Whether every stockfish package the block imports is installed here (in tox env
    ``cli`` every one must be)."""
    missing = [m for m in _IMPORT.findall(text) if importlib.util.find_spec(m) is None]
    assert not (missing and REQUIRE_ALL), f"packages not installed here: {missing}"
    return not missing


def _user_scripts(where: Path) -> list[Path]:
    """Every runnable Python block of the README and docs whose packages are installed, one
    module each."""
    scripts = []
    for page in RUN_PAGES:
        stem = re.sub(r"\W", "_", str(page.relative_to(CHECKOUT).with_suffix(""))).lower()
        for number, (language, runnable, text) in enumerate(blocks(page)):
            if language == "python" and runnable and _installed(text):
                path = where / f"{stem}_{number}.py"
                path.write_text(text, encoding="utf-8")
                scripts.append(path)
    return scripts


def test_docs_examples_pass_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    scripts = _user_scripts(tmp_path)
    assert len(scripts) >= 3
    env = {**os.environ, "MYPYPATH": ""}
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--cache-dir", str(tmp_path / ".mypy_cache"), *map(str, scripts)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_mypy_sees_the_real_types(tmp_path: Path) -> None:
    """Not ``Any``: a wrong call through the top-level export is an error."""
    pytest.importorskip("mypy")
    script = tmp_path / "wrong.py"
    script.write_text("from stockfish_core import ExchangeManager, Order, OrderSide\n"
                      "manager = ExchangeManager.from_config('x.yaml')\n"
                      "reveal_type(manager)\n"
                      "manager.send_order(Order('SPY', OrderSide.BUY, 1), 42)\n",
                      encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                          "--cache-dir", str(tmp_path / ".mypy_cache"), str(script)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         check=False)
    assert 'Revealed type is "stockfish_core.manager.ExchangeManager"' in out.stdout, out.stdout
    assert 'Argument 2 to "send_order" of "ExchangeManager" has incompatible type "int"' \
        in out.stdout, out.stdout
