"""Fuzzed configuration files: no exception but ConfigError escapes the loader, and every
problem names a path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stockfish_core import plugins
from stockfish_core.config import load_config
from stockfish_core.errors import ConfigError


@pytest.fixture(autouse=True, scope="module")
def _plugins_loaded() -> Iterator[None]:
    # A fuzzed `plugins: []` would otherwise be the first load in this process and leave
    # an empty registry behind for the tests that follow.
    with plugins.fresh_registry():
        yield


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["${HOME}", "${NOT_SET_ANYWHERE}", "127.0.0.1", "round_robin", "yes"]),
)
KEYS = st.sampled_from(["seed", "venue", "tick_interval", "latency", "listed", "top_size",
                        "heartbeat_interval", "data_only", "read_only", "primary", "enabled",
                        "type", "max_notional", "reconnect_max_attempts", "bogus", "port"])
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)
CONNECTOR = st.dictionaries(KEYS, VALUES, max_size=6)
CONFIG = st.fixed_dictionaries({}, optional={
    "connectors": st.one_of(VALUES, st.dictionaries(
        st.sampled_from(["sim", "paper", "x", "bad-name", "off"]), st.one_of(CONNECTOR, VALUES),
        max_size=3)),
    "manager": st.one_of(VALUES, st.dictionaries(
        st.sampled_from(["failover_strategy", "health_check_interval", "arbitration", "x"]),
        VALUES, max_size=3)),
    "plugins": st.one_of(VALUES, st.lists(st.sampled_from(["sim", "zmq"]), max_size=2)),
    "junk": VALUES,
})


def check(data: object) -> str:
    try:
        load_config(data if isinstance(data, dict) else {"connectors": data}, env={"HOME": "/h"})
    except ConfigError as exc:
        assert exc.problems
        for path, message in exc.problems:
            assert isinstance(path, str) and message
        return "rejected"
    return "accepted"


@settings(max_examples=6000, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(CONFIG)
def test_fuzzed_mappings_never_crash_the_loader(data: dict) -> None:
    check(data)


@settings(max_examples=4000, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_fuzzed_yaml_text_never_crashes_the_loader(text: str) -> None:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text("connectors:\n  sim:\n    " + text.replace("\n", "\n    "),
                        encoding="utf-8")
        try:
            load_config(path, env={})
        except ConfigError as exc:
            assert exc.problems


def test_yaml_dumped_fuzz_round_trip_example() -> None:
    text = yaml.safe_dump({"connectors": {"sim": {"seed": "abc"}}})
    assert "seed" in text
