"""Every book model over loopback, against both simulated venues (QuickFIX, and jspurefix on
Node.js, written apart): the connector's book after every market-data message equals the
venue's own record of the book after that message; injected inconsistencies make
the book stale (nothing published), are counted by cause, and are resynchronised by a
snapshot requested with backoff until one is accepted; a wrong book is never published."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from stockfish_core.errors import SubscriptionError
from stockfish_core.health import health_report
from stockfish_core.models import DataType, Trade
from stockfish_core.orders import Order, OrderSide, OrderStatus
from stockfish_core.testing import Recorder, wait_until
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing.compare import (
    compare_after_every_message,
    never_wrong,
    published_books,
    published_then_recorded,
)

T = 10.0
MODELS = ("top_of_book", "price_level", "entry_id", "position", "snapshot_only")
Connect = Callable[..., tuple[FIXConnector, Recorder]]


@pytest.fixture(params=["FIX44"])
def version(request: pytest.FixtureRequest) -> str:
    """FIX 4.4 unless a test asks for the others."""
    return str(request.param)


def _books_follow(venue: Any, recorder: Recorder, symbol: str, wanted: int) -> None:
    assert recorder.wait(lambda: len(published_books(recorder.updates, symbol)) >= wanted, T), \
        f"{len(published_books(recorder.updates, symbol))} books published"
    books, records = published_then_recorded(recorder.updates, venue, symbol)
    assert compare_after_every_message(books, records) == []


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("version", ["FIX42", "FIX44", "FIX50SP2"], indirect=True)
def test_auto_detected_books_equal_the_venue_after_every_message(
        make_venue: Callable[..., Any], connect_to: Connect, model: str) -> None:
    venue = make_venue(book_model=model)
    connector, recorder = connect_to(venue)
    assert connector.subscribe_orderbook("AAA", 100)
    _books_follow(venue, recorder, "AAA", 25)
    stats = connector.get_stats()
    assert stats["data_errors"] == 0, stats["data_errors_by_kind"]
    detected = stats["fix"]["book_models"]["AAA"]
    assert detected == (model if model != "snapshot_only" else "price_level")


@pytest.mark.parametrize("model", MODELS)
def test_configured_models_equal_the_venue_after_every_message(
        make_venue: Callable[..., Any], connect_to: Connect, model: str) -> None:
    venue = make_venue(book_model=model)
    connector, recorder = connect_to(venue, md_book_model=model)
    assert connector.subscribe_orderbook("AAA", 100)
    assert connector.subscribe_price("AAA")
    _books_follow(venue, recorder, "AAA", 25)
    assert connector.get_stats()["fix"]["book_models"] == {"AAA": model}
    # The ticks follow the same book.
    tick = [u.payload for u in recorder.updates if u.data_type is DataType.PRICE_TICK][-1]
    book = published_books(recorder.updates, "AAA")[-1]
    assert (tick.bid, tick.ask) == (book.bids[0].price, book.asks[0].price)


@pytest.mark.parametrize("version", ["FIX44", "FIX50SP2"], indirect=True)
def test_position_book_drops_what_falls_past_its_depth(
        make_venue: Callable[..., Any], connect_to: Connect, version: str,
        venue_kind: str) -> None:
    """Five levels a side told three deep: a New at the top pushes level 3 out unannounced.
    The QuickFIX venue's FIX 5.0 SP2 snapshots say the depth (MarketDepth 264); otherwise
    the setting does."""
    venue = make_venue(book_model="position", depth=3, levels=5)
    says_depth = version == "FIX50SP2" and venue_kind == "quickfix"
    overrides = {} if says_depth else {"market_depth": 3}
    connector, recorder = connect_to(venue, md_book_model="position", **overrides)
    assert connector.subscribe_orderbook("AAA", 10)
    _books_follow(venue, recorder, "AAA", 40)
    assert connector.get_stats()["data_errors"] == 0
    assert all(len(r["bids"]) <= 3 for r in venue.md_history("AAA"))


@pytest.mark.parametrize("model", ["price_level", "entry_id", "position"])
def test_spread_below_zero_where_allowed(make_venue: Callable[..., Any], connect_to: Connect,
                                         model: str) -> None:
    venue = make_venue(book_model=model, spread_symbols=("SPRD",),
                       start_prices={"SPRD": -0.02})
    connector, recorder = connect_to(venue, negative_price_symbols=["SPRD"])
    assert connector.subscribe_orderbook("SPRD", 100)
    _books_follow(venue, recorder, "SPRD", 25)
    prices = [lv.price for book in published_books(recorder.updates, "SPRD")
              for lv in (*book.bids, *book.asks)]
    assert min(prices) < 0 < max(prices)


def test_a_price_below_zero_elsewhere_is_an_inconsistency(
        make_venue: Callable[..., Any], connect_to: Connect) -> None:
    venue = make_venue(spread_symbols=("SPRD",), start_prices={"SPRD": -0.5})
    connector, recorder = connect_to(venue)
    assert connector.subscribe_orderbook("SPRD", 100)  # subscribed, but stale: nothing out
    assert wait_until(lambda: "SPRD" in connector.stale_symbols(), T)
    assert connector.get_stats()["data_errors_by_kind"].get("bad_price", 0) >= 1
    assert published_books(recorder.updates, "SPRD") == []


def test_a_snapshot_trade_is_the_last_trade_not_a_new_one(
        make_venue: Callable[..., Any], connect_to: Connect) -> None:
    venue = make_venue(book_model="snapshot_only")
    connector, recorder = connect_to(venue)
    order = Order("AAA", OrderSide.BUY, 3)
    connector.send_order(order)  # trades before the subscription
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED, T)
    connector.subscribe_price("AAA")
    assert recorder.wait(lambda: recorder.count(DataType.PRICE_TICK, "AAA") >= 10, T)
    assert [u for u in recorder.updates if isinstance(u.payload, Trade)] == []
    ticks = [u.payload for u in recorder.updates if u.data_type is DataType.PRICE_TICK]
    last = order.fills[-1]
    assert (ticks[-1].last, ticks[-1].last_size) == (last.price, last.quantity)
    assert not any(t.volume for t in ticks)  # a snapshot's trade adds nothing to the volume


def test_trades_in_increments_are_trades(make_venue: Callable[..., Any],
                                         connect_to: Connect) -> None:
    venue = make_venue(book_model="entry_id")
    connector, recorder = connect_to(venue)
    connector.subscribe_price("AAA")
    order = Order("AAA", OrderSide.BUY, 2)
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED, T)
    assert recorder.wait(lambda: sum(u.payload.size for u in recorder.updates
                                     if isinstance(u.payload, Trade)) >= 2, T)
    trades = [(u.payload.price, u.payload.size) for u in recorder.updates
              if isinstance(u.payload, Trade)]
    assert sorted(trades) == sorted((f.price, f.quantity) for f in order.fills)


FAULTS = [(model, kind) for model in ("price_level", "entry_id", "position")
          for kind in ("change_unknown", "delete_unknown", "crossed", "rpt_seq_gap")] + [
    ("top_of_book", "delete_unknown"), ("top_of_book", "crossed"),
    ("top_of_book", "rpt_seq_gap"), ("snapshot_only", "crossed")]
CAUSES = {"change_unknown": {"book_change_unknown_level", "book_change_unknown_entry",
                             "book_level_beyond_depth"},
          "delete_unknown": {"book_delete_unknown_level", "book_delete_unknown_entry",
                             "book_level_beyond_depth"},
          "crossed": {"crossed_book", "book_level_order"}, "rpt_seq_gap": {"rpt_seq_gap"}}


@pytest.mark.parametrize(("model", "kind"), FAULTS)
def test_an_injected_inconsistency_is_resynced_and_nothing_wrong_is_published(
        make_venue: Callable[..., Any], connect_to: Connect, model: str, kind: str) -> None:
    venue = make_venue(book_model=model)
    connector, recorder = connect_to(venue)
    assert connector.subscribe_orderbook("AAA", 100)
    assert recorder.wait(lambda: len(published_books(recorder.updates, "AAA")) >= 5, T)
    assert venue.inject_market_data("AAA", kind) == 1
    fix_stats = lambda: connector.get_stats()["fix"]  # noqa: E731
    assert wait_until(lambda: fix_stats().get("md_resyncs_completed", 0) >= 1, T), fix_stats()
    before = len(published_books(recorder.updates, "AAA"))
    assert recorder.wait(lambda: len(published_books(recorder.updates, "AAA")) >= before + 10, T)
    causes = set(fix_stats()["md_resyncs_by_cause"])
    assert causes & CAUSES[kind], causes
    assert sum(connector.get_stats()["data_errors_by_kind"].get(c, 0) for c in causes) >= 1
    assert never_wrong(*published_then_recorded(recorder.updates, venue, "AAA")) == []
    assert connector.stale_symbols() == {}


@pytest.mark.parametrize("venue_kind", ["quickfix"], indirect=True)  # corrupt_snapshots
def test_resync_backs_off_until_a_snapshot_is_accepted(
        make_venue: Callable[..., Any], connect_to: Connect) -> None:
    venue = make_venue()
    connector, recorder = connect_to(venue, md_resync_initial_delay=0.3,
                                     md_resync_max_delay=1.0)
    assert connector.subscribe_orderbook("AAA", 100)
    assert recorder.wait(lambda: len(published_books(recorder.updates, "AAA")) >= 3, T)
    venue.corrupt_snapshots(2)  # the first two resync snapshots are crossed
    venue.inject_market_data("AAA", "delete_unknown")
    assert wait_until(lambda: "AAA" in connector.stale_symbols(), T)
    report = health_report(connector)
    assert report["stale_symbols"]["AAA"].startswith("book_delete_unknown_level, resyncing")
    assert connector.get_stats()["fix"]["stale_seconds"]["AAA"] >= 0
    marked = len(published_books(recorder.updates, "AAA"))
    assert wait_until(lambda: connector.get_stats()["fix"].get("md_resyncs_completed") == 1,
                      T)
    stats = connector.get_stats()["fix"]
    assert stats["md_snapshot_requests"] == 3  # two refused (crossed), the third accepted
    assert connector.stale_symbols() == {}
    published, records = published_then_recorded(recorder.updates, venue, "AAA")
    assert never_wrong(published, records) == []
    assert len(published) > marked


def test_a_gap_fill_over_the_session_resyncs_every_book(
        make_venue: Callable[..., Any], connect_to: Connect) -> None:
    venue = make_venue()
    connector, recorder = connect_to(venue)
    for symbol in ("AAA", "BBB"):
        assert connector.subscribe_orderbook(symbol, 100)
    assert venue.skip_sequence_number() == 1
    assert wait_until(lambda: connector.get_stats()["fix"].get("md_resyncs_completed", 0) >= 2,
                      T), connector.get_stats()["fix"]
    assert connector.get_stats()["fix"]["md_resyncs_by_cause"]["gap_fill"] == 2
    for symbol in ("AAA", "BBB"):
        assert never_wrong(*published_then_recorded(recorder.updates, venue, symbol)) == []


@pytest.mark.parametrize("venue_kind", ["quickfix"], indirect=True)  # snapshot_requests
def test_a_venue_refusing_snapshot_requests_is_resynced_by_subscribing_again(
        make_venue: Callable[..., Any], connect_to: Connect) -> None:
    venue = make_venue(snapshot_requests=False)
    connector, recorder = connect_to(venue, md_resync_initial_delay=0.05)
    assert connector.subscribe_orderbook("AAA", 100)
    assert recorder.wait(lambda: len(published_books(recorder.updates, "AAA")) >= 3, T)
    venue.inject_market_data("AAA", "change_unknown")
    assert wait_until(lambda: connector.get_stats()["fix"].get("md_resyncs_completed") == 1,
                      T), connector.get_stats()["fix"]
    stats = connector.get_stats()
    assert stats["data_errors_by_kind"]["md_snapshot_request_rejected"] == 1
    assert stats["fix"]["md_resubscriptions"] == 1
    before = len(published_books(recorder.updates, "AAA"))
    assert recorder.wait(lambda: len(published_books(recorder.updates, "AAA")) > before + 5, T)
    assert never_wrong(*published_then_recorded(recorder.updates, venue, "AAA")) == []
    assert connector.subscriptions  # still subscribed


@pytest.mark.parametrize("venue_kind", ["quickfix"], indirect=True)  # ignore_md_requests
def test_a_resubscription_whose_snapshot_is_late_is_kept_and_resynced(
        make_venue: Callable[..., Any], connect_to: Connect) -> None:
    """After a reconnect the venue leaves the subscription's snapshot out: the connector
    keeps the subscription (stale) and asks for the snapshot until it comes, instead of
    dropping it and staying silent while the subscription is still listed."""
    venue = make_venue()
    connector, recorder = connect_to(venue, request_timeout=1.0)
    assert connector.subscribe_orderbook("AAA", 100)
    venue.ignore_md_requests(1)
    mark = len(recorder.statuses)
    venue.drop_connections()
    assert recorder.wait(lambda: connector.get_stats()["reconnections"] == 1, 3 * T)
    assert wait_until(lambda: connector.get_stats()["fix"].get("md_resyncs_completed") == 1,
                      T), connector.get_stats()["fix"]
    assert connector.get_stats()["data_errors_by_kind"]["md_snapshot_timeout"] == 1
    before = len(published_books(recorder.updates, "AAA"))
    assert recorder.wait(lambda: len(published_books(recorder.updates, "AAA")) > before + 5, T)
    assert recorder.statuses[mark:]  # it did go through a reconnect
    # A first subscription that gets no snapshot is still an error.
    venue.ignore_md_requests(1)
    with pytest.raises(SubscriptionError, match="no market data"):
        connector.subscribe_price("BBB")
    assert "BBB" not in connector.subscribed_symbols
