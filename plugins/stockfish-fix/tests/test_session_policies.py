"""Session policies: refused Logons retried a bounded number of times then ERROR with the
venue's text; sequence numbers out of step reported with both numbers and the remedy (and
reset on request); ``last_error`` cleared on recovery; placeholder OrderIDs ignored; the
unknown-order grace decided by OrdStatus/OrdRejReason, not Text; a restarted connector
connects from any thread; an unknown outcome cleared whenever the venue settles the order."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from stockfish_core.enums import ConnectorStatus
from stockfish_core.models import DataType
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder, wait_until
from stockfish_fix import messages as m
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing import FIXVenue
from stockfish_fix.testing.messages import FAST, parse, raw

T = 10.0
Live = tuple[FIXConnector, Recorder]


@pytest.fixture(params=["FIX44"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _connector(venue: FIXVenue, **settings: Any) -> FIXConnector:
    entry = venue.config_entry()
    entry.pop("type")
    return FIXConnector(DataFeedRouter(), **{**entry, **FAST, **settings})


def test_refused_logons_are_retried_a_bounded_number_of_times(
        venue: FIXVenue, make_connector: Callable[..., FIXConnector]) -> None:
    connector = make_connector(max_logon_refusals=3, logon_refusal_delay=0.2)
    assert connector.connect()
    venue.drop_connections(refuse_for=60)
    assert wait_until(lambda: connector.status is ConnectorStatus.ERROR
                      and not connector.reconnecting, T), connector.get_stats()
    assert venue.refused_logons == 3
    error = connector.get_stats()["last_error"]
    assert "logons refused (venue maintenance)" in error  # the venue's own text
    assert "3 Logons refused in a row" in error
    # No fourth attempt comes by itself (the account is not locked out by retries).
    assert not wait_until(lambda: venue.refused_logons > 3, 1.5)
    venue.refuse_logons(0)
    assert connector.connect()  # asked for: tried again
    assert connector.get_stats()["last_error"] is None  # recovered: cleared


def test_last_error_is_cleared_once_reconnected(venue: FIXVenue, live: Live) -> None:
    connector, recorder = live
    mark = len(recorder.statuses)
    venue.drop_connections(refuse_for=0.5)
    assert recorder.wait_status(ConnectorStatus.RECONNECTING, T, after=mark)
    assert connector.get_stats()["last_error"]
    assert recorder.wait(lambda: connector.is_connected
                         and connector.get_stats()["reconnections"] == 1, 3 * T)
    assert connector.get_stats()["last_error"] is None


@pytest.fixture
def stored_venue(test_dictionaries: str, tmp_path: Path) -> Any:
    """A venue that keeps its sequence numbers in a file store."""
    made: list[FIXVenue] = []

    def make() -> FIXVenue:
        venue = FIXVenue(data_dictionary=test_dictionaries,
                         store_path=str(tmp_path / f"venue{len(made)}"))
        venue.start()
        made.append(venue)
        return venue

    yield make
    for venue in made:
        venue.stop()


def _trade(connector: FIXConnector, count: int) -> None:
    orders = [Order("AAA", OrderSide.BUY, 1) for _ in range(count)]
    for order in orders:
        connector.send_order(order)
    assert wait_until(lambda: all(o.status is OrderStatus.FILLED for o in orders), T)


def test_our_msgseqnum_too_low_is_reported_with_the_numbers_and_the_remedy(
        stored_venue: Callable[[], FIXVenue], tmp_path: Path) -> None:
    venue = stored_venue()
    first = _connector(venue, store="file", store_path=str(tmp_path / "a"))
    assert first.connect()
    _trade(first, 3)
    first.close()
    # Our store lost (a new machine): our Logon says 1, the venue expects more.
    fresh = _connector(venue, store="file", store_path=str(tmp_path / "b"))
    try:
        assert fresh.connect() is False
        error = fresh.get_stats()["last_error"]
        assert "sequence numbers out of step" in error, error
        assert "the venue expects MsgSeqNum" in error and "our Logon had 1" in error
        assert "on_seq_mismatch: reset" in error and "reset_on_logon" in error
        assert fresh.get_stats()["fix"]["seq_mismatches"] == 1
    finally:
        fresh.close()
    healed = _connector(venue, store="file", store_path=str(tmp_path / "c"),
                        on_seq_mismatch="reset")
    try:
        assert healed.connect(), healed.get_stats()["last_error"]
        assert healed.get_stats()["fix"]["seq_resets"] == 1
        _trade(healed, 1)
    finally:
        healed.close()


def test_the_venues_msgseqnum_too_low_is_reported_too(
        stored_venue: Callable[[], FIXVenue], tmp_path: Path) -> None:
    store = str(tmp_path / "ours")
    venue = stored_venue()
    first = _connector(venue, store="file", store_path=store)
    assert first.connect()
    _trade(first, 3)
    first.close()
    venue.stop()
    # The venue comes back with its numbers reset; ours still expect where it stopped.
    reset_venue = stored_venue()
    again = _connector(reset_venue, store="file", store_path=store)
    try:
        assert again.connect() is False
        error = again.get_stats()["last_error"]
        # The venue's Logon is its message 1, unless QuickFIX reconnected within
        # connect_timeout (a loaded machine): each refused attempt uses up venue numbers.
        found = re.search(r"we expect MsgSeqNum (\d+) from the venue but it sent (\d+)", error)
        assert found is not None, error
        assert int(found.group(2)) < int(found.group(1)), error
    finally:
        again.close()
    healed = _connector(reset_venue, store="file", store_path=store, on_seq_mismatch="reset")
    try:
        assert healed.connect(), healed.get_stats()["last_error"]
        _trade(healed, 1)
    finally:
        healed.close()


def test_a_seq_mismatch_stops_the_reconnect_loop(
        stored_venue: Callable[[], FIXVenue], tmp_path: Path) -> None:
    venue = stored_venue()
    first = _connector(venue, store="file", store_path=str(tmp_path / "a"))
    assert first.connect()
    _trade(first, 2)
    first.close()
    fresh = _connector(venue, store="file", store_path=str(tmp_path / "b"))
    try:
        fresh.start_reconnect()
        assert wait_until(lambda: fresh.status is ConnectorStatus.ERROR
                          and not fresh.reconnecting, T), fresh.get_stats()
        assert fresh.get_stats()["reconnection_attempts"] == 1
        assert "sequence numbers out of step" in fresh.get_stats()["last_error"]
    finally:
        fresh.close()


def test_a_restarted_connector_connects_from_the_thread_that_has_quickfixs_old_ident(
        venue: FIXVenue, make_connector: Callable[..., FIXConnector],
        router: DataFeedRouter) -> None:
    """Thread idents are reused once a thread ends: the QuickFIX thread of a stopped
    session must not be taken for the thread of the next caller of connect()."""
    connector = make_connector()
    qf_idents: set[int] = set()
    subscription = router.subscribe(lambda update: qf_idents.add(threading.get_ident()),
                                    data_types=[DataType.PRICE_TICK])
    try:
        assert connector.connect()
        assert connector.subscribe_price("AAA")
        assert wait_until(lambda: bool(qf_idents), T)
        connector.disconnect()
        old = next(iter(qf_idents))
        outcome: list[object] = []

        def attempt() -> None:
            if threading.get_ident() != old:
                return
            try:
                outcome.append(connector.connect())
            except Exception as exc:  # before: "connect() cannot run on the QuickFIX thread"
                outcome.append(exc)

        for _ in range(200):  # a new thread commonly gets the ident of the one just gone
            thread = threading.Thread(target=attempt)
            thread.start()
            thread.join(T)
            if outcome:
                break
        assert outcome, "no thread with the old QuickFIX ident came up to try"
        assert outcome == [True], outcome
        assert connector.is_connected
    finally:
        router.unsubscribe(subscription)


def _report(connector: FIXConnector, cid: str, *fields: tuple[int, str]) -> None:
    body = [(11, cid), (17, f"X{len(fields)}-{id(fields)}"), (55, "AAA"), (54, "1"),
            (38, "10"), (151, "0"), (6, "0"), *fields]
    connector._on_execution_report(parse("FIX44", raw("FIX44", "8", body)))


@pytest.fixture
def resting(live: Live) -> tuple[FIXConnector, Order]:
    connector, recorder = live
    order = Order("AAA", OrderSide.BUY, 10, OrderType.LIMIT, price=1.0)
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.SUBMITTED, T)
    return connector, order


def test_placeholder_order_ids_are_not_taken_for_the_order(
        resting: tuple[FIXConnector, Order]) -> None:
    connector, order = resting
    venue_id = order.order_id
    _report(connector, order.client_order_id, (37, "NONE"), (150, "I"), (39, "0"), (14, "0"))
    assert order.order_id == venue_id
    with pytest.raises(Exception, match="unknown order id"):
        connector.find_order("NONE")


def test_the_unknown_order_grace_follows_ordrejreason_not_text(
        resting: tuple[FIXConnector, Order]) -> None:
    connector, order = resting
    connector.mark_order_unknown(order, "test: the link broke")
    # OrdStatus 8 + OrdRejReason 5 (Unknown order), no word "unknown" in Text: the venue
    # has no record of an order it acknowledged: of unknown outcome, never REJECTED.
    _report(connector, order.client_order_id, (37, "NONE"), (150, "I"), (39, "8"),
            (14, "0"), (103, "5"), (58, "no such order here"))
    assert order.status is OrderStatus.SUBMITTED and order.unknown_outcome
    assert connector.get_stats()["fix"]["orders_lost_by_venue"] == 1
    # No OrdRejReason cannot tell an unknown order from a rejected one: the same (said once).
    _report(connector, order.client_order_id, (37, "NONE"), (150, "I"), (39, "8"),
            (14, "0"))
    assert order.status is OrderStatus.SUBMITTED and order.unknown_outcome
    assert connector.get_stats()["fix"]["orders_lost_by_venue"] == 1
    # Rejected for another reason, Text saying "unknown": a verdict at once.
    other = Order("AAA", OrderSide.BUY, 10, OrderType.LIMIT, price=1.0)
    connector.send_order(other)
    assert wait_until(lambda: other.status is OrderStatus.SUBMITTED, T)
    _report(connector, other.client_order_id, (37, "NONE"), (150, "I"), (39, "8"),
            (14, "0"), (103, "3"), (58, "unknown account limit exceeded"))
    assert other.status is OrderStatus.REJECTED
    # One the venue never acknowledged gets a grace (its bytes may still be on the way).
    pending = Order("AAA", OrderSide.BUY, 10, OrderType.LIMIT, price=1.0)
    connector.restore_orders([pending])
    _report(connector, pending.client_order_id, (37, "NONE"), (150, "I"), (39, "8"),
            (14, "0"), (103, "5"))
    assert pending.status is OrderStatus.PENDING and pending.unknown_outcome
    assert connector.get_stats()["fix"]["unknown_order_rechecks"] == 1


def test_an_unknown_outcome_is_cleared_when_the_venue_settles_the_order(
        resting: tuple[FIXConnector, Order]) -> None:
    connector, order = resting
    connector.mark_order_unknown(order, "test: the link broke")
    # A cancel report without CumQty cannot say whether fills are missing...
    body = [(37, order.order_id or "V1"), (150, "4"), (39, "4")]
    _report(connector, order.client_order_id, *body)
    assert order.status is OrderStatus.CANCELLED and order.unknown_outcome
    # ... the status answer that follows does: CANCELLED again, nothing filled.
    _report(connector, order.client_order_id, (37, order.order_id or "V1"), (150, "I"),
            (39, "4"), (14, "0"))
    assert not order.unknown_outcome


def test_any_application_message_is_a_sign_of_life() -> None:
    """A venue busy sending (a resend backlog, reports, market data nobody here subscribed
    to) sends no Heartbeat; the watchdog must not take that for a stalled link (under load
    that turned every reconnect into the next "stall")."""
    connector = FIXConnector(version="FIX44", store="memory", heartbeat_interval=1.0)
    connector.stats.last_heartbeat_ns = 1  # long ago
    incremental = raw("FIX44", "X", [(262, "NOBODY"), (268, "1"), (279, "0"), (269, "0"),
                                     (55, "ZZZ"), (270, "1"), (271, "1")])
    connector._from_app(parse("FIX44", incremental))
    age = connector.heartbeat_age()
    assert age is not None and age < 1.0
    assert connector.get_stats()["fix"]["md_after_unsubscribe"] == 1


def test_a_recheck_asked_for_while_one_runs_is_not_lost() -> None:
    """The recheck's own reconciliation can find an order the venue does not know yet (sent
    just before the last drop), still within its grace: that order must be checked again
    (it stayed PENDING for good after the last fault of a 100-fault run on a loaded
    machine)."""
    calls: list[float] = []
    done = threading.Event()

    class _Counting(FIXConnector):
        unknown_order_grace = 0.05

        @property
        def is_connected(self) -> bool:
            return True

        def reconcile_orders(self, timeout: float = 5.0, orders: Any = None) -> Any:
            calls.append(time.monotonic())
            if len(calls) == 1:
                self._schedule_recheck()  # a new unknown order, still within its grace
            else:
                done.set()

    connector = _Counting(version="FIX44", store="memory")
    connector._schedule_recheck()
    assert done.wait(T), calls
    assert len(calls) == 2


def test_to_app_gap_fills_a_stale_order_and_remembers_the_sequence_of_a_fresh_one() -> None:
    """toApp reads the outgoing text: a D/F/G sent again PossDup is not sent (counted)
    unless resend_orders; a fresh one is remembered by MsgSeqNum for session Rejects;
    anything else passes."""
    order = Order("AAA", OrderSide.BUY, 1, client_order_id="CID9")
    for resend, expect in ((False, True), (True, False)):
        connector = FIXConnector(version="FIX44", store="memory", resend_orders=resend)
        fresh = m.encode_new_order(order, "CID9", "FIX44")
        fresh.getHeader().setField(34, "17")
        assert connector._to_app(fresh) is False
        assert connector._sent_seq[17] == ("D", "CID9")
        again = m.encode_cancel(order, "CID9-C1", "CID9", "FIX44")
        again.getHeader().setField(34, "18")
        again.getHeader().setField(43, "Y")
        assert connector._to_app(again) is expect
        assert connector.fix_counters["stale_orders_gap_filled"] == int(expect)
        request = m.encode_md_request("MD1", "AAA", "FIX44")
        request.getHeader().setField(34, "19")
        assert connector._to_app(request) is False
        assert 19 not in connector._sent_seq
