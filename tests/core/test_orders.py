"""The order state machine: validation, legal transitions, exactly-once fills."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stockfish_core.orders import (
    Fill,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    Transition,
    new_client_order_id,
)


def test_seed_positional_form() -> None:
    order = Order("SPY", OrderSide.BUY, 100, OrderType.LIMIT, price=450.0)
    assert order.status is OrderStatus.PENDING
    assert order.order_id is None
    assert order.client_order_id
    assert order.quantity == 100.0
    assert order.time_in_force is TimeInForce.DAY
    assert Order("SPY", "sell", 1).side is OrderSide.SELL


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"quantity": 0}, "quantity"),
    ({"quantity": -5}, "quantity"),
    ({"quantity": float("nan")}, "quantity"),
    ({"order_type": OrderType.LIMIT}, "needs a price"),
    ({"order_type": OrderType.STOP}, "needs a stop_price"),
    ({"order_type": OrderType.STOP_LIMIT, "price": 1.0}, "needs a stop_price"),
    ({"price": 1.0}, "MARKET order takes no price"),
    ({"order_type": OrderType.LIMIT, "price": -1.0}, "price"),
    ({"symbol": " "}, "symbol"),
])
def test_validation_at_construction(kwargs: dict, message: str) -> None:
    args = {"symbol": "SPY", "side": OrderSide.BUY, "quantity": 10} | kwargs
    with pytest.raises(ValueError, match=message):
        Order(**args)


def test_client_order_ids_are_unique() -> None:
    ids = {new_client_order_id() for _ in range(10_000)}
    assert len(ids) == 10_000


def test_legal_path_and_terminal_never_changes() -> None:
    order = Order("SPY", OrderSide.BUY, 10)
    assert order.apply_status(OrderStatus.SUBMITTED) is Transition.APPLIED
    assert order.apply_status(OrderStatus.SUBMITTED) is Transition.UNCHANGED
    assert order.apply_fill(Fill("e1", 4, 100.0)) is Transition.APPLIED
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.apply_fill(Fill("e2", 6, 101.0)) is Transition.APPLIED
    assert order.status is OrderStatus.FILLED
    assert order.avg_fill_price == pytest.approx(100.6)
    assert order.apply_status(OrderStatus.CANCELLED) is Transition.TERMINAL
    assert order.apply_fill(Fill("e3", 1, 1.0)) is Transition.TERMINAL
    assert order.status is OrderStatus.FILLED and order.filled_quantity == 10


def test_illegal_transitions_are_refused() -> None:
    order = Order("SPY", OrderSide.BUY, 10)
    order.apply_status(OrderStatus.SUBMITTED)
    order.apply_fill(Fill("e1", 5, 1.0))
    assert order.apply_status(OrderStatus.SUBMITTED) is Transition.ILLEGAL
    assert order.apply_status(OrderStatus.PENDING) is Transition.ILLEGAL
    assert order.apply_status(OrderStatus.FILLED) is Transition.ILLEGAL  # 5 of 10 filled
    assert order.status is OrderStatus.PARTIALLY_FILLED


def test_rejection_keeps_reason() -> None:
    order = Order("SPY", OrderSide.BUY, 10)
    assert order.apply_status(OrderStatus.REJECTED, "unknown symbol") is Transition.APPLIED
    assert order.reject_reason == "unknown symbol"
    assert order.is_terminal and not order.is_open


def test_duplicate_overfill_and_invalid_fills() -> None:
    order = Order("SPY", OrderSide.BUY, 10)
    assert order.apply_fill(Fill("e1", 6, 1.0)) is Transition.APPLIED
    assert order.apply_fill(Fill("e1", 6, 1.0)) is Transition.DUPLICATE_FILL
    assert order.apply_fill(Fill("e2", 5, 1.0)) is Transition.OVERFILL
    assert order.apply_fill(Fill("e3", 0, 1.0)) is Transition.INVALID_FILL
    assert order.apply_fill(Fill("e4", 1, float("nan"))) is Transition.INVALID_FILL
    assert order.filled_quantity == 6 and len(order.fills) == 1


def test_concurrent_duplicate_fills_apply_once() -> None:
    order = Order("SPY", OrderSide.BUY, 1000)
    fills = [Fill(f"e{i}", 1, 10.0) for i in range(500)]
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for fill in fills:
            order.apply_fill(fill)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert order.filled_quantity == 500
    assert len(order.fills) == 500


def test_amend_respects_fills() -> None:
    order = Order("SPY", OrderSide.BUY, 10, OrderType.LIMIT, price=5.0)
    order.apply_fill(Fill("e1", 4, 5.0))
    assert order.amend(quantity=3) is Transition.ILLEGAL
    assert order.amend(quantity=8, price=5.5) is Transition.APPLIED
    assert (order.quantity, order.price) == (8, 5.5)


EVENTS = st.lists(st.one_of(
    st.sampled_from(list(OrderStatus)).map(lambda s: ("status", s)),
    st.tuples(st.just("fill"), st.integers(0, 12), st.one_of(st.floats(-1, 12), st.just(float("nan")))),
), max_size=30)


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(EVENTS)
def test_state_machine_invariants(events: list) -> None:
    order = Order("SPY", OrderSide.BUY, 10)
    terminal_seen: OrderStatus | None = None
    for event in events:
        before = (order.status, order.filled_quantity)
        if event[0] == "status":
            result = order.apply_status(event[1])
        else:
            result = order.apply_fill(Fill(f"e{event[1]}", event[2], 1.0))
        if terminal_seen is not None:
            assert (order.status, order.filled_quantity) == before
            assert not result.applied
        assert 0 <= order.filled_quantity <= order.quantity + 1e-9
        assert len({f.exec_id for f in order.fills}) == len(order.fills)
        if order.status is OrderStatus.FILLED:
            assert order.filled_quantity == pytest.approx(order.quantity)
        if order.is_terminal and terminal_seen is None:
            terminal_seen = order.status


def test_commission_reported_after_the_fill() -> None:
    order = Order("SPY", OrderSide.BUY, 10)
    order.apply_fill(Fill("e1", 4, 10.0))
    order.apply_fill(Fill("e2", 6, 10.0))
    assert order.apply_commission("e2", 1.25)
    assert not order.apply_commission("nope", 1.0)
    assert not order.apply_commission("e1", float("nan"))
    assert order.total_commission == pytest.approx(1.25)
    assert [f.commission for f in order.fills] == [0.0, 1.25]
