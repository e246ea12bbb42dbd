"""The install instructions work as written: every ``bash install`` block of the README and
the docs runs, line by line as a shell would, in a clean virtual environment inside a copy
of this checkout, and the packages it installs then load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.authoring.test_docs import README, ROOT, RUN_PAGES, blocks

_COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", ".tox", "dist", "build", "__pycache__", "*.egg-info", ".mypy_cache",
    ".ruff_cache", ".pytest_cache", ".hypothesis", "node_modules", "results", "*.pyc")
INSTALL_TIMEOUT_S = 900.0  # building wheels fetches hatchling; quickfix would compile


def install_blocks() -> list[tuple[str, str]]:
    """``(page, text)`` of every distinct ``bash install`` block."""
    seen: dict[str, str] = {}
    for page in RUN_PAGES:
        for text in _install_texts(page):
            seen.setdefault(text, str(page.relative_to(ROOT)))
    return [(page, text) for text, page in seen.items()]


def _is_install(page: Path, text: str) -> bool:
    source = page.read_text(encoding="utf-8")
    return f"```bash install\n{text}```" in source


def test_the_readme_and_getting_started_show_the_same_install_commands() -> None:
    readme = _install_texts(README)
    guide = _install_texts(ROOT / "docs" / "getting-started.md")
    assert len(readme) == 2, "from the checkout, and from wheels"
    assert [_commands(t) for t in readme] == [_commands(t) for t in guide]
    assert {text for _, text in install_blocks()} >= set(readme) | set(guide)


def _install_texts(page: Path) -> list[str]:
    return [text for language, _, text in blocks(page)
            if language == "bash" and _is_install(page, text)]


def _commands(text: str) -> list[str]:
    return [line.split(" #")[0].strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")]


@pytest.mark.slow
@pytest.mark.parametrize(("page", "text"), [
    pytest.param(page, text, id=f"{page}#{index}")
    for index, (page, text) in enumerate(install_blocks())])
def test_install_block_runs_in_a_clean_venv(page: str, text: str, tmp_path: Path) -> None:
    checkout = tmp_path / "stockfish-rt"
    shutil.copytree(ROOT, checkout, ignore=_COPY_IGNORE)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, clear=True)
    bindir = env_dir / "bin"
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "STOCKFISH_PLUGINS", "PYTHONHOME")}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(env_dir)
    script = f"set -euo pipefail\n{text}"
    out = subprocess.run(["bash", "-c", script], cwd=checkout, env=env, capture_output=True,
                         text=True, timeout=INSTALL_TIMEOUT_S, check=False)
    assert out.returncode == 0, f"{page}:\n{text}\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
    listed = subprocess.run([str(bindir / "stockfish-rt"), "plugins", "--json"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120, check=True)
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert {"sim", "zmq"} <= set(plugins), plugins
    assert not [p for p in plugins.values() if p["error"]], plugins
    where = subprocess.run([str(bindir / "python"), "-c",
                            "import stockfish_core, stockfish_zmq; print(stockfish_core.__file__)"],
                           env=env, capture_output=True, text=True, timeout=120, check=True)
    installed = Path(where.stdout.strip())
    assert env_dir in installed.parents, "the package must be installed, not found in the checkout"
    assert sys.prefix not in str(installed)
