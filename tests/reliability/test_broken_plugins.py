"""Broken plugins: one that raises at import, one whose hook raises, one that registers a
duplicate connector name, one that registers a malformed type. Each is installed as a real
distribution (a .dist-info with its entry point), reported by `stockfish-rt plugins`, and
skipped; the rest load; a configuration that requires one fails with an error naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stockfish_core import plugins

from tests.support.plugin_fixtures.broken_plugins import install


def run_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != plugins.ENV_VAR}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "stockfish_core.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_broken_plugins_are_reported_and_skipped(tmp_path: Path) -> None:
    install(tmp_path)
    result = run_cli("plugins", "--json", env_extra={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    listed = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert listed["sim"]["error"] is None and listed["sim"]["connector_types"] == ["sim"]
    assert listed["good_extra"]["error"] is None
    assert listed["good_extra"]["dist"] == "stockfish-test-good_extra"
    assert "kaboom at import" in listed["raises_at_import"]["error"]
    assert "hook exploded" in listed["hook_raises"]["error"]
    assert "already registered" in listed["duplicate_name"]["error"]
    assert "expected ConnectorType" in listed["malformed_type"]["error"]
    assert "unknown hook 'stockfish_order_evnt' (did you mean 'stockfish_order_event'?)" \
        in listed["misspelled_hook"]["error"]
    for name in ("raising_observer", "counting_observer"):
        assert listed[name]["error"] is None and listed[name]["hooks"] == ["stockfish_failover"]
    for name in ("raises_at_import", "hook_raises", "duplicate_name", "malformed_type",
                 "misspelled_hook"):
        assert listed[name]["connector_types"] == []
        assert listed[name]["version"] == "0.0.1"
    text = run_cli("plugins", env_extra={"PYTHONPATH": str(tmp_path)}).stdout
    assert "ERROR: import failed: RuntimeError: kaboom at import" in text


def test_an_observer_that_raises_costs_only_itself(tmp_path: Path) -> None:
    """Installed side by side with the broken ones: the raising observer is counted, the
    other observer is still called, and the event's caller never sees the error."""
    install(tmp_path)
    code = (
        "import json\n"
        "from stockfish_core import events, plugins\n"
        "infos = plugins.load_plugins()\n"
        "events.emit('stockfish_failover', decision='d1')\n"
        "events.emit('stockfish_failover', decision='d2')\n"
        "import sfx_counting_observer as c\n"
        "print(json.dumps({'seen': c.SEEN, 'failures': events.observer_failures(),\n"
        "                  'loaded': sorted(n for n, i in infos.items() if i.error is None)}))\n")
    env = {k: v for k, v in os.environ.items() if k != plugins.ENV_VAR}
    env["PYTHONPATH"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    result = json.loads(out.stdout)
    assert result["seen"] == ["d1", "d2"]
    assert result["failures"] == {"raising_observer:stockfish_failover": 2}
    assert {"counting_observer", "raising_observer", "sim", "good_extra"} <= \
        set(result["loaded"])
    # Logged once for the burst (the count is exact), with its traceback.
    assert out.stderr.count("observer stockfish_failover raised RuntimeError") == 1


def test_config_naming_a_broken_plugin_fails_clearly(tmp_path: Path) -> None:
    install(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("connectors:\n  feed:\n    type: raises_at_import\n")
    result = run_cli("check", str(cfg), env_extra={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 1
    assert "connectors.feed.type: connector type 'raises_at_import': plugin " \
           "'raises_at_import' (dist stockfish-test-raises_at_import) failed to load" \
           in result.stderr
