"""`stockfish-rt check` semantics: every problem in one pass, in file order, with its path
and line; duplicate keys, ${VAR} references, empty entries, bounds and warnings."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from stockfish_core.config import load_config, problem_lines
from stockfish_core.errors import ConfigError


def _problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return info.value


ONE_PASS = """\
connectors:
  paper:
    type: sim
    seed: abc
    tick_interval: -1
    reconnect_max_attempts: -3
    primary: true
  backup:
    type: sim
    primary: true
    latency: nope
manager:
  failover_strategy: fastest
  health_check_interval: 0
  arbitration:
    feeds: [paper, bakup]
"""


def test_types_ranges_and_cross_field_rules_in_one_pass_in_file_order(
        tmp_path: Path, fresh_plugins: None) -> None:
    error = _problems(tmp_path, ONE_PASS)
    assert error.problems == [
        ("connectors.paper.seed", "expected an int, got 'abc'"),
        ("connectors.paper.tick_interval", "must be > 0, got -1.0"),
        ("connectors.paper.reconnect_max_attempts", "must be >= 0, got -3"),
        ("connectors.backup.primary", "only one connector may be primary, got paper, backup"),
        ("connectors.backup.latency", "expected a number, got 'nope'"),
        ("manager.failover_strategy",
         "expected one of round_robin, primary_backup, best_available, got 'fastest'"),
        ("manager.health_check_interval", "must be > 0, got 0.0"),
        ("manager.arbitration.feeds[1]",
         "no connector named 'bakup' (did you mean 'backup'?) (configured: backup, paper)"),
    ]
    assert error.lines == [4, 5, 6, 10, 11, 13, 14, 16]
    assert problem_lines(error)[0] == "line 4    connectors.paper.seed: expected an int, got 'abc'"


def test_manager_before_connectors_is_still_reported_in_file_order(
        tmp_path: Path, fresh_plugins: None) -> None:
    error = _problems(tmp_path, "manager:\n  stop_timeout: x\nconnectors:\n  sim:\n"
                                "    seed: y\nbogus: 1\n")
    assert [p for p, _ in error.problems] == ["manager.stop_timeout", "connectors.sim.seed",
                                              "bogus"]


def test_duplicate_keys_are_rejected_at_every_level(tmp_path: Path,
                                                    fresh_plugins: None) -> None:
    error = _problems(tmp_path, "connectors:\n  sim:\n    seed: 1\n    seed: 2\n"
                                "  sim:\n    seed: 3\nmanager: {}\nmanager: {}\n")
    assert error.problems == [
        ("connectors.sim.seed", "duplicate key (first at line 3); YAML would silently keep "
                                "the last"),
        ("connectors.sim", "duplicate key (first at line 2); YAML would silently keep the last"),
        ("manager", "duplicate key (first at line 7); YAML would silently keep the last"),
    ]
    assert error.lines == [4, 5, 8]


def test_merge_keys_may_override_without_being_duplicates(tmp_path: Path,
                                                          fresh_plugins: None) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("base: &base\n  type: sim\n  seed: 1\n", encoding="utf-8")
    path.write_text("connectors:\n  a: &base\n    type: sim\n    seed: 1\n"
                    "  b:\n    <<: *base\n    seed: 2\n", encoding="utf-8")
    config = load_config(path, env={})
    assert config.connectors["b"].settings.seed == 2


@pytest.mark.parametrize(("value", "env", "message"), [
    ("${VENUE}", {}, "environment variable VENUE is not set"),
    ("${VENUE}", {"VENUE": ""}, "environment variable VENUE is set but empty"),
    ("${SOME VAR}", {"SOME VAR": "x"}, "malformed reference ${SOME VAR}"),
    ("${1ABC}", {}, "malformed reference ${1ABC}"),
    ("${}", {}, "malformed reference ${}"),
    ("pre-${VENUE", {"VENUE": "x"}, "unterminated reference '${VENUE': write ${NAME}"),
])
def test_bad_environment_references(tmp_path: Path, fresh_plugins: None, value: str,
                                    env: dict[str, str], message: str) -> None:
    error = _problems(tmp_path, f"connectors:\n  sim:\n    venue: '{value}'\n", env)
    assert len(error.problems) == 1
    path, text = error.problems[0]
    assert path == "connectors.sim.venue"
    assert text.startswith(message), text


def test_references_expand_and_dollar_dollar_is_literal(fresh_plugins: None) -> None:
    config = load_config({"connectors": {"sim": {"venue": "a-${V}-$${NOT}-$5"}}},
                         env={"V": "x"})
    assert config.connectors["sim"].settings.venue == "a-x-${NOT}-$5"


def test_an_empty_connector_entry_is_an_error_and_braces_take_the_defaults(
        tmp_path: Path, fresh_plugins: None) -> None:
    error = _problems(tmp_path, "connectors:\n  sim:\n")
    assert error.problems == [("connectors.sim", "empty entry: give its settings (or {} to "
                                                 "take every default)")]
    path = tmp_path / "ok.yaml"
    path.write_text("connectors:\n  sim: {}\n", encoding="utf-8")
    assert load_config(path, env={}).connectors["sim"].settings.venue == "sim"


def test_timeouts_past_threading_timeout_max_are_rejected(fresh_plugins: None) -> None:
    huge = threading.TIMEOUT_MAX * 10
    with pytest.raises(ConfigError) as info:
        load_config({"connectors": {"sim": {"heartbeat_interval": huge,
                                            "reconnect_max_delay": huge}},
                     "manager": {"health_check_interval": huge}}, env={})
    paths = [p for p, _ in info.value.problems]
    assert paths == ["connectors.sim.heartbeat_interval", "connectors.sim.reconnect_max_delay",
                     "manager.health_check_interval"]
    assert all("threading.TIMEOUT_MAX" in m for _, m in info.value.problems)
    # A large value that is not a duration is fine.
    config = load_config({"connectors": {"sim": {"max_notional": huge}}}, env={})
    assert config.connectors["sim"].settings.max_notional == huge


def test_integers_past_64_bits_are_rejected(fresh_plugins: None) -> None:
    with pytest.raises(ConfigError, match=r"connectors.sim.seed: 1{20} is out of range"):
        load_config({"connectors": {"sim": {"seed": int("1" * 20)}}}, env={})


def test_an_environment_override_names_its_variable(fresh_plugins: None) -> None:
    pytest.importorskip("stockfish_ibkr")
    with pytest.raises(ConfigError) as info:
        load_config({"connectors": {"ibkr": {}}}, env={"IBKR_PORT": "abc"})
    assert info.value.problems == [
        ("connectors.ibkr.port", "expected an int, got 'abc' (from environment variable "
                                 "IBKR_PORT)")]


def test_ib_client_id_is_a_32_bit_int(fresh_plugins: None) -> None:
    pytest.importorskip("stockfish_ibkr")
    with pytest.raises(ConfigError) as info:
        load_config({"connectors": {"ibkr": {"client_id": 12345678901234567890}}}, env={})
    assert info.value.problems[0][0] == "connectors.ibkr.client_id"
    with pytest.raises(ConfigError, match="32-bit"):
        load_config({"connectors": {"ibkr": {"client_id": 2**31}}}, env={})
    assert load_config({"connectors": {"ibkr": {"client_id": 2**31 - 1}}},
                       env={}).connectors["ibkr"].settings.client_id == 2**31 - 1


def test_warnings_do_not_fail(fresh_plugins: None) -> None:
    assert load_config({}, env={}).warnings == [
        ("connectors", "no connector is enabled: `stockfish-rt run` would have nothing to run")]
    config = load_config({"connectors": {"a": {"type": "sim", "reconnect_initial_delay": 5,
                                               "reconnect_max_delay": 1},
                                         "b": {"type": "sim", "enabled": False}},
                          "manager": {"arbitration": {"feeds": ["a", "b"]}}}, env={})
    assert [p for p, _ in config.warnings] == ["connectors.a.reconnect_initial_delay",
                                              "manager.arbitration.feeds[1]"]


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockfish_core.cli", "check", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_check_command_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(ONE_PASS, encoding="utf-8")
    result = _check(path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}: invalid configuration (8 problems)"
    assert lines[1] == "  line 4    connectors.paper.seed: expected an int, got 'abc'"
    assert lines[-1].startswith("  line 16   manager.arbitration.feeds[1]: no connector")
    assert "Traceback" not in result.stderr


def test_check_command_warns_on_an_empty_configuration(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    result = _check(path)
    assert result.returncode == 0, result.stderr
    assert "warning: connectors: no connector is enabled" in result.stderr
    assert "OK (0 connector(s) enabled, 1 warning(s))" in result.stdout
