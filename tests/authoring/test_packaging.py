"""One version for every package (the script the ``packaging`` tox env runs checks it)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from stockfish_core.__about__ import __version__

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def check_packaging() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_packaging",
                                                  ROOT / "scripts" / "check_packaging.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_package_is_in_step(check_packaging: ModuleType) -> None:
    pkgs = check_packaging.packages(ROOT)
    assert pkgs[0].name == "core"
    assert ROOT / "examples" / "stockfish-example-rest" in pkgs
    assert check_packaging.check_versions(ROOT) == []
    assert {check_packaging.version_of(p) for p in pkgs} == {__version__}


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel in ("core/pyproject.toml", "core/src/stockfish_core/__about__.py",
                "examples/stockfish-example-rest/pyproject.toml",
                "examples/stockfish-example-rest/src/stockfish_example_rest/__about__.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    (root / "plugins").mkdir()
    return root


def test_a_version_out_of_step_is_reported(check_packaging: ModuleType,
                                           tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    assert check_packaging.check_versions(root) == []
    about = root / "examples/stockfish-example-rest/src/stockfish_example_rest/__about__.py"
    about.write_text('__version__ = "9.9.9"\n', encoding="utf-8")
    problems = check_packaging.check_versions(root)
    assert problems == [f"stockfish-example-rest: version 9.9.9 differs from stockfish-core "
                        f"{__version__}"]


def test_a_stale_core_requirement_is_reported(check_packaging: ModuleType,
                                              tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    pyproject = root / "examples/stockfish-example-rest/pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace(f"stockfish-core>={__version__}", "stockfish-core>=0.0.1"),
                         encoding="utf-8")
    assert check_packaging.check_versions(root) == [
        f"stockfish-example-rest: requires stockfish-core>=0.0.1, the release is {__version__}"]


def test_generated_packages_follow_the_core_version(tmp_path: Path) -> None:
    from stockfish_core.scaffold import render_package

    render_package("acme_fx", tmp_path / "pkg")
    text = (tmp_path / "pkg" / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"stockfish-core>={__version__}"' in text


def test_every_package_has_the_license_urls_and_py_typed(check_packaging: ModuleType) -> None:
    assert check_packaging.check_metadata(ROOT) == []


def test_a_package_without_its_license_copy_is_reported(check_packaging: ModuleType,
                                                        tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "core", root / "core", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "plugins").mkdir()
    (root / "examples").mkdir()
    shutil.copy(ROOT / "LICENSE", root / "LICENSE")
    assert check_packaging.check_metadata(root) == []
    (root / "core" / "LICENSE").write_text("All rights reserved\n", encoding="utf-8")
    assert check_packaging.check_metadata(root) == [
        "stockfish-core: core/LICENSE must be a copy of LICENSE"]
