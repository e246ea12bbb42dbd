"""The order path has one owner: one state object per order, one retention cap, one event
per transition, and no order confused with another that reuses its client order id."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from stockfish_core.errors import DuplicateOrderIdError, UnknownOrderError
from stockfish_core.manager import ExchangeManager
from stockfish_core.orders import Order, OrderEvent, OrderSide, OrderStatus, OrderType
from stockfish_core.sim import SimConnector
from stockfish_core.testing import wait_until
from stockfish_core.testing.conformance import private_core_names_used

T = 10.0


def test_one_state_object_one_event_per_transition(
        make_manager: Callable[..., ExchangeManager]) -> None:
    manager = make_manager(("a",))
    assert manager.start_all()
    events: list[OrderEvent] = []
    manager.add_order_listener(events.append)
    order = Order("SPY", OrderSide.BUY, 5)
    cid = manager.send_order(order)
    assert wait_until(lambda: order.status is OrderStatus.FILLED, T)
    connector = manager.get_connector("a")
    # One state object: the manager hands out the connector's own order, and holds no copy.
    assert connector.orders[cid] is order
    assert manager.get_order(cid) is order
    assert [o for o in manager.orders() if o.client_order_id == cid] == [order]
    assert not any(isinstance(v, dict) and cid in v and v[cid] is order
                   for k, v in vars(manager).items() if k != "connectors")
    # One event per transition: PENDING -> SUBMITTED -> (fills) -> FILLED.
    mine = [e for e in events if e.client_order_id == cid]
    assert mine[0].kind == "submitted" and mine[0].status is OrderStatus.PENDING
    statuses = [(e.kind, e.status) for e in mine[1:]]
    fills = [e for e in mine if e.kind == "fill"]
    assert len(fills) == len(order.fills)
    assert statuses.count(("status", OrderStatus.SUBMITTED)) <= 1
    assert statuses[-1] == ("fill", OrderStatus.FILLED)
    assert len(mine) == 1 + len(order.fills) + statuses.count(("status", OrderStatus.SUBMITTED))


def test_one_retention_cap(make_manager: Callable[..., ExchangeManager]) -> None:
    manager = make_manager(("a",))
    connector = manager.get_connector("a")
    connector.max_terminal_orders = 20  # type: ignore[misc]
    assert manager.start_all()
    sent = []
    for _ in range(60):
        order = Order("SPY", OrderSide.BUY, 1)
        manager.send_order(order)
        sent.append(order)
        assert wait_until(lambda o=order: o.is_terminal, T)
    held = manager.orders()
    assert len(held) == len(connector.orders) <= 20
    assert {o.client_order_id for o in held} == set(connector.orders)
    with pytest.raises(UnknownOrderError):
        manager.get_order(sent[0].client_order_id)
    assert manager.get_order(sent[-1].client_order_id) is sent[-1]


def test_a_different_order_reusing_a_client_order_id_is_refused(
        make_manager: Callable[..., ExchangeManager]) -> None:
    manager = make_manager(("a", "b"), strategy="round_robin", primary=None)
    assert manager.start_all()
    first = Order("SPY", OrderSide.BUY, 1, OrderType.LIMIT, price=0.5, client_order_id="C-1")
    assert manager.send_order(first) == "C-1"
    assert manager.send_order(first) == "C-1"  # the same object again: idempotent
    impostor = Order("QQQ", OrderSide.SELL, 9, client_order_id="C-1")
    for target in (None, "a", "b"):
        with pytest.raises(DuplicateOrderIdError, match="already used by another order"):
            manager.send_order(impostor, target)
    assert manager.get_order("C-1") is first
    assert first.status is OrderStatus.SUBMITTED or first.is_open
    venue = manager.get_connector(first.connector).venue  # type: ignore[attr-defined]
    assert venue.orders_received["C-1"] == 1


def test_the_private_name_check_finds_reach_ins() -> None:
    class ReachesIn(SimConnector):
        def peek(self) -> bool:
            return self._closing.is_set() and bool(self._venue_ids)

    used = private_core_names_used(ReachesIn)
    assert [u.rsplit("ReachesIn: ", 1)[-1] for u in used] == ["self._closing",
                                                             "self._venue_ids"]
