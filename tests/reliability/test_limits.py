"""Read-only connectors and per-connector limits from the configuration: the manager refuses
violations before anything reaches the wire, with a clear reason."""

from __future__ import annotations

import pytest
from stockfish_core.errors import OrderRejectedError
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import now_ns
from stockfish_core.orders import Order, OrderStatus, OrderType


@pytest.fixture
def manager() -> ExchangeManager:
    tag = now_ns()
    config = {
        "connectors": {
            "watch": {"type": "sim", "venue": f"lim-w-{tag}", "read_only": True},
            "trade": {"type": "sim", "venue": f"lim-t-{tag}", "primary": True,
                      "max_order_quantity": 500, "max_notional": 10_000,
                      "max_orders_per_second": 5},
        },
        "manager": {"failover_strategy": "primary_backup"},
    }
    manager = ExchangeManager.from_config(config)
    assert manager.start_all()
    yield manager
    manager.stop_all()


def received(manager: ExchangeManager) -> int:
    return sum(sum(manager.get_connector(n).venue.orders_received.values())  # type: ignore[attr-defined]
               for n in ("watch", "trade"))


@pytest.mark.parametrize(("order", "connector", "reason"), [
    (Order("SPY", "BUY", 1), "watch", "read-only"),
    (Order("SPY", "BUY", 501), None, "exceeds max_order_quantity 500"),
    (Order("SPY", "BUY", 100, OrderType.LIMIT, price=101.0), None, "exceeds max_notional 10000"),
])
def test_violations_never_reach_the_wire(manager: ExchangeManager, order: Order,
                                         connector: str | None, reason: str) -> None:
    with pytest.raises(OrderRejectedError, match=reason):
        manager.send_order(order, connector)
    assert order.status is OrderStatus.REJECTED and reason in (order.reject_reason or "")
    assert received(manager) == 0


def test_read_only_connector_is_never_chosen(manager: ExchangeManager) -> None:
    orders = [Order("SPY", "BUY", 1, OrderType.LIMIT, price=0.5) for _ in range(3)]
    for order in orders:
        manager.send_order(order)
    assert {o.connector for o in orders} == {"trade"}


def test_rate_limit_from_config(manager: ExchangeManager) -> None:
    outcomes = []
    for _ in range(8):
        try:
            manager.send_order(Order("SPY", "BUY", 1, OrderType.LIMIT, price=0.5))
            outcomes.append("sent")
        except OrderRejectedError as exc:
            assert "rate limit" in str(exc)
            outcomes.append("refused")
    assert outcomes.count("sent") == 5 and outcomes.count("refused") == 3
    assert received(manager) == 5
