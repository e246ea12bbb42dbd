"""Nothing reaches the wire unchecked: a control character (SOH splits a field) or an ``=``
in an identifier is refused before sending, in every field the connector writes; prices and
quantities are written as exact decimals, never in exponent form, never rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from stockfish_core.errors import OrderRejectedError, SubscriptionError
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType
from stockfish_core.testing import Recorder, wait_until
from stockfish_fix import messages as m
from stockfish_fix.connector import FIXConnector
from stockfish_fix.settings import FIXSettings
from stockfish_fix.testing import FIXVenue
from stockfish_fix.wire import WireValueError, decimal_text, wire_text

T = 10.0
Live = tuple[FIXConnector, Recorder]


@pytest.fixture(params=["FIX44"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _limit(price: float = 101.25, quantity: float = 5, **kw: object) -> Order:
    return Order("AAA", OrderSide.SELL, quantity, OrderType.LIMIT, price=price, **kw)


def _smuggled(field: str) -> Order:
    """An order whose field was changed after the core checked it (the FIX layer must
    not trust that nothing did)."""
    order = _limit()
    setattr(order, field, "AAA\x011=OTHER-ACCT" if field == "symbol" else "X\x0155=ZZZ")
    return order


ENCODERS = {
    "D": lambda o: m.encode_new_order(o, "CID1", "FIX44"),
    "F": lambda o: m.encode_cancel(o, "CID1-C1", "CID1", "FIX44"),
    "G": lambda o: m.encode_replace(o, "CID1-R1", "CID1", "FIX44", price=1.0),
    "H": lambda o: m.encode_status_request(o, "CID1", "FIX44"),
}
WRITTEN_BY = [("symbol", "DFGH"), ("account", "DG"), ("order_id", "FGH")]


@pytest.mark.parametrize(("field", "msg_type"), [(f, t) for f, types in WRITTEN_BY
                                                 for t in types])
def test_a_control_character_in_an_order_field_is_refused(field: str, msg_type: str) -> None:
    with pytest.raises(WireValueError, match="control character"):
        ENCODERS[msg_type](_smuggled(field))


@pytest.mark.parametrize("bad", ["CID\x01", "CID=1", "CID 1", "", "CID\x7f"])
def test_client_order_ids_and_request_ids_are_checked(bad: str) -> None:
    with pytest.raises(WireValueError):
        m.encode_new_order(_limit(), bad, "FIX44")
    with pytest.raises(WireValueError):
        m.encode_md_request(bad, "AAA", "FIX44")


def test_custom_tags_are_written_checked_and_never_override_the_connector() -> None:
    order = _limit(tags={"100": "XNAS", "7001": "desk=3", "note": "not a FIX tag"})
    msg = m.encode_new_order(order, "CID1", "FIX44", tags={**order.tags, "207": "XNYS"})
    assert (msg.getField(100), msg.getField(7001), msg.getField(207)) == ("XNAS", "desk=3",
                                                                          "XNYS")
    for tags in ({"1": "OTHER-ACCT"}, {"55": "ZZZ"}, {"554": "x"}, {"0": "x"}):
        with pytest.raises(WireValueError, match="custom tag"):
            m.encode_new_order(order, "CID1", "FIX44", tags=tags)
    with pytest.raises(WireValueError, match="control character"):
        m.encode_new_order(order, "CID1", "FIX44", tags={"100": "X\x0155=ZZZ"})


def test_settings_that_reach_the_wire_are_checked_when_made() -> None:
    for bad in ({"account": "ACC\x011=OTHER"}, {"account": "ACC=1"}, {"account": "A B"},
                {"sender_sub_id": "DESK\x01"}, {"password": "pw\x01554=x"},
                {"username": "user\n"}, {"order_tags": {"100": "X\x01"}},
                {"order_tags": {"11": "X"}}, {"order_tags": {"ExDestination": "X"}},
                {"tick_sizes": {"AAA": "0"}}):
        with pytest.raises(ValueError):
            FIXSettings(**bad)
    with pytest.raises(ValueError) as err:
        FIXSettings(password="s3cret\x01")
    assert "s3cret" not in str(err.value)


@pytest.mark.parametrize(("value", "text"), [
    (0.00001, "0.00001"),  # was 1e-05: session-rejected
    (67123.456789, "67123.456789"),  # was 67123.45679
    (123456789012, "123456789012"),  # was 1.23456789e+11 (and lost the last digits)
    (123456789012.0, "123456789012"),
    (1e-9, "0.000000001"), (2.5, "2.5"), (100, "100"), (1e20, "100000000000000000000"),
])
def test_numbers_are_written_exactly(value: float, text: str) -> None:
    assert decimal_text("Price (44)", value) == text
    assert m.encode_new_order(_limit(price=value), "C1", "FIX44").getField(m.PRICE) == text


def test_what_a_float_cannot_say_exactly_is_refused_or_snapped_to_the_tick() -> None:
    noisy = 0.1 + 0.2  # 0.30000000000000004
    with pytest.raises(WireValueError, match="significant digits"):
        decimal_text("Price (44)", noisy)
    assert decimal_text("Price (44)", noisy, tick=Decimal("0.01")) == "0.3"
    with pytest.raises(WireValueError, match="not a multiple of the tick"):
        decimal_text("Price (44)", 100.005, tick=Decimal("0.01"))
    assert decimal_text("Price (44)", 100.25, tick=Decimal("0.25")) == "100.25"
    for bad in (float("nan"), float("inf"), -1.0, True, "1"):
        with pytest.raises(WireValueError):
            decimal_text("OrderQty (38)", bad)  # type: ignore[arg-type]
    assert wire_text("Text (58)", "qty=5 ok", identifier=False) == "qty=5 ok"


def test_an_order_with_a_smuggled_field_never_reaches_the_venue(venue: FIXVenue,
                                                                live: Live) -> None:
    connector, _recorder = live
    order = _smuggled("symbol")
    with pytest.raises(OrderRejectedError, match="control character"):
        connector.send_order(order)
    assert order.status is OrderStatus.REJECTED and "not sent" in (order.reject_reason or "")
    assert venue.orders_received_count(order.client_order_id) == 0
    assert connector.get_stats()["fix"]["orders_refused_for_the_wire"] == 1
    with pytest.raises(SubscriptionError, match="control character"):
        connector.subscribe_price("AAA\x01")
    assert connector.is_connected


def test_exact_numbers_reach_the_venue(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    orders = [_limit(price=67123.456789),  # rests far above the market
              Order("AAA", OrderSide.BUY, 123456789012, OrderType.LIMIT, price=0.00001)]
    for order in orders:
        connector.send_order(order)
    assert recorder.wait(lambda: all(o.status is OrderStatus.SUBMITTED for o in orders), T)
    assert venue.order(orders[0].client_order_id).price == 67123.456789
    assert venue.order(orders[1].client_order_id).price == 0.00001
    assert venue.order(orders[1].client_order_id).qty == 123456789012


def test_a_price_off_the_tick_is_refused_before_the_wire(venue: FIXVenue,
                                                         make_connector: object) -> None:
    connector = make_connector(tick_sizes={"AAA": "0.05"})  # type: ignore[operator]
    assert connector.connect()
    off = _limit(price=101.23)
    with pytest.raises(OrderRejectedError, match="tick"):
        connector.send_order(off)
    on = _limit(price=101.25)
    connector.send_order(on)
    assert wait_until(lambda: venue.order(on.client_order_id) is not None, T)
    assert venue.orders_received_count(off.client_order_id) == 0
    with pytest.raises(OrderRejectedError, match="tick"):
        connector.replace_order(on.client_order_id, price=101.26)
