"""Positions, account values and history through the manager: the contract's optional
capabilities, served by TWS."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from stockfish_core.manager import ExchangeManager
from stockfish_core.orders import Order, OrderSide, OrderStatus
from stockfish_core.positions import Position
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.plugin import CAPABILITIES
from stockfish_ibkr.testing import FakeTWS

T = 10.0


@pytest.fixture
def manager(make_connector: Callable[..., IBKRConnector]) -> Iterator[ExchangeManager]:
    made = ExchangeManager(stop_timeout=3.0)
    made.add_connector(make_connector(), "tws")
    assert made.start_all()
    yield made
    made.close()


def test_the_connector_declares_what_tws_serves() -> None:
    assert IBKRConnector.capabilities is CAPABILITIES
    assert (CAPABILITIES.positions, CAPABILITIES.account, CAPABILITIES.history) == \
        (True, True, True)


def test_positions_come_from_tws(manager: ExchangeManager, tws: FakeTWS) -> None:
    orders = [Order("SPY", OrderSide.BUY, 10), Order("QQQ", OrderSide.SELL, 4)]
    for order in orders:
        manager.send_order(order)
    assert manager.wait_orders(lambda: all(o.status is OrderStatus.FILLED for o in orders), T)
    positions = manager.get_positions()
    assert all(isinstance(p, Position) and p.source == "venue" and p.connector == "tws"
               for p in positions)
    venue = {p["symbol"]: p for p in tws.positions()}
    assert {p.symbol: p.quantity for p in positions} == {"SPY": 10.0, "QQQ": -4.0}
    for p in positions:
        assert p.avg_cost == pytest.approx(venue[p.symbol]["avg_cost"])
        assert p.account == venue[p.symbol]["account"]


def test_account_values_come_from_tws(manager: ExchangeManager) -> None:
    values = manager.get_account()
    assert set(values) == {"tws"}
    account = values["tws"]
    assert account["NetLiquidation:USD"] == pytest.approx(1_000_000.0)
    assert account["AccountType"] == "INDIVIDUAL"


def test_history_through_the_manager(manager: ExchangeManager) -> None:
    bars = manager.get_historical_bars("SPY", duration="1 D", bar_size="1 hour")
    assert bars and all(b.symbol == "SPY" and b.interval_s == 3600 for b in bars)
    assert manager.get_historical_bars("SPY", "tws", duration="1 D", bar_size="1 hour",
                                       what_to_show="TRADES") == bars
    with pytest.raises(TypeError, match="unknown option"):
        manager.get_historical_bars("SPY", duration="1 D", bar_size="1 hour", exchange="X")
    with pytest.raises(ValueError, match="timeout"):
        manager.get_historical_bars("SPY", duration="1 D", bar_size="1 hour", timeout=-1)
