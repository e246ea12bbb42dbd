"""100 seeded wire faults between the FIX connector and each simulated FIX venue (QuickFIX,
and jspurefix on Node.js, written apart) while orders flow: every order reaches the venue at
most once, every execution is applied exactly once, every final status agrees with the
venue, market data resumes after each fault.

Both sides keep their sequence numbers in a file store, as in production: after each cut
the session logs on again where it stopped and QuickFIX resends what was missed (stale
orders are gap-filled, never replayed), then the connector reconciles with status requests.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from stockfish_core.orders import Order, OrderStatus
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_core.testing.fault_proxy import FaultProxy

from tests.reliability.wire_faults import compare_with_venue, order_flow, run_schedule, settle

pytest.importorskip("quickfix")
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing import FIXVenue, JSFIXVenue
from stockfish_fix.testing.dictionaries import extend_dictionaries

# The venue's OrdStatus -> the status the client must end with.
STATUS = {"2": OrderStatus.FILLED, "4": OrderStatus.CANCELLED, "8": OrderStatus.REJECTED,
          "0": OrderStatus.SUBMITTED, "1": OrderStatus.PARTIALLY_FILLED,
          "C": OrderStatus.CANCELLED}
HEARTBEAT = 1.0  # HeartBtInt is whole seconds on the wire


def _venue(kind: str, tmp_path: Path) -> FIXVenue | JSFIXVenue:
    store = str(tmp_path / "venue-store")
    if kind == "jspurefix":  # RptSeq on every entry: 4.4 clients read it with the extensions
        return JSFIXVenue(version="FIX44", tick_interval=0.02, store="file", store_path=store,
                          heartbeat_interval=HEARTBEAT, spread_symbols=(),
                          status_repeats_fills=True,  # executions by ExecID, as compared
                          data_dictionary=extend_dictionaries(tmp_path / "dictionaries"))
    return FIXVenue(version="FIX44", tick_interval=0.02, top_size=40.0, store_path=store,
                    heartbeat_interval=HEARTBEAT)


def _venue_died(venue: FIXVenue | JSFIXVenue) -> str | None:
    """Why the venue is gone (the Node venue is a process of its own), or None."""
    if isinstance(venue, JSFIXVenue) and not venue.running:
        tail = "\n".join(venue.stderr_tail[-25:])
        return f"the jspurefix venue (pid {venue.pid}) died during the run; its stderr:\n{tail}"
    return None


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_fix_survives_a_hundred_wire_faults(tmp_path: Path) -> None:
    """Against the QuickFIX venue (the jspurefix one: ``test_wire_faults_fix_jspurefix.py``,
    a file of its own so that the two schedules run on two workers at once)."""
    run_fix_schedule(tmp_path, "quickfix")


def run_fix_schedule(tmp_path: Path, kind: str) -> None:
    """The 100-fault schedule against the ``kind`` venue, checked against its records."""
    venue = _venue(kind, tmp_path)
    entry = venue.start()
    entry.pop("type")
    proxy = FaultProxy(venue.port)
    router = DataFeedRouter()
    connector = FIXConnector(router, **{
        **entry, "port": proxy.port, "store": "file", "store_path": str(tmp_path / "store"),
        "heartbeat_interval": HEARTBEAT, "connect_timeout": 3.0, "request_timeout": 3.0,
        "reconnect_initial_delay": 0.05, "reconnect_max_delay": 0.3, "logout_timeout": 0.1,
        # The jspurefix venue's file store can come back after a cut some MsgSeqNums below
        # the last it sent (we expected 2808, it sent 2798): reset both sides then.
        "on_seq_mismatch": "reset" if kind == "jspurefix" else "fail"})
    recorder = Recorder(connector, router)
    orders: list[Order] = []
    refused: list[Order] = []
    venue_counters: dict[str, int] = {}

    send_orders = order_flow(connector, orders, refused, "AAA", "BBB")

    try:
        assert connector.connect(), connector.get_stats()["last_error"]
        connector.subscribe_price("AAA")
        connector.subscribe_orderbook("BBB", depth=5)
        subscriptions = set(connector.subscriptions)
        assert recorder.wait_updates(3, 10, symbol="AAA")
        report = run_schedule(name="fix" if kind == "quickfix" else f"fix-{kind}",
                              connector=connector, recorder=recorder, proxy=proxy,
                              symbol="AAA", also=("BBB",), send_orders=send_orders, faults=100,
                              seed=20261125, heartbeat_interval=HEARTBEAT, budget_s=240)
        died = _venue_died(venue)
        assert died is None, (died, report.summary())
        unsettled = settle(connector, recorder, orders)
        died = _venue_died(venue)
        assert died is None, (died, len(unsettled), "orders unsettled")
        assert not unsettled, (connector.status, connector.get_stats()["last_error"], [
            (o, o.unknown_outcome, venue.orders_received_count(o.client_order_id))
            for o in unsettled[:3]], connector.get_stats()["fix"])
        assert set(connector.subscriptions) == subscriptions
        stats = connector.get_stats()
        received = Counter({o.client_order_id: venue.orders_received_count(o.client_order_id)
                            for o in orders + refused})
        statuses = {o.client_order_id: getattr(venue.order(o.client_order_id), "status", None)
                    for o in orders}
        venue_fills = {o.client_order_id: [f["exec_id"] for f in
                                           venue.fills_of(o.client_order_id)] for o in orders}
        if isinstance(venue, JSFIXVenue):  # what each socket fault did to the Node process
            venue_counters = venue.status()["counters"]
            assert venue_counters.get("uncaught", 0) == 0, venue.stderr_tail[-25:]
    finally:
        recorder.close()
        connector.close(timeout=5)
        proxy.close()
        venue.stop()

    compare_with_venue(report, orders, refused, venue="the venue", received=received,
                       fills=venue_fills, statuses=statuses, status_map=STATUS)
    fix_stats = stats["fix"]
    report.extra = {"reconnections": stats["reconnections"],
                    "venue_executions": sum(len(v) for v in venue_fills.values()),
                    "logons": fix_stats.get("logons", 0),
                    "stalls_detected": fix_stats.get("stalls_detected", 0),
                    "stale_orders_gap_filled": fix_stats.get("stale_orders_gap_filled", 0),
                    "fills_from_status": fix_stats.get("fills_from_status", 0),
                    "seq_mismatches_reset": fix_stats.get("seq_resets", 0),
                    "duplicate_fills": stats["duplicate_fills"]}
    if kind == "jspurefix":
        report.extra["venue_socket_errors"] = venue_counters.get("socket_errors", 0)
        report.extra["venue_socket_errors_after_session_stop"] = venue_counters.get(
            "socket_errors_after_session_stop", 0)
    report.save()
    print(report.summary())
    for mismatch in report.mismatches:
        print("MISMATCH", mismatch)
    assert sum(report.faults.values()) == 100, report.summary()
    assert report.orders_sent >= 150
    assert report.mismatches == [], report.mismatches[:10]
    assert max(report.stall_detect_s) <= 2 * HEARTBEAT + 1.0
