"""Restarts of the application against a TWS that kept working: the orders of the last run
back from the journal and settled with what TWS did meanwhile, their ids still answering,
fills applied once, orders placed elsewhere adopted (and cancellable where TWS allows), and
no new order before the last run's orders are reconciled.

The process that ends here is a manager closed with ``on_stop: leave`` (its orders keep
working at TWS, its journal as it left it); ``test_crash_recovery.py`` kills real
processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from stockfish_core.errors import OrderRejectedError
from stockfish_core.journal import OrderJournal
from stockfish_core.manager import ExchangeManager
from stockfish_core.orders import Order, OrderEvent, OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_core.testing.waiting import wait_until
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.testing import FakeTWS

T = 10.0
Make = Callable[..., IBKRConnector]


def _resting(qty: float = 7, side: OrderSide = OrderSide.BUY) -> Order:
    price = 1.0 if side is OrderSide.BUY else 100_000.0
    return Order("SPY", side, qty, OrderType.LIMIT, price=price, time_in_force=TimeInForce.GTC)


class _Run:
    """One run of the application: a manager with the journal and one IBKR connector."""

    def __init__(self, journal: str, make_connector: Make, **settings: object) -> None:
        self.manager = ExchangeManager("round_robin", journal=journal, stop_timeout=3.0)
        self.connector = make_connector(**settings)
        self.manager.add_connector(self.connector, "tws")
        self.events: list[OrderEvent] = []
        self.manager.add_order_listener(self.events.append)

    def kinds(self, kind: str) -> list[OrderEvent]:
        return [e for e in list(self.events) if e.kind == kind]

    def close(self) -> None:
        self.manager.close()


@pytest.fixture
def run(tmp_path: object, make_connector: Make) -> Iterator[Callable[..., _Run]]:
    journal = str(tmp_path / "journal.sqlite3")  # type: ignore[operator]
    made: list[_Run] = []

    def start(**settings: object) -> _Run:
        made.append(_Run(journal, make_connector, **settings))
        assert made[-1].manager.start_all(), made[-1].connector.get_stats()["last_error"]
        return made[-1]

    yield start
    for one in made:
        one.close()


def _perm(run: _Run, order: Order) -> int:
    ids = run.connector.ibkr_order_map.ids(order.client_order_id)
    assert ids is not None and ids[1], order
    return ids[1]


def _venue_fills(tws: FakeTWS, order: Order) -> list[str]:
    return [e["exec_id"] for e in tws.executions if e["order_ref"] == order.client_order_id]


def test_orders_of_the_last_run_are_settled_and_answer_by_their_ids(
        run: Callable[..., _Run], tws: FakeTWS) -> None:
    first = run()
    resting, partial, done = _resting(), _resting(250), Order("SPY", OrderSide.BUY, 3)
    for order in (resting, partial, done):
        first.manager.send_order(order)
    assert first.manager.wait_orders(lambda: resting.status is OrderStatus.SUBMITTED
                                     and partial.status is OrderStatus.SUBMITTED
                                     and done.status is OrderStatus.FILLED, T)
    perms = {o.client_order_id: _perm(first, o) for o in (resting, partial)}
    venue_id = resting.order_id
    first.close()
    assert tws.wait_connected_clients(0)
    # While no process listens: one order fills in two parts, the other in part.
    tws.fill_order(perms[partial.client_order_id], 100)
    tws.fill_order(perms[partial.client_order_id])
    tws.fill_order(perms[resting.client_order_id], 2)

    second = run()
    mine = {o.client_order_id: o for o in second.manager.orders()}
    assert set(mine) == {resting.client_order_id, partial.client_order_id}  # done ended
    got_partial, got_resting = mine[partial.client_order_id], mine[resting.client_order_id]
    assert got_partial.status is OrderStatus.FILLED
    assert [f.exec_id for f in got_partial.fills] == _venue_fills(tws, partial)
    assert got_resting.status is OrderStatus.PARTIALLY_FILLED
    assert got_resting.filled_quantity == 2 and not got_resting.unknown_outcome
    assert len(second.kinds("recovered")) == 2 and len(second.kinds("fill")) == 3
    # The ids of the dead process: client order id, IB order id, permId.
    assert second.manager.get_order_status(resting.client_order_id) is \
        OrderStatus.PARTIALLY_FILLED
    assert venue_id is not None and second.manager.get_order(venue_id) is got_resting
    assert second.connector.find_order(str(perms[resting.client_order_id])) is got_resting
    assert second.manager.get_order_status(done.client_order_id) is OrderStatus.FILLED
    assert second.manager.cancel_order(done.client_order_id) is False
    assert second.manager.cancel_order(resting.client_order_id)
    assert second.manager.wait_orders(lambda: got_resting.status is OrderStatus.CANCELLED, T)
    venue = {o["order_ref"]: o for o in tws.orders()}
    assert venue[resting.client_order_id]["status"] == "Cancelled"
    assert second.connector.get_stats()["orders_external"] == 0
    second.close()

    third = run()  # nothing left open: nothing restored, applied again or adopted
    assert third.manager.orders() == []
    stats = third.connector.get_stats()
    assert stats["fills_applied"] == 0 and stats["orders_external"] == 0
    assert third.manager.get_order(partial.client_order_id).filled_quantity == 250


def test_orders_placed_elsewhere_are_adopted_once_and_cancellable_where_tws_allows(
        run: Callable[..., _Run], tws: FakeTWS) -> None:
    manual = tws.add_external_order("SPY", "BUY", 5, limit_price=1.0, client_id=0)
    other = tws.add_external_order("QQQ", "SELL", 300, limit_price=100_000.0, client_id=7,
                                   order_id=40, order_ref="their-ref", fill=100)
    legacy = tws.add_external_order("IWM", "BUY", 2, limit_price=1.0, client_id=1,
                                    order_id=60, order_ref="before-the-journal")
    first = run()
    found = {o.client_order_id: o for o in first.manager.orders()}
    ids = {f"IB-{o['perm_id']}": o for o in (manual, other, legacy)}
    assert set(found) == set(ids)
    assert all(o.external and not o.unknown_outcome for o in found.values())
    theirs = found[f"IB-{other['perm_id']}"]
    assert theirs.status is OrderStatus.PARTIALLY_FILLED and theirs.filled_quantity == 100
    assert (theirs.symbol, theirs.side, theirs.quantity, theirs.price) == \
        ("QQQ", OrderSide.SELL, 300, 100_000.0)
    assert theirs.tags["ib_client_id"] == "7" and theirs.tags["ib_order_ref"] == "their-ref"
    assert found[f"IB-{manual['perm_id']}"].status is OrderStatus.SUBMITTED
    assert len(first.kinds("external_order")) == 3
    assert [e.fill.exec_id for e in first.kinds("external_fill") if e.fill] == \
        [e["exec_id"] for e in tws.executions]
    stats = first.connector.get_stats()
    assert stats["orders_external"] == 3 and stats["fills_external"] == 1
    # TWS lets this client cancel its own client id's order, and nobody else's.
    with pytest.raises(OrderRejectedError, match="placed by hand in TWS"):
        first.manager.cancel_order(f"IB-{manual['perm_id']}")
    with pytest.raises(OrderRejectedError, match="API client 7"):
        first.manager.cancel_order(str(other["perm_id"]))  # by its permId
    own = found[f"IB-{legacy['perm_id']}"]
    assert first.manager.cancel_order(str(legacy["perm_id"]))
    assert first.manager.wait_orders(lambda: own.status is OrderStatus.CANCELLED, T)
    assert {o["perm_id"]: o["status"] for o in tws.orders()} == {
        manual["perm_id"]: "Submitted", other["perm_id"]: "Submitted",
        legacy["perm_id"]: "Cancelled"}
    assert tws.stats().get("global_cancels", 0) == 0
    first.close()

    second = run()  # the open ones come back from the journal: matched, not adopted again
    again = {o.client_order_id: o for o in second.manager.orders()}
    assert set(again) == {f"IB-{manual['perm_id']}", f"IB-{other['perm_id']}"}
    assert all(o.external and not o.unknown_outcome for o in again.values())
    assert second.kinds("external_order") == [] and second.kinds("external_fill") == []
    assert len(second.kinds("recovered")) == 2
    assert again[f"IB-{other['perm_id']}"].filled_quantity == 100


def test_no_new_order_goes_out_before_the_last_runs_orders_have_their_verdicts(
        make_connector: Make, tws: FakeTWS) -> None:
    """An order journaled but never sent (the process died between the journal and the
    wire): after the restart the connector takes no new order until that order has its
    verdict, REJECTED "never received", given once the grace for late bytes has passed."""
    connector = make_connector()
    connector.journal = OrderJournal()
    unsent = _resting()
    unsent.order_id = "77"  # the id the dead process chose for it
    assert connector.restore_orders([unsent]) == 1
    assert connector.connect()
    assert connector.recovering
    new = _resting()
    with pytest.raises(OrderRejectedError, match="recovering"):
        connector.send_order(new)
    report = connector.reconcile_orders()
    assert report.still_unknown == []
    assert unsent.status is OrderStatus.REJECTED and not unsent.unknown_outcome
    assert "never received" in (unsent.reject_reason or "")
    assert not connector.recovering
    fresh = _resting()
    connector.send_order(fresh)
    assert wait_until(lambda: fresh.status is OrderStatus.SUBMITTED, T)
    assert [r["order_ref"] for r in tws.orders_received] == [fresh.client_order_id]
    assert int(fresh.order_id or 0) > 77  # above the dead process's ids
    connector.journal.close()
