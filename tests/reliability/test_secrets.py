"""Secrets never appear in logs (DEBUG included), reprs, to_dict, stats, `stockfish-rt check`
output or exception messages: every captured output is grepped for the secret values."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from stockfish_core.config import dump_config, load_config
from stockfish_core.errors import ConfigError
from stockfish_core.manager import ExchangeManager
from stockfish_core.orders import Order, OrderStatus
from stockfish_core.testing import wait_until

pytest.importorskip("stockfish_ibkr")
from stockfish_ibkr.testing import FakeTWS

ACCOUNT = "DU7654321"  # an IB account id: sensitive
TOKEN = "s3cr3t-T0ken-value"  # any ${VAR} secret


def test_ibkr_account_never_leaks(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                  capfd: pytest.CaptureFixture[str]) -> None:
    tws = FakeTWS(accounts=(ACCOUNT,), tick_interval=0.02)
    tws.start()
    config = tmp_path / "c.yaml"
    config.write_text(
        "connectors:\n"
        "  ibkr:\n"
        "    primary: true\n"
        f"    port: {tws.port}\n"
        "    account: ${IB_ACCOUNT}\n"
        "    reconnect_initial_delay: 0.05\n")
    env = {"IB_ACCOUNT": ACCOUNT}
    outputs: list[str] = []
    try:
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("ib_insync").setLevel(logging.DEBUG)
            manager = ExchangeManager.from_config(config, env=env)
            with manager:
                manager.subscribe_price("SPY")
                order = Order("SPY", "BUY", 1)
                manager.send_order(order)
                assert wait_until(lambda: order.status is OrderStatus.FILLED, 10)
                tws.drop_connections()
                connector = manager.get_connector("ibkr")
                assert wait_until(lambda: connector.is_connected
                                  and connector.stats.reconnections >= 1, 15)
                outputs += [repr(connector.settings), str(connector.settings),
                            repr(connector), json.dumps(manager.get_stats(), default=str),
                            json.dumps(order.to_dict(), default=str),
                            json.dumps(manager.get_health_status(), default=str)]
            logging.getLogger("test").debug("settings %r %s", connector.settings,
                                            connector.settings.account)
        outputs.append(json.dumps(dump_config(load_config(config, env=env)), default=str))
        try:
            bad = tmp_path / "bad.yaml"
            bad.write_text("connectors:\n  ibkr:\n    account: ${IB_ACCOUNT}\n    port: x\n")
            load_config(bad, env=env)
        except ConfigError as exc:
            outputs.append(str(exc))
        check = subprocess.run([sys.executable, "-m", "stockfish_core.cli", "-vv", "check",
                                str(config)], capture_output=True, text=True, timeout=60,
                               env={"IB_ACCOUNT": ACCOUNT, "PATH": "/usr/bin:/bin"},
                               check=False)
        assert check.returncode == 0, check.stderr
        outputs += [check.stdout, check.stderr]
    finally:
        tws.stop()
    captured = capfd.readouterr()
    outputs += [caplog.text, captured.out, captured.err]
    assert "DEBUG" in caplog.text  # DEBUG logging really was on
    for text in outputs:
        assert ACCOUNT not in text, text[:2000]


def test_var_secret_in_a_sim_config_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    from stockfish_core.settings import Secret

    with caplog.at_level(logging.DEBUG):
        secret = Secret(TOKEN)
        logging.getLogger("stockfish_core").debug("connecting with %s / %r / raw %s",
                                                  secret, secret, TOKEN)
        try:
            raise ValueError(f"bad token {secret}")
        except ValueError as exc:
            message = str(exc)
    assert TOKEN not in caplog.text and TOKEN not in message
    assert "********" in caplog.text
