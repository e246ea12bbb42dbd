"""The example as a user meets it: discovery, YAML config, the venue hook, `stockfish-rt run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from stockfish_core import plugins
from stockfish_core.config import load_config
from stockfish_core.errors import ConfigError
from stockfish_core.testing.fixtures import fresh_plugins  # noqa: F401 - a fixture
from stockfish_example_rest.settings import RestSettings
from stockfish_example_rest.testing import RestVenue

EXAMPLE = Path(__file__).resolve().parents[1]
STOCKFISH_RT = Path(sys.executable).with_name("stockfish-rt")


def test_discovered_through_its_entry_point(fresh_plugins: None) -> None:
    info = plugins.load_plugins()["rest"]
    assert info.error is None
    assert info.dist == "stockfish-example-rest"
    assert info.connector_types == ["rest"]
    assert set(info.hooks) == {"stockfish_register_connectors", "stockfish_simulated_venues"}
    assert plugins.get_connector_type("rest").settings_class is RestSettings


def test_plugin_module_stays_light() -> None:
    code = ("import sys, stockfish_example_rest.plugin; "
            "print(sorted(m for m in ('stockfish_example_rest.connector', "
            "'stockfish_core.connector', 'urllib.request', 'http.server') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_example_config_loads_with_env_override(fresh_plugins: None) -> None:
    config = load_config(EXAMPLE / "example.yaml", env={"REST_PORT": "9999"})
    settings = config.connectors["rest"].settings
    assert isinstance(settings, RestSettings)
    assert settings.port == 9999
    assert settings.poll_interval == 0.1


def test_bad_settings_name_their_path(fresh_plugins: None) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"connectors": {"rest": {"poll_interval": 0, "max_failed_polls": 0}}},
                    env={})
    paths = {path for path, _ in info.value.problems}
    assert paths == {"connectors.rest.poll_interval", "connectors.rest.max_failed_polls"}
    with pytest.raises(ConfigError) as info:
        load_config({"connectors": {"rest": {"prot": 1}}}, env={})
    assert info.value.problems == [("connectors.rest.prot", "unknown setting (did you mean "
                                                            "'port'?)")]


def test_simulated_venue_is_offered_through_the_hook(fresh_plugins: None) -> None:
    venue = plugins.simulated_venues()["rest"]()
    entry = venue.start()
    try:
        assert isinstance(venue.venue, RestVenue)
        config = load_config({"connectors": {"rest": entry}}, env={})
        assert config.connectors["rest"].settings.port == venue.port
        assert venue.symbols == ("AAA", "BBB")
    finally:
        venue.stop()


def test_stockfish_rt_run_with_the_example_config() -> None:
    with RestVenue(("AAA", "BBB")) as venue:
        env = {**os.environ, "REST_PORT": str(venue.port)}
        env.pop(plugins.ENV_VAR, None)
        out = subprocess.run(
            [str(STOCKFISH_RT), "run", str(EXAMPLE / "example.yaml"), "--symbols", "AAA", "BBB",
             "--depth", "2", "--json", "--duration", "3"],
            check=False, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    updates = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    symbols = {u["symbol"] for u in updates}
    kinds = {u["data_type"] for u in updates}
    assert symbols == {"AAA", "BBB"}, out.stderr[-2000:]
    assert kinds == {"price_tick", "orderbook_snapshot"}


def test_venue_serves_from_the_command_line() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "stockfish_example_rest.testing", "--port", "0",
         "--duration", "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("simulated REST venue on http://127.0.0.1:")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
