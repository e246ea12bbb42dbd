"""Configuration: the seed's YAML shape, env overrides, secrets, and path-named errors."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import attrs
import pytest
from stockfish_core import plugins
from stockfish_core.config import dump_config, load_config
from stockfish_core.connector import Capabilities
from stockfish_core.errors import ConfigError
from stockfish_core.hookspecs import hookimpl
from stockfish_core.plugins import ConnectorType
from stockfish_core.settings import ConnectorSettings, Secret
from stockfish_core.sim import SimConnector

SECRET = "hunter2-very-secret"


@attrs.frozen(kw_only=True)
class VaultSettings(ConnectorSettings):
    host: str = "127.0.0.1"
    port: int = 9000
    password: Secret | None = None
    endpoints: list[str] = attrs.field(factory=list)

    ENV_OVERRIDES: ClassVar[dict[str, str]] = {"VAULT_HOST": "host", "VAULT_PORT": "port",
                                               "VAULT_ENDPOINTS": "endpoints"}


class VaultPlugin:
    @hookimpl
    def stockfish_register_connectors(self, register):
        register(ConnectorType(name="vault", connector_class=SimConnector,
                               settings_class=VaultSettings, capabilities=Capabilities()))


@pytest.fixture
def vault(fresh_plugins: None) -> Iterator[None]:
    assert plugins.register_plugin(VaultPlugin(), "vault").error is None
    yield


def test_seed_shape_loads(vault: None, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "connectors:\n"
        "  vault:\n    enabled: true\n    primary: true\n    host: 127.0.0.1\n    port: 7497\n"
        "  second:\n    type: vault\n    port: '9001'\n    data_only: true\n"
        "  off:\n    enabled: false\n    type: does_not_matter\n"
        "manager:\n  failover_strategy: best_available\n  health_check_interval: 30\n")
    config = load_config(path, env={})
    assert set(config.connectors) == {"vault", "second"}
    assert config.disabled == ["off"]
    assert config.connectors["vault"].primary
    assert config.connectors["vault"].settings.port == 7497
    assert config.connectors["second"].settings.port == 9001
    assert config.connectors["second"].data_only
    assert config.manager.failover_strategy == "best_available"
    assert config.manager.health_check_interval == 30.0


def test_env_overrides_and_secret_references(vault: None) -> None:
    env = {"VAULT_HOST": "127.0.0.2", "VAULT_PORT": "7000", "VAULT_PASS": SECRET,
           "VAULT_ENDPOINTS": "tcp://127.0.0.1:1, tcp://127.0.0.1:2"}
    config = load_config({"connectors": {"vault": {"port": 1, "password": "${VAULT_PASS}"}}},
                         env=env)
    settings = config.connectors["vault"].settings
    assert (settings.host, settings.port) == ("127.0.0.2", 7000)
    assert settings.endpoints == ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]
    assert isinstance(settings.password, Secret)
    assert settings.password.reveal() == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(dump_config(config))
    assert SECRET not in f"{settings.password}"


def test_env_overrides_skip_ambiguous_connectors(vault: None) -> None:
    config = load_config({"connectors": {"a": {"type": "vault"}, "b": {"type": "vault"}}},
                         env={"VAULT_PORT": "7000"})
    assert config.connectors["a"].settings.port == 9000


BAD_INPUTS = [
    ({"connectors": {"vault": {"port": "abc"}}}, "connectors.vault.port: expected an int, got 'abc'"),
    ({"connectors": {"vault": {"port": 1.5}}}, "connectors.vault.port: expected an int, got 1.5"),
    ({"connectors": {"vault": {"prot": 1}}}, "connectors.vault.prot: unknown setting (did you mean 'port'?)"),
    ({"connectors": {"vault": {"data_only": "maybe"}}}, "connectors.vault.data_only: expected true or false"),
    ({"connectors": {"vault": {"heartbeat_interval": 0}}}, "connectors.vault.heartbeat_interval: must be > 0"),
    ({"connectors": {"vault": {"max_notional": -1}}}, "connectors.vault.max_notional: must be >= 0"),
    ({"connectors": {"vault": {"endpoints": 5}}}, "connectors.vault.endpoints: expected a list"),
    ({"connectors": {"vault": {"password": "${MISSING_VAR}"}}}, "connectors.vault.password: environment variable MISSING_VAR is not set"),
    ({"connectors": {"x": {"type": "fax"}}}, "connectors.x.type: unknown connector type 'fax'"),
    ({"connectors": {"vault": {"enabled": "sometimes"}}}, "connectors.vault.enabled: expected true or false"),
    ({"connectors": {"a": {"type": "vault", "primary": True}, "b": {"type": "vault", "primary": True}}}, "connectors.b.primary: only one connector may be primary, got a, b"),
    ({"connectors": {"vault": "yes"}}, "connectors.vault: expected a mapping, got str"),
    ({"connectors": {"bad-name": {}}}, "connectors.bad-name: connector names must be identifiers"),
    ({"manager": {"failover_strategy": "fastest"}}, "manager.failover_strategy: expected one of round_robin, primary_backup, best_available"),
    ({"manager": {"health_check_interval": "soon"}}, "manager.health_check_interval: expected a number"),
    ({"managr": {}}, "managr: unknown section (did you mean 'manager'?)"),
    ({"plugins": "sim"}, "plugins: expected a list of plugin names"),
    ({"connectors": {"vault": {"heartbeat_interval": float("nan")}}}, "connectors.vault.heartbeat_interval: expected a finite number"),
]


@pytest.mark.parametrize(("config", "message"), BAD_INPUTS, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD_INPUTS)])
def test_bad_input_is_named_by_path(vault: None, config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config, env={})
    assert message in str(info.value)


def test_all_problems_are_reported_at_once(vault: None) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"connectors": {"vault": {"port": "x", "prot": 1, "max_notional": -1}},
                     "manager": {"failover_strategy": "fastest"}}, env={})
    paths = [p for p, _ in info.value.problems]
    assert "connectors.vault.port" in paths and "connectors.vault.prot" in paths
    assert "manager.failover_strategy" in paths


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("connectors:\n  sim: [unclosed\n")
    with pytest.raises(ConfigError, match=r"invalid YAML \(line"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    top = tmp_path / "list.yaml"
    top.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(top)


def test_secrets_never_logged(vault: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ConfigError) as info:
            load_config({"connectors": {"vault": {"password": "${P}", "port": "bad"}}},
                        env={"P": SECRET})
        assert SECRET not in str(info.value)
        config = load_config({"connectors": {"vault": {"password": "${P}"}}}, env={"P": SECRET})
        logging.getLogger("test").debug("settings: %r %s", config.connectors["vault"].settings,
                                        config.connectors["vault"].settings.password)
    assert SECRET not in caplog.text


def test_check_command_masks_secrets_and_fails_on_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("connectors:\n  sim:\n    primary: true\n    venue: ${VENUE_NAME}\n")
    env = {"VENUE_NAME": SECRET, "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "stockfish_core.cli", "check", str(good)],
                        capture_output=True, text=True, env=env, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "OK (1 connector(s) enabled)" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("connectors:\n  sim:\n    seed: abc\n    tick_interval: -1\n")
    result = subprocess.run([sys.executable, "-m", "stockfish_core.cli", "check", str(bad)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "connectors.sim.seed: expected an int, got 'abc'" in result.stderr
    assert "Traceback" not in result.stderr
