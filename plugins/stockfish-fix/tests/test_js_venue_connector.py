"""Our FIX connector (public API only) against the jspurefix venue, FIX 4.2 / 4.4 / 5.0 SP2:
logon, market data equal to the venue's book after every message in every book model,
orders compared with the venue's record, nothing sent twice, reconnect and reconciliation,
and the conformance kit.

Where the connector still disagrees with this venue the test is a strict xfail naming the
disagreement: it turns red when the connector is fixed. (The book-model tests that run on
both venues are in ``test_md_models.py``.)"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from stockfish_core.errors import OrderRejectedError
from stockfish_core.models import DataType, OrderBookSnapshot, Trade
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import ConnectorConformance, Recorder, wait_until
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing.js_venue import JSFIXVenue
from stockfish_fix.testing.messages import FAST

T = 10.0
VERSIONS = ("FIX42", "FIX44", "FIX50SP2")


@pytest.fixture(scope="module")
def js_dictionaries(test_dictionaries: str) -> str:
    """QuickFIX dictionaries with the venue's published extensions (RptSeq, MDPriceLevel,
    4.2 Username/Password): the extended test dictionaries."""
    return test_dictionaries


def _start(version: str, dictionaries: str, **options: Any) -> JSFIXVenue:
    venue = JSFIXVenue(version=version, tick_interval=0.02, data_dictionary=dictionaries,
                       **options)
    venue.start()
    return venue


@pytest.fixture(scope="module")
def venue_pool(js_dictionaries: str) -> Iterator[dict[str, JSFIXVenue]]:
    """One price_level venue per FIX version, started when first asked for and shared by
    the order tests and the conformance kit of this module (a start costs about a second)."""
    pool: dict[str, JSFIXVenue] = {}
    yield pool
    for venue in pool.values():
        venue.stop()


def _pooled(pool: dict[str, JSFIXVenue], version: str, dictionaries: str) -> JSFIXVenue:
    if version not in pool:
        pool[version] = _start(version, dictionaries)
    return pool[version]


@pytest.fixture(scope="module", params=VERSIONS)
def js_venue(request: pytest.FixtureRequest, venue_pool: dict[str, JSFIXVenue],
             js_dictionaries: str) -> JSFIXVenue:
    return _pooled(venue_pool, str(request.param), js_dictionaries)


@pytest.fixture
def connector_to() -> Iterator[Callable[..., tuple[FIXConnector, Recorder]]]:
    """``connector_to(venue, **overrides)``: a connected FIXConnector and its Recorder."""
    made: list[tuple[FIXConnector, Recorder]] = []

    def make(venue: JSFIXVenue, **overrides: Any) -> tuple[FIXConnector, Recorder]:
        entry = venue.config_entry()
        entry.pop("type")
        router = DataFeedRouter()
        connector = FIXConnector(router, **{**entry, **FAST, **overrides})
        recorder = Recorder(connector, router)
        made.append((connector, recorder))
        assert connector.connect(), connector.get_stats()["last_error"]
        return connector, recorder

    yield make
    for connector, recorder in made:
        recorder.close()
        connector.close(timeout=5.0)


@pytest.fixture
def connect(js_venue: JSFIXVenue, connector_to: Callable[..., tuple[FIXConnector, Recorder]]
            ) -> Callable[..., tuple[FIXConnector, Recorder]]:
    return lambda **overrides: connector_to(js_venue, **overrides)


def _wait(recorder: Recorder, order: Order, *statuses: OrderStatus) -> None:
    assert recorder.wait(lambda: order.status in statuses, T), order


def _books(recorder: Recorder, symbol: str) -> list[OrderBookSnapshot]:
    return [u.payload for u in recorder.updates
            if u.data_type is DataType.ORDERBOOK_SNAPSHOT and u.symbol == symbol]


def _levels(book: OrderBookSnapshot) -> tuple[list[list[float]], list[list[float]]]:
    return ([[lv.price, lv.size] for lv in book.bids], [[lv.price, lv.size] for lv in book.asks])


def _same_books_after_every_message(venue: JSFIXVenue, recorder: Recorder, symbol: str,
                                    mark: int, *, wanted: int = 30, timeout: float = T) -> None:
    """The connector's book after each market-data message equals the venue's record of
    the book after that message (the n-th published book <-> the n-th message)."""
    assert recorder.wait(lambda: len(_books(recorder, symbol)) >= wanted, timeout), \
        f"{len(_books(recorder, symbol))} books published"
    ours = _books(recorder, symbol)[:wanted]
    theirs = [r for r in venue.md_history(symbol)[mark:] if r["comp_id"] == "CLIENT"]
    assert len(theirs) >= wanted
    for index, (book, record) in enumerate(zip(ours, theirs, strict=False)):
        assert _levels(book) == (record["bids"], record["asks"]), \
            f"after message {index} (MsgSeqNum {record['msg_seq_num']}, {record['msg_type']})"


# ----------------------------------------------------------------------------- passing
def test_logon_and_price_level_books_equal_after_every_message(
        js_venue: JSFIXVenue, connect: Callable[..., tuple[FIXConnector, Recorder]]) -> None:
    connector, recorder = connect()
    assert js_venue.sessions_logged_on == 1
    mark = len(js_venue.md_history("AAA"))
    assert connector.subscribe_orderbook("AAA", 100)
    _same_books_after_every_message(js_venue, recorder, "AAA", mark)
    assert connector.get_stats()["data_errors"] == 0


def test_orders_match_the_venue_record(
        js_venue: JSFIXVenue, connect: Callable[..., tuple[FIXConnector, Recorder]]) -> None:
    connector, recorder = connect()
    market = Order("AAA", OrderSide.BUY, 250)
    connector.send_order(market)
    _wait(recorder, market, OrderStatus.FILLED)
    truth = js_venue.fills_of(market.client_order_id)
    assert [f.exec_id for f in market.fills] == [f["exec_id"] for f in truth]
    assert market.filled_quantity == pytest.approx(sum(f["quantity"] for f in truth))
    assert market.avg_fill_price == pytest.approx(js_venue.order(market.client_order_id).avg_px)
    assert len(truth) >= 2, "a 250 lot sweeps more than one resting order"

    resting = Order("AAA", OrderSide.BUY, 10, OrderType.LIMIT, price=1.0)
    connector.send_order(resting)
    _wait(recorder, resting, OrderStatus.SUBMITTED)
    assert resting.order_id == js_venue.order(resting.client_order_id).order_id
    assert connector.replace_order(resting.client_order_id, quantity=20)
    assert recorder.wait(lambda: resting.quantity == 20, T)
    assert js_venue.order(resting.client_order_id).qty == 20
    assert connector.request_order_states([resting], 5.0) == {resting.client_order_id}
    assert resting.status is OrderStatus.SUBMITTED
    assert connector.cancel_order(resting.client_order_id)
    _wait(recorder, resting, OrderStatus.CANCELLED)
    assert js_venue.order(resting.client_order_id).status == "4"
    assert connector.cancel_order(resting.client_order_id) is False

    _bid, ask = (lv[0] for lv in (js_venue.book_levels("BBB")[0][0],
                                  js_venue.book_levels("BBB")[1][0]))
    crossing = Order("BBB", OrderSide.BUY, 5, OrderType.LIMIT, price=round(ask + 0.05, 2))
    connector.send_order(crossing)
    _wait(recorder, crossing, OrderStatus.FILLED)
    for order in (market, resting, crossing):
        assert js_venue.orders_received_count(order.client_order_id) == 1


@pytest.mark.parametrize(("symbol", "reason"), [
    ("NOPE", "unknown symbol"), ("JREJECT", "business reject"), ("SREJECT", "session reject")])
def test_venue_rejects(js_venue: JSFIXVenue,
                       connect: Callable[..., tuple[FIXConnector, Recorder]],
                       symbol: str, reason: str) -> None:
    connector, recorder = connect()
    order = Order(symbol, OrderSide.BUY, 1)
    with contextlib.suppress(OrderRejectedError):
        connector.send_order(order)
    _wait(recorder, order, OrderStatus.REJECTED)
    assert reason in (order.reject_reason or "")
    assert connector.is_connected
    assert js_venue.orders_received_count(order.client_order_id) == 1


def test_reconnect_after_a_drop_reconciles_a_fill_made_meanwhile(
        js_venue: JSFIXVenue, connect: Callable[..., tuple[FIXConnector, Recorder]]) -> None:
    connector, recorder = connect()
    order = Order("AAA", OrderSide.BUY, 10, OrderType.LIMIT, price=1.0)
    connector.send_order(order)
    _wait(recorder, order, OrderStatus.SUBMITTED)
    assert js_venue.drop_connections(refuse_for=0.5) == 1
    fill = js_venue.fill(order.client_order_id, 4)  # while the owner is away
    assert fill is not None
    assert recorder.wait(lambda: connector.get_stats()["reconnections"] >= 1
                         and connector.is_connected, 3 * T)
    assert recorder.wait(lambda: order.filled_quantity == 4 and not order.unknown_outcome,
                         T), order
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert js_venue.orders_received_count(order.client_order_id) == 1
    assert connector.cancel_order(order.client_order_id)
    _wait(recorder, order, OrderStatus.CANCELLED)


def test_external_order_is_surfaced(
        js_venue: JSFIXVenue, connect: Callable[..., tuple[FIXConnector, Recorder]]) -> None:
    """An order placed by another party on the account (its report comes to this session)
    is adopted as external, ``FIX-<OrderID>``, and can be cancelled here."""
    connector, recorder = connect()
    placed = js_venue.external_order("PHONE-DESK-1", "AAA", 5, price=1.0)
    assert placed is not None
    cid = f"FIX-{placed.order_id}"
    assert recorder.wait(lambda: any(e.kind == "external_order" and e.client_order_id == cid
                                     for e in recorder.order_events), T), \
        connector.get_stats()["data_errors_by_kind"]
    order = connector.find_order(cid)
    assert order.external and order.quantity == 5 and connector.get_stats()["orders_external"] == 1
    assert connector.cancel_order(cid)
    _wait(recorder, order, OrderStatus.CANCELLED)


def test_placeholder_order_id_is_not_the_venue_id(
        js_venue: JSFIXVenue, connect: Callable[..., tuple[FIXConnector, Recorder]]) -> None:
    connector, recorder = connect()
    order = Order("NOPE", OrderSide.BUY, 1)
    with contextlib.suppress(OrderRejectedError):
        connector.send_order(order)
    _wait(recorder, order, OrderStatus.REJECTED)
    assert order.order_id != "NONE"


# ----------------------------------------------------------------------------- conformance
@pytest.fixture(scope="class")
def conformance_venue(request: pytest.FixtureRequest, venue_pool: dict[str, JSFIXVenue],
                      js_dictionaries: str) -> JSFIXVenue:
    """The pooled venue of the class's FIX version, shared by the class's tests."""
    return _pooled(venue_pool, request.cls.version, js_dictionaries)


class _JSConformance(ConnectorConformance):
    symbols = ("AAA", "BBB")
    unknown_symbol = "UNKNOWNSYM"
    version = "FIX44"

    @pytest.fixture
    def venue(self, conformance_venue: JSFIXVenue) -> JSFIXVenue:
        return conformance_venue

    def make_connector(self, venue: JSFIXVenue, router: DataFeedRouter) -> FIXConnector:
        entry = venue.config_entry()
        entry.pop("type")
        return FIXConnector(router, **{**entry, **FAST})

    def drop_connection(self, venue: JSFIXVenue, connector: FIXConnector) -> None:
        assert venue.drop_connections() >= 1

    def send_bad_input(self, venue: JSFIXVenue, connector: FIXConnector) -> None:
        assert venue.send_malformed() > 0

    def partial_fill_order(self) -> Order | None:
        return Order(self.symbols[0], OrderSide.BUY, 250)  # sweeps several resting orders


class TestJSFIX42Conformance(_JSConformance):
    version = "FIX42"


class TestJSFIX44Conformance(_JSConformance):
    version = "FIX44"


class TestJSFIX50SP2Conformance(_JSConformance):
    version = "FIX50SP2"


# ----------------------------------------------------------------------------- disagreements
#: One FIX 5.0 SP2 venue serves every disagreement, each on a symbol of its own.
DISAGREEMENT_SYMBOLS = {"TOBX": "top_of_book", "EIDX": "entry_id", "POSX": "position",
                        "SNAX": "snapshot_only", "PRIX": "price_level"}


@pytest.fixture(scope="module")
def models_venue(js_dictionaries: str) -> Iterator[JSFIXVenue]:
    venue = _start("FIX50SP2", js_dictionaries, symbols=tuple(DISAGREEMENT_SYMBOLS),
                   spread_symbols=("SPRD",), book_model={**DISAGREEMENT_SYMBOLS,
                                                         "SPRD": "price_level"})
    yield venue
    venue.stop()


def _model_books_equal(venue: JSFIXVenue, connector_to: Callable[..., Any],
                       symbol: str, **settings: Any) -> None:
    connector, recorder = connector_to(venue, **settings)
    mark = len(venue.md_history(symbol))
    connector.subscribe_orderbook(symbol, 100)
    try:
        _same_books_after_every_message(venue, recorder, symbol, mark, wanted=12, timeout=2.5)
    except AssertionError as exc:  # say what the connector counted, for the record
        kinds = connector.get_stats()["data_errors_by_kind"]
        raise AssertionError(f"{exc}; connector data errors: {kinds}") from None


def test_top_of_book_books_equal_after_every_message(
        models_venue: JSFIXVenue, connector_to: Callable[..., Any]) -> None:
    _model_books_equal(models_venue, connector_to, "TOBX")


def test_entry_id_books_equal_after_every_message(
        models_venue: JSFIXVenue, connector_to: Callable[..., Any]) -> None:
    _model_books_equal(models_venue, connector_to, "EIDX")


def test_position_books_equal_after_every_message(
        models_venue: JSFIXVenue, connector_to: Callable[..., Any]) -> None:
    _model_books_equal(models_venue, connector_to, "POSX")


def test_spread_with_negative_prices_equals_the_venue(
        models_venue: JSFIXVenue, connector_to: Callable[..., Any]) -> None:
    # Below zero only where the instrument allows it (a spread).
    _model_books_equal(models_venue, connector_to, "SPRD", negative_price_symbols=["SPRD"])


def test_snapshot_only_books_equal_after_every_message(
        models_venue: JSFIXVenue, connector_to: Callable[..., Any]) -> None:
    _model_books_equal(models_venue, connector_to, "SNAX")


def test_snapshot_trade_entry_is_not_a_new_trade(
        models_venue: JSFIXVenue, connector_to: Callable[..., Any]) -> None:
    connector, recorder = connector_to(models_venue)
    order = Order("SNAX", OrderSide.BUY, 1)
    connector.send_order(order)  # one trade (or a few, against several resting orders)
    _wait(recorder, order, OrderStatus.FILLED)
    connector.subscribe_price("SNAX")
    assert recorder.wait(lambda: recorder.count(DataType.PRICE_TICK, "SNAX") >= 10, T)
    trades = [u for u in recorder.updates if isinstance(u.payload, Trade)]
    assert len(trades) <= len(order.fills), f"{len(trades)} trades published for " \
        f"{len(order.fills)}"


def test_crossed_book_is_resynced(
        models_venue: JSFIXVenue, connector_to: Callable[..., Any]) -> None:
    connector, recorder = connector_to(models_venue)
    connector.subscribe_orderbook("PRIX", 100)
    assert recorder.wait(lambda: len(_books(recorder, "PRIX")) >= 5, T)
    requests_before = models_venue.status()["counters"].get("in_V", 0)
    assert models_venue.inject_market_data("PRIX", "crossed") == 1
    assert wait_until(
        lambda: models_venue.status()["counters"].get("in_V", 0) > requests_before, 3.0)
    assert wait_until(lambda: connector.get_stats()["fix"].get("md_resyncs_completed") == 1,
                      T), connector.get_stats()["fix"]
    assert connector.get_stats()["fix"]["md_resyncs_by_cause"] == {"crossed_book": 1}
    assert connector.stale_symbols() == {}


def test_unknown_order_status_keeps_the_grace(
        models_venue: JSFIXVenue, connector_to: Callable[..., Any]) -> None:
    connector, _recorder = connector_to(models_venue)
    models_venue.lose_orders(1)
    order = Order("PRIX", OrderSide.BUY, 1, OrderType.LIMIT, price=1.0)
    connector.send_order(order)
    # Answered "unknown order" (OrdStatus 8, OrdRejReason 5): not yet a verdict, so not
    # counted as answered (reconciliation keeps it of unknown outcome) ...
    assert connector.request_order_states([order], 5.0) == set()
    assert order.status is not OrderStatus.REJECTED, order.reject_reason
    assert connector.get_stats()["fix"]["unknown_order_rechecks"] == 1
    # ... and REJECTED when the venue still has no record of it after the grace.
    assert wait_until(lambda: order.status is OrderStatus.REJECTED,
                      connector.unknown_order_grace + T), order
    assert "no record" in (order.reject_reason or "")
