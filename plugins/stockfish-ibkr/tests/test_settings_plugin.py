"""Settings validation, environment overrides, secrecy of the account, plugin hooks."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from stockfish_core import plugins
from stockfish_core.config import load_config
from stockfish_core.errors import ConfigError
from stockfish_core.router import DataFeedRouter
from stockfish_ibkr.pacing import HistoricalPacer
from stockfish_ibkr.settings import IBKRSettings, mask_account


def test_defaults_follow_the_seed() -> None:
    s = IBKRSettings()
    assert (s.host, s.port, s.client_id, s.backend) == ("127.0.0.1", 7497, 1, "ib_insync")
    assert s.market_data_type_code == 1
    assert IBKRSettings.ENV_OVERRIDES == {"IBKR_HOST": "host", "IBKR_PORT": "port",
                                          "IBKR_CLIENT_ID": "client_id"}


@pytest.mark.parametrize(("name", "code"), [("live", 1), ("frozen", 2), ("delayed", 3),
                                             ("delayed_frozen", 4), ("3", 3)])
def test_market_data_types(name: str, code: int) -> None:
    assert IBKRSettings(market_data_type=name).market_data_type_code == code


@pytest.mark.parametrize(("field", "value", "message"), [
    ("port", 0, "TCP port"), ("backend", "ibapi", "ib_insync"),
    ("market_data_type", "realtime", "live"), ("max_messages_per_second", 60, "50"),
    ("contracts", {"X": {"secType": "WARRANT"}}, "secType"),
    ("contracts", {"X": {"secType": "STK", "colour": "red"}}, "unknown contract field"),
])
def test_bad_settings_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IBKRSettings(**{field: value})


def test_config_env_overrides_and_masked_account(fresh_plugins: None) -> None:
    config = load_config({"connectors": {"ibkr": {"port": 4002, "account": "DU7654321",
                                                  "backend": "ib_async"}}},
                         env={"IBKR_HOST": "127.0.0.1", "IBKR_PORT": "4001",
                              "IBKR_CLIENT_ID": "17"})
    settings = config.connectors["ibkr"].settings
    assert isinstance(settings, IBKRSettings)
    assert (settings.port, settings.client_id, settings.backend) == (4001, 17, "ib_async")
    assert settings.account_id == "DU7654321"
    assert "DU7654321" not in repr(settings)
    assert mask_account(settings.account) == "DU*****21"


def test_config_errors_name_the_path(fresh_plugins: None) -> None:
    with pytest.raises(ConfigError, match=r"connectors\.ibkr\.port"):
        load_config({"connectors": {"ibkr": {"port": "abc"}}}, env={})


def test_account_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    from stockfish_ibkr.connector import IBKRConnector

    with caplog.at_level(logging.DEBUG):
        IBKRConnector(account="DU7654321")
    assert "DU7654321" not in caplog.text and "DU*****21" in caplog.text


def test_plugin_registers_and_its_venue_serves_a_connector(fresh_plugins: None) -> None:
    info = plugins.load_plugins()["ibkr"]
    assert info.error is None and info.connector_types == ["ibkr"]
    assert "stockfish_simulated_venues" in info.hooks
    venues: dict[str, object] = {}
    plugins.get_plugin_manager().hook.stockfish_simulated_venues(
        register=venues.__setitem__)
    venue = venues["ibkr"]()  # type: ignore[operator]
    entry = venue.start()
    try:
        assert entry["type"] == "ibkr" and entry["host"] == "127.0.0.1" and entry["port"] > 0
        settings = {k: v for k, v in entry.items() if k != "type"}
        connector = plugins.create_connector("ibkr", IBKRSettings(**settings),
                                             router=DataFeedRouter())
        try:
            assert connector.connect()
            assert type(connector).capabilities == plugins.get_connector_type(
                "ibkr").capabilities
        finally:
            connector.close()
    finally:
        venue.stop()


def test_plugin_module_is_cheap_to_import() -> None:
    code = ("import sys, json, stockfish_ibkr.plugin; print(json.dumps("
            "[m for m in ('ib_insync', 'ib_async', 'eventkit') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert json.loads(out.stdout) == []


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_historical_pacer_limits() -> None:
    clock = _Clock()
    pacer = HistoricalPacer(max_requests=2, window=600.0, identical_interval=15.0, clock=clock,
                            margin=0.0)
    assert pacer.check("a") == 0
    assert pacer.check("a") == pytest.approx(15.0)
    assert pacer.check("b") == 0
    assert pacer.check("c") == pytest.approx(600.0)
    clock.now += 600.0
    assert pacer.check("c") == 0


def test_historical_pacer_same_contract_rule_and_margin() -> None:
    clock = _Clock()
    pacer = HistoricalPacer(clock=clock)  # IB's windows, each half a second longer
    for i in range(5):
        assert pacer.check(("SPY", i), ("SPY", "TRADES")) == 0
    # A sixth for the same contract and tick type within two seconds breaks IB's rule.
    assert pacer.check(("SPY", 5), ("SPY", "TRADES")) == pytest.approx(2.5)
    assert pacer.check(("QQQ", 0), ("QQQ", "TRADES")) == 0
    clock.now += 2.5
    assert pacer.check(("SPY", 5), ("SPY", "TRADES")) == 0
    assert pacer.check(("SPY", 5), ("SPY", "TRADES")) == pytest.approx(15.5)  # identical
    assert pacer.check(("BA", 0), ("SPY", "BID_ASK"), weight=2) == 0
    assert pacer.identical_recently(("SPY", 5))
