"""The authoring guide, end to end: scaffold a connector with ``stockfish-rt new-connector``,
build and install it into a throwaway venv, see it in ``stockfish-rt plugins``, load it from
its YAML config, run it against its simulated venue with ``stockfish-rt run``, and run its
generated tests (the conformance kit) there.

The throwaway venv sees the packages of the environment running this test (stockfish-core
and whatever else is installed) through a ``.pth`` file, so nothing is installed into, or
left behind in, the running environment. The package itself is built from source by pip
(a real wheel build with hatchling), not put on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from stockfish_core.plugins import ENV_VAR

NAME = "acme_fx"
DIST = "stockfish-acme-fx"
STOCKFISH_RT = [sys.executable, "-m", "stockfish_core.cli"]


def _run(cmd: list[str], *, timeout: float, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                         env=env, check=False)
    assert out.returncode == 0, (f"{' '.join(cmd)} exited {out.returncode}\n"
                                 f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def _throwaway_venv(where: Path) -> Path:
    """A venv whose own site-packages come first, then this environment's."""
    venv.create(where, with_pip=True)
    python = where / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                   timeout=60).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    # addsitedir also runs the parent's .pth files (the editable installs of the checkout).
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    Path(purelib, "_stockfish_parent_env.pth").write_text(lines, encoding="utf-8")
    return python


@pytest.mark.slow
def test_scaffold_install_list_configure_run_and_test(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env["PYTHONDONTWRITEBYTECODE"] = "1"

    # 1. scaffold (docs/authoring.md: `stockfish-rt new-connector acme_fx --dir ...`)
    out = _run([*STOCKFISH_RT, "new-connector", NAME, "--dir", str(tmp_path)], timeout=60,
               env=env)
    package = tmp_path / DIST
    assert f"created {package}" in out.stdout

    # 2. install it, built as a wheel, into a throwaway venv
    python = _throwaway_venv(tmp_path / "venv")
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(package)],
         timeout=300, env=env)
    installed = _run([str(python), "-c", "import stockfish_acme_fx, sys; "
                      "print(stockfish_acme_fx.__file__)"], timeout=60, env=env).stdout
    assert str(tmp_path / "venv") in installed, "the package was not installed in the venv"
    cli = [str(python), "-m", "stockfish_core.cli"]

    # 3. `stockfish-rt plugins` lists it, loaded without error
    listed = json.loads(_run([*cli, "plugins", "--json"], timeout=60, env=env).stdout)
    row = next((p for p in listed["plugins"] if p["name"] == NAME), None)
    assert row is not None, f"{NAME} not listed: {[p['name'] for p in listed['plugins']]}"
    assert row["error"] is None and row["dist"] == DIST and row["version"] == "0.1.0"
    assert [c["name"] for c in row["connectors"]] == [NAME]
    assert row["connectors"][0]["capabilities"]["order_types"] == []

    # 4. its YAML config loads (`stockfish-rt check example.yaml`)
    out = _run([*cli, "check", str(package / "example.yaml")], timeout=60, env=env)
    assert f"type: {NAME}" in out.stdout and "OK (1 connector(s) enabled)" in out.stdout

    # 5. `stockfish-rt run` with that config against the simulated venue
    venue = subprocess.Popen([str(python), "-m", "stockfish_acme_fx.testing", "--port", "0",
                              "--duration", "60"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert venue.stdout is not None
        banner = venue.stdout.readline()
        assert "simulated acme_fx venue on 127.0.0.1:" in banner, banner
        port = banner.split("127.0.0.1:")[1].split()[0]
        out = _run([*cli, "run", str(package / "example.yaml"), "--symbols", "AAA", "BBB",
                    "--json", "--duration", "2"], timeout=60,
                   env={**env, "ACME_FX_PORT": port})
    finally:
        venue.terminate()
        venue.wait(timeout=10)
    updates = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert {u["symbol"] for u in updates} == {"AAA", "BBB"}, out.stderr[-2000:]
    assert {u["data_type"] for u in updates} == {"price_tick"}

    # 6. its generated tests, conformance kit included, pass against the installed package
    out = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"],
               timeout=240, cwd=package, env=env)
    summary = out.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, \
        out.stdout[-3000:]
    assert "data-only connector" in out.stdout  # order tests skipped, not faked
