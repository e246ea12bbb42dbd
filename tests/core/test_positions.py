"""Positions: derived from fills (and labelled so) where the venue reports none; across the
connectors through the manager; account values and history only where a venue serves them."""

from __future__ import annotations

import pytest
from stockfish_core.errors import ConnectorError
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import now_ns
from stockfish_core.orders import Fill, Order, OrderSide, OrderStatus
from stockfish_core.positions import Position, positions_from_fills
from stockfish_core.sim import SimConnector

T = 10.0


def _filled(side: str, qty: float, price: float, ts: int, *, symbol: str = "SPY",
            account: str | None = None) -> Order:
    order = Order(symbol, side, qty, account=account)
    order.apply_fill(Fill(f"E{ts}", qty, price, ts_event=ts))
    return order


def test_positions_from_fills_follow_the_fills_in_time_order() -> None:
    orders = [
        _filled("BUY", 100, 10.0, 1),
        _filled("BUY", 100, 12.0, 2),   # long 200 @ 11
        _filled("SELL", 50, 20.0, 3),   # long 150, still @ 11
        _filled("SELL", 250, 15.0, 4),  # crosses zero: short 100 @ 15
        _filled("BUY", 5, 1.0, 5, symbol="QQQ", account="A2"),
        _filled("SELL", 5, 2.0, 6, symbol="QQQ", account="A2"),  # flat
    ]
    got = {(p.account, p.symbol): p for p in positions_from_fills("x", reversed(orders))}
    spy = got[(None, "SPY")]
    assert spy == Position("x", "SPY", -100.0, 15.0, None, "fills")
    qqq = got[("A2", "QQQ")]
    assert qqq.quantity == 0.0 and qqq.avg_cost is None


def test_the_manager_gathers_positions_and_says_where_they_come_from() -> None:
    manager = ExchangeManager("round_robin", health_check_interval=1.0, stop_timeout=3.0)
    for name in ("a", "b"):
        manager.add_connector(SimConnector(name=name, venue=f"pos-{name}-{now_ns()}",
                                           tick_interval=0.005), name)
    try:
        assert manager.start_all()
        orders = [Order("SPY", OrderSide.BUY, 3), Order("SPY", OrderSide.BUY, 2),
                  Order("QQQ", OrderSide.SELL, 1)]
        for order in orders:
            manager.send_order(order)
        assert manager.wait_orders(lambda: all(o.status is OrderStatus.FILLED
                                               for o in orders), T)
        positions = manager.get_positions()
        assert {p.source for p in positions} == {"fills"}
        net = {}
        for p in positions:
            net[p.symbol] = net.get(p.symbol, 0.0) + p.quantity
        assert net == {"SPY": 5.0, "QQQ": -1.0}
        assert {p.connector for p in positions} == {"a", "b"}
        assert manager.get_positions("a") == [p for p in positions if p.connector == "a"]
        assert manager.get_account() == {}  # no sim venue reports account values
        with pytest.raises(ConnectorError, match="reports no account values"):
            manager.get_account("a")
        with pytest.raises(ConnectorError, match="no connected connector serves historical"):
            manager.get_historical_bars("SPY")
    finally:
        manager.close()
