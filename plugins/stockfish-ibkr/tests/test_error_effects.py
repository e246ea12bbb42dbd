"""Each class of TWS error code has its effect on the order, request, feed or connection it
names, against the fake TWS (errors injected per request, with TWS's side effects)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from stockfish_core.connector import ConnectorStatus
from stockfish_core.errors import SubscriptionError
from stockfish_core.health import health_report
from stockfish_core.models import DataType
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.error_codes import TWS_ERRORS, Effect, classify_162, farm_of, rule_for
from stockfish_ibkr.history import HistoricalDataError
from stockfish_ibkr.testing import FakeTWS
from stockfish_ibkr.testing.errors import ERRORS, HISTORICAL_162, error_text

Live = tuple[IBKRConnector, Recorder]
T = 10.0
DOCS = Path(__file__).resolve().parents[1] / "docs" / "tws-errors.md"


def _resting(symbol: str = "SPY", price: float = 1.0) -> Order:
    return Order(symbol, OrderSide.BUY, 5, OrderType.LIMIT, price=price,
                 time_in_force=TimeInForce.GTC)


def _outcomes(tws: FakeTWS, order: Order) -> list[str]:
    return [r["outcome"] for r in tws.orders_received
            if r.get("order_ref") == order.client_order_id]


def _events(recorder: Recorder, order: Order, kind: str) -> list[str]:
    return [e.reason or "" for e in list(recorder.order_events)
            if e.client_order_id == order.client_order_id and e.kind == kind]


# ---------------------------------------------------------------------- the table itself
def test_every_code_the_fake_sends_has_an_effect() -> None:
    for code in ERRORS:
        assert code in TWS_ERRORS, f"{code} has no effect in the connector's table"
    assert rule_for(2199).effect is Effect.INFORM  # an unlisted notice
    assert rule_for(99999).effect is Effect.INFORM


def test_the_documented_table_is_the_table_in_code() -> None:
    """docs/tws-errors.md lists every code of the table with the same effect."""
    rows: dict[int, str] = {}
    in_table = False
    for line in DOCS.read_text().splitlines():
        if line.startswith("| code | effect |"):
            in_table = True
            continue
        if in_table and not line.startswith("|"):
            in_table = False
        if in_table and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[int(cells[0])] = cells[1]
    assert rows, "no '| code | effect |' table in docs/tws-errors.md"
    assert {code: rule.effect.value for code, rule in TWS_ERRORS.items()} == rows


@pytest.mark.parametrize("variant", sorted(HISTORICAL_162))
def test_162_is_read_by_its_text(variant: str) -> None:
    text = error_text(162, {"local_symbol": "EUR.USD", "exchange": "IDEALPRO",
                            "what_word": "Trades", "symbol": "EUR", "sec_type": "CASH",
                            "hmds_exchange": "FXSUBPIP", "what_short": "Last",
                            "bar_seconds": 60}, variant)
    expected = {"pacing": "pacing", "no_data": "no data"}.get(variant, "invalid")
    assert classify_162(text).value == expected


def test_farm_names_are_read_from_the_notices() -> None:
    assert farm_of(2103, "Market data farm connection is broken:usfarm.nj") == "usfarm.nj"
    assert farm_of(2107, "HMDS data farm connection is inactive but should be available "
                         "upon demand.ushmds") == "ushmds"


# ---------------------------------------------------------------------- order rejected
@pytest.mark.parametrize("code", [103, 104, 105, 106, 107, 109, 110, 200, 201, 321])
def test_an_order_rejecting_code_rejects_at_once(live: Live, tws: FakeTWS, code: int) -> None:
    connector, recorder = live
    tws.inject_error("placeOrder", code, reason="insufficient margin")
    order = _resting()
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.REJECTED, T), order
    assert order.reject_reason is not None and order.reject_reason.startswith(
        f"IB error {code}: "), order.reject_reason
    assert not order.unknown_outcome
    assert _outcomes(tws, order) == [f"rejected {code}"]
    assert [o for o in tws.orders() if o["order_ref"] == order.client_order_id] == []
    after = _resting()  # the next order is placed as usual
    connector.send_order(after)
    assert recorder.wait(lambda: after.status is OrderStatus.SUBMITTED, T)


def test_an_off_tick_price_is_rejected_with_110_not_left_pending(live: Live) -> None:
    connector, recorder = live
    order = _resting(price=1.005)  # SPY trades in cents
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.REJECTED, T), order
    assert "IB error 110" in (order.reject_reason or "")
    assert "minimum price variation" in (order.reject_reason or "")


# ---------------------------------------------------------------------- order cancelled
def test_202_cancels_the_order(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    tws.inject_error("placeOrder", 202, reason="outside regular trading hours")
    order = _resting()
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.CANCELLED, T), order
    assert _outcomes(tws, order) == ["cancelled 202"]


# ---------------------------------------------------------------------- cancel refused
@pytest.mark.parametrize("code", [161, 10147, 10148])
def test_a_refused_cancel_leaves_the_order_and_says_so(live: Live, tws: FakeTWS,
                                                       code: int) -> None:
    connector, recorder = live
    order = _resting()
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.SUBMITTED, T)
    tws.inject_error("cancelOrder", code)
    assert connector.cancel_order(order.client_order_id) is False
    assert recorder.wait(lambda: _events(recorder, order, "cancel_rejected"), T)
    assert f"IB error {code}" in _events(recorder, order, "cancel_rejected")[0]
    # Verified with TWS, which still works it: the order stands (ib_insync calls it
    # Cancelled locally; that is not TWS speaking).
    assert recorder.wait(lambda: _events(recorder, order, "reconciled"), T)
    assert order.status is OrderStatus.SUBMITTED
    assert connector.get_stats()["ibkr"]["verifications"] >= 1
    assert connector.cancel_order(order.client_order_id) is True  # not refused this time
    assert recorder.wait(lambda: order.status is OrderStatus.CANCELLED, T)


# ---------------------------------------------------------------------- retried (100)
def test_an_order_tws_dropped_is_placed_again_once_tws_does_not_have_it(
        live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    tws.inject_error("placeOrder", 100)
    order = Order("SPY", OrderSide.BUY, 3)
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED, T), order
    assert _outcomes(tws, order) == ["dropped 100", "accepted"]
    ids = [r["order_id"] for r in tws.orders_received
           if r.get("order_ref") == order.client_order_id]
    assert ids[1] > ids[0], "placed again under a new order id"
    reasons = _events(recorder, order, "pacing_retry")
    assert len(reasons) == 2 and "IB error 100" in reasons[0] and "placed again" in reasons[1]
    ibkr = connector.get_stats()["ibkr"]
    assert ibkr["orders_dropped_by_pacing"] == 1 and ibkr["orders_placed_again"] == 1
    assert order.order_id == str(ids[1]) and connector.find_order(str(ids[0])) is order


def test_an_order_tws_keeps_dropping_is_rejected_not_left_pending(
        make_connector: Callable[..., IBKRConnector], router: DataFeedRouter,
        tws: FakeTWS) -> None:
    connector = make_connector(pacing_retries=1)
    recorder = Recorder(connector, router)
    assert connector.connect()
    tws.inject_error("placeOrder", 100, count=2)
    order = _resting()
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.REJECTED, T), order
    assert "IB error 100" in (order.reject_reason or "")
    assert _outcomes(tws, order) == ["dropped 100", "dropped 100"]
    assert not order.unknown_outcome
    recorder.close()


def test_a_cancel_tws_dropped_is_sent_again_until_tws_takes_it(live: Live,
                                                               tws: FakeTWS) -> None:
    connector, recorder = live
    order = _resting()
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.SUBMITTED, T)
    tws.inject_error("cancelOrder", 100, count=2)
    assert connector.cancel_order(order.client_order_id) is True
    assert recorder.wait(lambda: order.status is OrderStatus.CANCELLED, T)
    assert len(_events(recorder, order, "pacing_retry")) == 2

    def cancels() -> list[str]:  # logged by the fake once it has answered
        return [r["outcome"] for r in tws.requests_received if r["request"] == "cancelOrder"]

    assert recorder.wait(lambda: cancels() == ["dropped 100", "dropped 100", "handled"], T), \
        cancels()


def test_a_cancel_tws_drops_every_time_is_reported_not_done(
        make_connector: Callable[..., IBKRConnector], router: DataFeedRouter,
        tws: FakeTWS) -> None:
    connector = make_connector(pacing_retries=2)
    recorder = Recorder(connector, router)
    assert connector.connect()
    order = _resting()
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.SUBMITTED, T)
    tws.inject_error("cancelOrder", 100, count=3)
    assert connector.cancel_order(order.client_order_id) is False
    assert "dropped the cancel 3 times" in _events(recorder, order, "cancel_rejected")[0]
    assert order.status is OrderStatus.SUBMITTED
    assert [o["status"] for o in tws.orders()] == ["Submitted"], "TWS still works it"
    recorder.close()


def test_a_subscription_tws_dropped_is_requested_again(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    tws.inject_error("reqMktData", 100)
    assert connector.subscribe_price("QQQ")
    assert recorder.wait_updates(3, T, DataType.PRICE_TICK, "QQQ"), "never requested again"
    assert connector.get_stats()["ibkr"]["md_rerequests"] >= 1


# ---------------------------------------------------------------------- request refused
def test_a_refused_subscription_is_stale_with_the_reason(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    connector.subscribe_price("SPY")
    assert recorder.wait_updates(3, T, DataType.PRICE_TICK, "SPY")
    tws.inject_error("reqMktData", 354)
    assert connector.subscribe_price("QQQ")
    assert recorder.wait(lambda: "QQQ" in connector.stale_symbols(), T)
    assert "IB error 354" in connector.stale_symbols()["QQQ"]
    report = health_report(connector)
    assert report["stale_symbols"] == {"QQQ": connector.stale_symbols()["QQQ"]}
    assert connector.get_stats()["ibkr"]["subscriptions_refused"] == 1
    assert connector.is_connected


def test_an_unknown_contract_is_a_clear_error(live: Live, tws: FakeTWS) -> None:
    connector, _ = live
    tws.inject_error("reqContractDetails", 200)
    with pytest.raises(SubscriptionError, match="IB error 200: No security definition"):
        connector.subscribe_price("IWM")


# ---------------------------------------------------------------------- historical (162)
def test_history_no_data_is_empty_and_invalid_requests_raise(live: Live, tws: FakeTWS) -> None:
    connector, _ = live
    tws.inject_error("reqHistoricalData", 162, variant="no_data")
    assert connector.get_historical_bars("SPY", duration="2 D", bar_size="1 hour") == []
    tws.inject_error("reqHistoricalData", 162, variant="no_permissions")
    with pytest.raises(HistoricalDataError, match="No market data permissions") as info:
        connector.get_historical_bars("SPY", duration="3 D", bar_size="1 hour")
    assert info.value.code == 162
    with pytest.raises(HistoricalDataError, match="IB error 162.*TRADES|No historical"):
        connector.get_historical_bars("EUR/USD", duration="1 D", bar_size="1 hour",
                                      what_to_show="TRADES")
    with pytest.raises(HistoricalDataError, match="IB error 321"):
        connector.get_historical_bars("SPY", duration="1 D", bar_size="7 parsecs")
    assert connector.get_stats()["ibkr"]["pacing_violations"] == 0, "none read as pacing"


def test_forex_history_defaults_to_midpoint(live: Live) -> None:
    connector, _ = live
    bars = connector.get_historical_bars("EUR/USD", duration="1 D", bar_size="1 hour")
    assert len(bars) == 24


def test_history_refused_for_pacing_is_retried(
        make_connector: Callable[..., IBKRConnector], tws: FakeTWS) -> None:
    connector = make_connector(historical_identical_interval=0.2)
    assert connector.connect()
    tws.inject_error("reqHistoricalData", 162, variant="pacing")
    bars = connector.get_historical_bars("SPY", duration="1 D", bar_size="1 hour")
    assert len(bars) == 24
    ibkr = connector.get_stats()["ibkr"]
    assert ibkr["historical_retries"] == 1 and ibkr["historical_pacing_violations"] == 1
    assert tws.stats()["historical_requests"] == 1  # the injected answer is not counted


# ---------------------------------------------------------------------- connection
def test_1300_reconnects(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    mark = len(recorder.statuses)
    tws.send_error(1300, "TWS socket port has been reset and this connection is being "
                         "dropped. Please reconnect on the new port - 7497")
    assert recorder.wait(lambda: connector.is_connected
                         and ConnectorStatus.RECONNECTING in recorder.statuses[mark:], 3 * T)


# ---------------------------------------------------------------------- informational
def test_notices_change_nothing_and_unknown_codes_are_counted(live: Live,
                                                               tws: FakeTWS) -> None:
    connector, recorder = live
    connector.subscribe_price("SPY")
    assert recorder.wait_updates(3, T, DataType.PRICE_TICK, "SPY")
    mark = len(recorder.statuses)
    tws.farm_inactive("ushmds")
    tws.send_error(2150, "Invalid position trade derived value")
    tws.send_error(4711, "Something TWS never documented")
    assert recorder.wait(lambda: connector.get_stats()["ibkr"]["errors_unclassified"] == 1, T)
    assert recorder.wait_updates(3, T, DataType.PRICE_TICK, "SPY")
    assert recorder.statuses[mark:] == []
    assert connector.stale_symbols() == {}
    assert connector.get_stats()["ibkr"]["farms"]["ushmds"]["state"] == "inactive"


def test_an_unknown_code_on_an_order_is_verified_with_tws(live: Live, tws: FakeTWS) -> None:
    connector, recorder = live
    tws.inject_error("placeOrder", 4711, message="Something TWS never documented")
    order = _resting()
    connector.send_order(order)
    # Not guessed from the code: TWS is asked, has no record, never acknowledged it.
    assert recorder.wait(lambda: order.status is OrderStatus.REJECTED, T), order
    assert "never received" in (order.reject_reason or "")
    assert connector.get_stats()["ibkr"]["verifications"] >= 1
