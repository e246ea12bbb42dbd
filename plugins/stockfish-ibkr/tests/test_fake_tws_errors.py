"""Errors the fake TWS injects per request, with TWS's side effects, seen by the raw clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from stockfish_ibkr.testing import FakeTWS
from stockfish_ibkr.testing.errors import error_text
from stockfish_ibkr.testing.raw_client import RawClient

Raw = Callable[..., RawClient]
T = 10.0


def _resting(client: RawClient, ref: str, price: float = 100.0, qty: float = 5) -> Any:
    order = client.mod.LimitOrder("BUY", qty, price)
    order.orderRef = ref
    order.tif = "GTC"
    return order


def _place(client: RawClient, symbol: str, order: Any) -> Any:
    trade = client.ib.placeOrder(client.contract(symbol), order)
    oid = trade.order.orderId
    assert client.wait(lambda: oid in {i for i, _, _ in client.errors}
                       or trade.orderStatus.status in ("Submitted", "Filled", "Cancelled")), \
        f"no answer to order {oid}"
    return trade


def _venue(tws: FakeTWS, ref: str) -> list[dict[str, Any]]:
    return [o for o in tws.orders() if o["order_ref"] == ref]


def _outcomes(tws: FakeTWS, ref: str) -> list[str]:
    return [r["outcome"] for r in tws.orders_received if r["order_ref"] == ref]


@pytest.mark.parametrize("code", [103, 104, 105, 106, 107, 109, 110, 201])
def test_order_error_refuses_the_order(raw: Raw, tws: FakeTWS, code: int) -> None:
    client = raw(tws.port)
    tws.inject_error("placeOrder", code, reason="insufficient margin")
    trade = _place(client, "SPY", _resting(client, f"err-{code}"))
    oid = trade.order.orderId
    assert client.codes(oid) == [code]
    text = next(t for i, c, t in client.errors if i == oid)
    expected = {201: "Order rejected - reason:insufficient margin",
                106: f"Can't transmit order ID:{oid}"}.get(code, error_text(code))
    assert text == expected
    assert trade.orderStatus.permId == 0, "TWS sent no openOrder / orderStatus for it"
    assert _venue(tws, f"err-{code}") == [], "the order was not placed"
    assert _outcomes(tws, f"err-{code}") == [f"rejected {code}"]
    # The injection was used once: the next order is accepted.
    after = _place(client, "SPY", _resting(client, f"after-{code}"))
    assert after.orderStatus.status == "Submitted"
    assert tws.pending_errors() == []


def test_error_on_a_modification_leaves_the_order_as_it_was(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    order = _resting(client, "modify-me", price=100.0, qty=5)
    trade = _place(client, "SPY", order)
    assert trade.orderStatus.status == "Submitted"
    tws.inject_error("placeOrder", 105)
    order.lmtPrice = 101.0
    client.ib.placeOrder(trade.contract, order)
    assert client.wait(lambda: 105 in client.codes(order.orderId))
    [venue] = _venue(tws, "modify-me")
    assert (venue["limit_price"], venue["status"]) == (100.0, "Submitted")
    assert _outcomes(tws, "modify-me") == ["accepted", "rejected 105"]
    # ib_insync now calls the trade Cancelled although TWS still works it: modify on the wire.
    order.lmtPrice = 100.005  # off SPY's 0.01 tick: 110, and the order still rests at 100
    client.ib.client.placeOrder(order.orderId, trade.contract, order)
    assert client.wait(lambda: 110 in client.codes(order.orderId))
    assert _venue(tws, "modify-me")[0]["limit_price"] == 100.0


def test_202_accepts_the_order_then_cancels_it(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    tws.inject_error("placeOrder", 202, reason="outside trading hours")
    trade = _place(client, "SPY", _resting(client, "cancel-me"))
    assert client.wait(lambda: trade.orderStatus.status == "Cancelled")
    assert trade.orderStatus.permId > 0, "TWS had accepted it"
    assert (trade.order.orderId, 202, "Order Canceled - reason:outside trading hours") in \
        client.errors
    assert _venue(tws, "cancel-me")[0]["status"] == "Cancelled"
    assert _outcomes(tws, "cancel-me") == ["cancelled 202"]


def test_100_drops_an_order_whose_id_stays_free(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    tws.inject_error("placeOrder", 100)
    order = _resting(client, "paced")
    trade = _place(client, "SPY", order)
    oid = trade.order.orderId
    assert client.codes(oid) == [100]
    assert "Max rate of messages per second has been exceeded:max=50" in client.errors[-1][2]
    assert _venue(tws, "paced") == [] and _outcomes(tws, "paced") == ["dropped 100"]
    # TWS never took the id: placing the same order id again is a new order, accepted.
    client.ib.client.placeOrder(oid, trade.contract, order)
    assert client.wait(lambda: len(_venue(tws, "paced")) == 1)
    assert _venue(tws, "paced")[0]["order_id"] == oid
    assert _outcomes(tws, "paced") == ["dropped 100", "accepted"]


@pytest.mark.parametrize("code", [161, 10147, 10148, 135, 100])
def test_cancel_error_leaves_the_order_working(raw: Raw, tws: FakeTWS, code: int) -> None:
    client = raw(tws.port)
    trade = _place(client, "SPY", _resting(client, f"keep-{code}"))
    tws.inject_error("cancelOrder", code)
    client.ib.cancelOrder(trade.order)
    oid = trade.order.orderId
    assert client.wait(lambda: code in client.codes(oid))
    [venue] = _venue(tws, f"keep-{code}")
    assert venue["status"] == "Submitted", "the cancel was not applied"
    text = next(t for i, c, t in client.errors if i == oid and c == code)
    if code == 161:
        assert text.endswith(f"Order permId ={venue['perm_id']}")
    if code == 10148:
        assert text == f"OrderId {oid} that needs to be cancelled cannot be cancelled, " \
                       f"state: Submitted."
    outcome = "dropped" if code == 100 else "rejected"
    assert tws.requests_received[-1]["outcome"] == f"{outcome} {code}"


def test_cancels_of_unknown_and_finished_orders(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    client.ib.client.cancelOrder(999_999, "")
    assert client.wait(lambda: 10147 in client.codes(999_999))
    assert (999_999, 10147, "OrderId 999999 that needs to be cancelled is not found.") \
        in client.errors
    trade = _place(client, "SPY", _resting(client, "twice"))
    client.ib.cancelOrder(trade.order)
    assert client.wait(lambda: trade.orderStatus.status == "Cancelled")
    client.ib.client.cancelOrder(trade.order.orderId, "")
    oid = trade.order.orderId
    assert client.wait(lambda: 10148 in client.codes(oid))
    assert (oid, 10148, f"OrderId {oid} that needs to be cancelled cannot be cancelled, "
                        f"state: Cancelled.") in client.errors


def test_off_tick_prices_get_110_by_default(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    trade = _place(client, "SPY", _resting(client, "off-tick", price=100.005))
    assert client.codes(trade.order.orderId) == [110]
    assert _venue(tws, "off-tick") == []
    stop = client.mod.StopOrder("SELL", 1, 99.999)
    stop.orderRef = "off-tick-stop"
    trade = _place(client, "SPY", stop)
    assert client.codes(trade.order.orderId) == [110], "the stop price is checked too"
    euro = _place(client, "EUR", _resting(client, "on-tick-eur", price=1.08005, qty=20000))
    assert euro.orderStatus.status == "Submitted", "1.08005 is on EUR.USD's 0.00005 tick"


def test_off_tick_check_can_be_switched_off(raw: Raw) -> None:
    with FakeTWS(tick_interval=0.02, reject_off_tick=False) as tws:
        client = raw(tws.port)
        trade = _place(client, "SPY", _resting(client, "lenient", price=100.005))
        assert trade.orderStatus.status == "Submitted"
        assert client.codes(trade.order.orderId) == []
        client.close()


@pytest.mark.parametrize(("request_kind", "code"), [
    ("reqMktData", 354), ("reqMktData", 200), ("reqMktData", 100), ("reqMktDepth", 321),
    ("reqRealTimeBars", 354)])
def test_data_request_errors_make_no_subscription(raw: Raw, tws: FakeTWS, request_kind: str,
                                                  code: int) -> None:
    client = raw(tws.port)
    spy = client.contract("SPY")
    tws.inject_error(request_kind, code)
    if request_kind == "reqMktData":
        ticker = client.ib.reqMktData(spy)
    elif request_kind == "reqMktDepth":
        ticker = client.ib.reqMktDepth(spy, 3)
    else:
        ticker = client.ib.reqRealTimeBars(spy, 5, "TRADES", False)
    assert client.wait(lambda: code in client.codes())
    req_id = next(i for i, c, _ in client.errors if c == code)
    assert req_id > 0, "TWS names the request it refused"
    kind = {"reqMktData": "mkt", "reqMktDepth": "depth", "reqRealTimeBars": "bars"}
    assert tws.subscription_count(kind[request_kind]) == 0
    if request_kind == "reqMktData":
        # Another subscription streams: this one never does.
        other = client.ib.reqMktData(client.contract("QQQ"))
        assert client.wait(lambda: other.bid > 0)
        assert ticker.bid != ticker.bid or ticker.bid <= 0  # nan or unset: no tick came


def test_contract_details_200(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    tws.inject_error("reqContractDetails", 200)
    details = client.ib.reqContractDetails(client.mod.Stock("SPY", "SMART", "USD"))
    assert details == []
    assert (200, error_text(200)) in [(c, t) for _, c, t in client.errors]


def test_farm_notice_is_sent_and_the_request_still_served(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    spy = client.contract("SPY")
    tws.inject_error("reqMktData", 2108, message="Market data farm connection is inactive "
                                                 "but should be available upon demand.usfarm")
    ticker = client.ib.reqMktData(spy)
    assert client.wait(lambda: ticker.bid > 0)
    assert (-1, 2108, "Market data farm connection is inactive but should be available upon "
                      "demand.usfarm") in client.errors


def test_several_requests_in_a_row_then_back_to_normal(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    tws.inject_error("placeOrder", 201, count=2, reason="no trading permissions")
    trades = [_place(client, "SPY", _resting(client, f"row-{n}")) for n in range(3)]
    assert [t.orderStatus.status for t in trades][2] == "Submitted"
    assert [client.codes(t.order.orderId) for t in trades] == [[201], [201], []]
    assert tws.stats()["error_201"] == 2 and tws.stats()["errors_injected"] == 2


def test_injection_is_refused_for_what_tws_never_sends(tws: FakeTWS) -> None:
    with pytest.raises(ValueError, match="does not answer placeOrder with error 10147"):
        tws.inject_error("placeOrder", 10147)
    with pytest.raises(ValueError, match="unknown request kind"):
        tws.inject_error("sendOrder", 201)
    with pytest.raises(ValueError, match="only error 162 has variants"):
        tws.inject_error("reqHistoricalData", 200, variant="pacing")
    with pytest.raises(ValueError, match="no known text"):
        tws.inject_error("placeOrder", 399)
    with pytest.raises(ValueError, match="count must be a positive int"):
        tws.inject_error("placeOrder", 201, count=0)
    assert tws.pending_errors() == []
    tws.inject_error("placeOrder", 399, message="Order Message: warning")  # text given: fine
    assert [e["code"] for e in tws.pending_errors()] == [399]
    tws.clear_errors()
    assert tws.pending_errors() == []
