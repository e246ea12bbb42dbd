"""Order routing: strategies, eligibility, ownership, idempotence."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
from stockfish_core.errors import OrderRejectedError, UnknownOrderError
from stockfish_core.manager import ExchangeManager, FailoverStrategy
from stockfish_core.orders import Order, OrderStatus, OrderType
from stockfish_core.testing import wait_until

from tests.manager.conftest import venue

Make = Callable[..., ExchangeManager]


def limit(symbol: str = "SPY") -> Order:
    return Order(symbol, "BUY", 1, OrderType.LIMIT, price=0.5)


def test_seed_api_shape(make_manager: Make) -> None:
    manager = make_manager(("ibkr", "fix"), primary="ibkr")
    assert manager.primary_connector == "ibkr"
    assert len(manager.connectors) == 2
    assert manager.list_connectors() == ["ibkr", "fix"]
    assert manager.get_connector("fix").name == "fix"
    with pytest.raises(KeyError, match="no connector named 'zmq'"):
        manager.get_connector("zmq")
    with pytest.raises(ValueError, match="already added"):
        manager.add_connector(manager.get_connector("fix"), "fix")


def test_primary_backup_prefers_the_primary(make_manager: Make) -> None:
    manager = make_manager(("a", "b", "c"), primary="b")
    assert manager.start_all()
    owners = {manager.send_order(limit()) and manager.orders()[-1].connector for _ in range(5)}
    assert owners == {"b"}


def test_round_robin_rotates(make_manager: Make) -> None:
    manager = make_manager(("a", "b", "c"), strategy="round_robin")
    assert manager.start_all()
    orders = [limit() for _ in range(9)]
    for order in orders:
        manager.send_order(order)
    assert Counter(o.connector for o in orders) == {"a": 3, "b": 3, "c": 3}
    assert [o.connector for o in orders[:3]] == ["a", "b", "c"]


def test_best_available_avoids_the_slow_and_erroring_venue(make_manager: Make) -> None:
    manager = make_manager(("a", "b"), strategy="best_available", primary=None)
    assert manager.start_all()
    slow = manager.get_connector("a")
    venue(manager, "a").latency = 0.25  # 250 ms order round trips
    warm = [manager.send_order(limit(), "a") for _ in range(3)]
    assert wait_until(lambda: all(manager.get_order_status(i) is OrderStatus.SUBMITTED
                                  for i in warm), 5)
    assert manager.get_health_status()["a"]["score"] < manager.get_health_status()["b"]["score"]
    order = limit()
    manager.send_order(order)
    assert order.connector == "b"
    assert slow.get_stats()["order_latency_ms_p50"] >= 200


def test_data_only_and_read_only_never_get_orders(make_manager: Make) -> None:
    manager = make_manager(("feed", "ro", "trade"), strategy="round_robin", primary=None,
                           data_only=("feed",))
    manager.get_connector("ro").read_only = True
    assert manager.start_all()
    orders = [limit() for _ in range(4)]
    for order in orders:
        manager.send_order(order)
    assert {o.connector for o in orders} == {"trade"}
    assert sum(venue(manager, "feed").orders_received.values()) == 0
    with pytest.raises(OrderRejectedError, match="data-only"):
        manager.send_order(limit(), "feed")


def test_no_eligible_connector_fails_fast_with_reason(make_manager: Make) -> None:
    manager = make_manager(("a", "b"))
    order = limit()
    start = time.monotonic()
    with pytest.raises(OrderRejectedError, match="no connected order-capable connector"):
        manager.send_order(order)
    assert time.monotonic() - start < 0.5
    assert order.status is OrderStatus.REJECTED
    assert "a: DISCONNECTED" in (order.reject_reason or "")
    assert manager.get_stats()["manager"]["orders_refused"] == 1


def test_orders_belong_to_their_connector(make_manager: Make) -> None:
    manager = make_manager(("a", "b"), strategy="round_robin")
    assert manager.start_all()
    first, second = limit(), limit()
    manager.send_order(first)
    manager.send_order(second)
    assert (first.connector, second.connector) == ("a", "b")
    assert wait_until(lambda: second.order_id is not None, 5)
    assert manager.get_order_status(second.order_id) is OrderStatus.SUBMITTED  # venue id
    assert manager.cancel_order(second.client_order_id)
    assert wait_until(lambda: second.status is OrderStatus.CANCELLED, 5)
    assert first.status is OrderStatus.SUBMITTED
    assert venue(manager, "a").orders_received[second.client_order_id] == 0
    with pytest.raises(UnknownOrderError):
        manager.cancel_order("nope")


def test_the_same_order_is_sent_once(make_manager: Make) -> None:
    manager = make_manager(("a", "b"), strategy="round_robin")
    assert manager.start_all()
    order = limit()
    ids = {manager.send_order(order) for _ in range(5)}
    assert len(ids) == 1
    received = venue(manager, "a").orders_received[order.client_order_id] + \
        venue(manager, "b").orders_received[order.client_order_id]
    assert received == 1


def test_strategy_names_round_trip() -> None:
    assert {s.value for s in FailoverStrategy} == {"round_robin", "primary_backup",
                                                   "best_available"}
