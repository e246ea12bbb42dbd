"""Orders at the fake TWS across restarts, and orders it holds that no API client placed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stockfish_ibkr.testing import FakeTWS
from stockfish_ibkr.testing.raw_client import RawClient

Raw = Callable[..., RawClient]


def _resting(client: RawClient, ref: str, qty: float = 5, price: float = 100.0) -> Any:
    order = client.mod.LimitOrder("BUY", qty, price)
    order.orderRef = ref
    order.tif = "GTC"
    return order


def _placed(client: RawClient, symbol: str, order: Any, status: str = "Submitted") -> Any:
    trade = client.ib.placeOrder(client.contract(symbol), order)
    assert client.wait(lambda: trade.orderStatus.status == status), trade
    return trade


def test_restart_that_forgets_working_orders(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    resting = _placed(client, "SPY", _resting(client, "lost-1"))
    _placed(client, "SPY", client.mod.MarketOrder("BUY", 2), "Filled")
    client.close()
    forgotten = tws.restart(next_valid_id=1, forget=True)
    assert [(o["order_ref"], o["perm_id"]) for o in forgotten] == \
        [("lost-1", resting.orderStatus.permId)]
    assert tws.forgotten_orders() == forgotten
    again = raw(tws.port)
    assert again.ib.reqOpenOrders() == [], "TWS lost its record of the working order"
    assert again.ib.reqAllOpenOrders() == []
    completed = again.ib.reqCompletedOrders(False)
    assert [t.orderStatus.status for t in completed] == ["Filled"], "history is kept"
    assert len(again.ib.reqExecutions()) == 1
    assert tws.fill_working_orders() == 0, "a forgotten order never fills"
    assert tws.stats()["orders_forgotten"] == 1


def test_restart_that_keeps_working_orders(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    resting = _placed(client, "SPY", _resting(client, "kept-1"))
    client.close()
    assert tws.restart(next_valid_id=1) == []
    again = raw(tws.port)
    opened = again.ib.reqOpenOrders()
    assert [(t.order.orderRef, t.order.permId) for t in opened] == \
        [("kept-1", resting.orderStatus.permId)]
    assert tws.fill_working_orders("SPY") == 1


def test_rolled_back_ids_after_a_restart_hit_orders_already_used(raw: Raw,
                                                                 tws: FakeTWS) -> None:
    """A new client process after TWS's restart gets next valid id 1: reusing the id of a
    working order modifies that order, of a filled one gets 104, of a cancelled one 103."""
    first = raw(tws.port)
    working = _placed(first, "SPY", _resting(first, "working", qty=5))
    filled = _placed(first, "SPY", first.mod.MarketOrder("BUY", 1), "Filled")
    cancelled = _placed(first, "SPY", _resting(first, "cancelled"))
    first.ib.cancelOrder(cancelled.order)
    assert first.wait(lambda: cancelled.orderStatus.status == "Cancelled")
    used = [t.order.orderId for t in (working, filled, cancelled)]
    first.close()
    tws.restart(next_valid_id=1)
    assert tws.next_valid_id == 1
    second = raw(tws.port)  # the same client id, a new process
    assert second.ib.client.getReqId() <= max(used), "the client's ids restart below ids used"
    spy = second.contract("SPY")
    fresh = max(used) + 1
    for oid, ref in zip([*used, fresh], ["new-a", "new-b", "new-c", "new-d"], strict=True):
        order = _resting(second, ref, qty=7)
        order.orderId = oid
        second.ib.client.placeOrder(oid, spy, order)
    assert second.wait(lambda: len(tws.orders_received) == 7)
    outcomes = {r["order_ref"]: r["outcome"] for r in tws.orders_received[3:]}
    assert outcomes == {"new-a": "modified", "new-b": "rejected 104", "new-c": "rejected 103",
                        "new-d": "accepted"}
    assert second.wait(lambda: 104 in second.codes(used[1]) and 103 in second.codes(used[2]))
    venue = {o["order_id"]: o for o in tws.orders()}
    assert (venue[used[0]]["order_ref"], venue[used[0]]["quantity"]) == ("working", 7.0), \
        "the old order took the new order's quantity"
    assert working.orderStatus.permId == venue[used[0]]["perm_id"]
    assert tws.stats()["order_id_reuse"] == 3 and tws.next_valid_id == fresh + 1


def test_manual_and_other_client_orders_in_open_orders(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    own = _placed(client, "SPY", _resting(client, "mine"))
    manual = tws.add_external_order("QQQ", "SELL", 10, limit_price=500.0)
    other = tws.add_external_order("SPY", "BUY", 3, limit_price=99.0, client_id=9,
                                   order_id=42, order_ref="other-app")
    assert manual["order_id"] == 0 and manual["client_id"] == 0 and manual["perm_id"] > 0
    assert (other["order_id"], other["client_id"]) == (42, 9)
    mine = client.ib.reqOpenOrders()
    assert [t.order.orderRef for t in mine] == ["mine"], "reqOpenOrders: this client's only"
    everything = client.ib.reqAllOpenOrders()
    seen = {t.order.permId: (t.order.orderId, t.order.clientId, t.order.orderRef)
            for t in everything}
    assert seen == {own.orderStatus.permId: (own.order.orderId, 7, "mine"),
                    manual["perm_id"]: (0, 0, ""), other["perm_id"]: (42, 9, "other-app")}


def test_external_fills_in_executions_and_completed_orders(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    manual = tws.add_external_order("SPY", "BUY", 4, order_type="MKT", fill=4)
    other = tws.add_external_order("QQQ", "SELL", 6, limit_price=100_000.0, client_id=3,
                                   order_ref="their-ref")
    fill = tws.fill_order(other["perm_id"], quantity=2)
    assert (fill["shares"], fill["client_id"], fill["order_ref"]) == (2.0, 3, "their-ref")
    fills = client.ib.reqExecutions()
    assert sorted((f.execution.permId, f.execution.clientId, f.execution.orderId,
                   f.execution.orderRef, f.execution.shares) for f in fills) == sorted([
        (manual["perm_id"], 0, 0, "", 4.0), (other["perm_id"], 3, other["order_id"],
                                              "their-ref", 2.0)])
    done = client.ib.reqCompletedOrders(False)
    assert [(t.order.permId, t.orderStatus.status) for t in done] == \
        [(manual["perm_id"], "Filled")]
    assert client.ib.reqCompletedOrders(True) == [], "apiOnly leaves TWS's manual orders out"
    still = {o["perm_id"]: o for o in tws.orders()}[other["perm_id"]]
    assert (still["status"], still["filled"]) == ("Submitted", 2.0)
    # A client that logs on afterwards learns all of it from what it asks for at logon.
    late = raw(tws.port, client_id=8)
    assert sorted(f.execution.permId for f in late.ib.fills()) == \
        sorted([manual["perm_id"], other["perm_id"]])
    assert manual["perm_id"] in {t.order.permId for t in late.ib.trades()}


def test_client_zero_binds_manual_orders_live(raw: Raw, tws: FakeTWS) -> None:
    master = raw(tws.port, client_id=0)  # IB.connect calls reqAutoOpenOrders(True) for 0
    assert master.wait(lambda: any(r["request"] == "reqAutoOpenOrders"
                                   for r in tws.requests_received))
    manual = tws.add_external_order("SPY", "SELL", 2, limit_price=600.0)
    assert manual["order_id"] < 0, "bound: TWS gives it a negative API id"
    assert master.wait(lambda: any(t.order.permId == manual["perm_id"]
                                   for t in master.ib.openTrades()))
    trade = next(t for t in master.ib.openTrades() if t.order.permId == manual["perm_id"])
    assert trade.order.orderId == manual["order_id"]
    tws.fill_order(manual["perm_id"])
    assert master.wait(lambda: trade.orderStatus.status == "Filled")
    assert [f.execution.shares for f in trade.fills] == [2.0]


def test_tws_cancels_one_order_by_itself(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    trade = _placed(client, "SPY", _resting(client, "expire-me"))
    tws.cancel_order_by_tws(trade.orderStatus.permId, reason="DAY order expired")
    assert client.wait(lambda: trade.orderStatus.status == "Cancelled")
    assert (trade.order.orderId, 202, "Order Canceled - reason:DAY order expired") in \
        client.errors
