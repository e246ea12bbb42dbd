"""The documentation runs: every code block marked to run is run, and the configuration
reference matches the settings classes installed here.

Convention (documented in docs/authoring.md#documentation-code-blocks): a fenced block whose
info string is ``python run``, ``yaml run`` or ``bash run`` is run, in the order of the page,
in one temporary directory per page:

- ``yaml run``: loaded through ``stockfish_core.config.load_config`` (``${VAR}`` references
  get a dummy value); a first line ``# file: NAME`` also writes it there as NAME;
- ``bash run``: every line is a ``stockfish-rt ...`` command, run with a timeout;
- ``python run``: run as a script with the current interpreter.

Blocks without ``run`` are illustrations (installing, commands that change the machine).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from stockfish_core import docgen, plugins
from stockfish_core.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
README = ROOT / "README.md"
# Every page whose runnable blocks run: the README, each package's README and docs/.
RUN_PAGES = [README, ROOT / "core" / "README.md", *sorted(ROOT.glob("plugins/*/README.md")),
             *PAGES]
# Set where every plugin is installed (tox env `integration`): a block that needs a plugin
# then fails instead of being skipped.
REQUIRE_ALL = os.environ.get("STOCKFISH_DOCS_REQUIRE_ALL") == "1"
_IMPORT = re.compile(r"^\s*(?:from|import)\s+(stockfish_\w+)", re.MULTILINE)
_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STOCKFISH_RT = Path(sys.executable).with_name("stockfish-rt")


def blocks(page: Path) -> list[tuple[str, bool, str]]:
    """``(language, runnable, text)`` for every fenced block of ``page``."""
    out = []
    for match in _FENCE.finditer(page.read_text(encoding="utf-8")):
        info = match.group(1).split()
        out.append((info[0] if info else "", "run" in info[1:], match.group(2)))
    return out


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != plugins.ENV_VAR}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run_yaml(text: str, cwd: Path) -> None:
    first = text.splitlines()[0] if text.strip() else ""
    name = first.removeprefix("# file:").strip() if first.startswith("# file:") else None
    path = cwd / (name or "block.yaml")
    path.write_text(text, encoding="utf-8")
    data = yaml.safe_load(text) or {}
    types = {(entry or {}).get("type", name) for name, entry in
             (data.get("connectors") or {}).items()}
    missing = types - set(plugins.list_connector_types())
    if missing and not REQUIRE_ALL:
        pytest.skip(f"connector types not installed here: {sorted(missing)}")
    assert not missing, f"connector types not installed here: {sorted(missing)}"
    env = {var: "dummy-value" for var in _ENV_REF.findall(text)}
    config = load_config(path, env=env)
    assert config.connectors, "a configuration in the docs should enable a connector"


def _run_bash(text: str, cwd: Path) -> None:
    for line in text.splitlines():
        command = line.split(" #", 1)[0].strip()
        if not command or command.startswith("#"):
            continue
        args = shlex.split(command)
        assert args[0] == "stockfish-rt", f"only stockfish-rt commands may run: {line!r}"
        exe = [str(_STOCKFISH_RT)] if _STOCKFISH_RT.exists() else \
            [sys.executable, "-m", "stockfish_core.cli"]
        out = subprocess.run([*exe, *args[1:]], cwd=cwd, env=_env(), capture_output=True,
                             text=True, timeout=90, check=False)
        assert out.returncode == 0, f"{command}: exit {out.returncode}\n{out.stderr[-3000:]}"


def _skip_without_plugins(modules: set[str]) -> None:
    import importlib.util

    missing = sorted(m for m in modules if importlib.util.find_spec(m) is None)
    if missing and not REQUIRE_ALL:
        pytest.skip(f"packages not installed here: {missing}")
    assert not missing, f"packages not installed here: {missing}"


def _run_python(text: str, cwd: Path) -> None:
    _skip_without_plugins(set(_IMPORT.findall(text)))
    script = cwd / "block.py"
    script.write_text(text, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], cwd=cwd, env=_env(),
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, f"python block failed:\n{text}\n{out.stderr[-3000:]}"


RUNNERS = {"yaml": _run_yaml, "bash": _run_bash, "python": _run_python}


OURS = ("getting-started.md", "configuration.md", "plugin-contract.md", "authoring.md",
        "operations.md", "journal.md", "CHANGELOG.md")


def test_the_docs_exist() -> None:
    names = {p.name for p in PAGES}
    assert set(OURS) <= names


@pytest.mark.parametrize("page", [p for p in RUN_PAGES if any(r for _, r, _ in blocks(p))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_runnable_blocks_run(page: Path, tmp_path: Path, fresh_plugins: None) -> None:
    for language, runnable, text in blocks(page):
        if runnable:
            assert language in RUNNERS, f"{page.name}: cannot run a {language!r} block"
            RUNNERS[language](text, tmp_path)


def test_every_block_says_its_language() -> None:
    for page in (DOCS / name for name in OURS):
        for language, _, text in blocks(page):
            assert language, f"{page.name}: a code block has no language:\n{text[:200]}"


def test_configuration_reference_is_current(fresh_plugins: None) -> None:
    """Only the connector types installed in this environment are compared (tox env
    ``example`` has the core and the example; the full environment has every plugin)."""
    problems = docgen.check(DOCS / "configuration.md")
    assert not problems, ("docs/configuration.md is out of date: " + "; ".join(problems)
                          + " — run: python -m stockfish_core.docgen --write "
                            "docs/configuration.md")


def test_reference_generation_keeps_sections_of_absent_connectors(
        fresh_plugins: None) -> None:
    committed = (DOCS / "configuration.md").read_text(encoding="utf-8")
    absent = ("<!-- begin connector: elsewhere -->\n### `elsewhere`\n"
              "<!-- end connector: elsewhere -->\n")
    rendered = docgen.render(committed + "\n" + absent)
    _, sections = docgen.split_sections(rendered)
    assert sections["elsewhere"] == absent
    assert set(plugins.list_connector_types()) <= set(sections)
