"""100 seeded wire faults between the FIX connector and the simulated FIX venue while orders
flow: every order reaches the venue at most once, every execution is applied exactly once,
every final status agrees with the venue, market data resumes after each fault.

Both sides keep their sequence numbers in a file store, as in production: after each cut
the session logs on again where it stopped and QuickFIX resends what was missed (stale
orders are gap-filled, never replayed), then the connector reconciles with status requests.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from stockfish_core.errors import ConnectorError
from stockfish_core.orders import Order, OrderStatus, OrderType
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder

from tests.reliability.wire_faults import order_flow, run_schedule
from tests.support.fault_proxy import FaultProxy

pytest.importorskip("quickfix")
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing import FIXVenue

# The venue's OrdStatus -> the status the client must end with.
STATUS = {"2": OrderStatus.FILLED, "4": OrderStatus.CANCELLED, "8": OrderStatus.REJECTED,
          "0": OrderStatus.SUBMITTED, "1": OrderStatus.PARTIALLY_FILLED,
          "C": OrderStatus.CANCELLED}
HEARTBEAT = 1.0  # HeartBtInt is whole seconds on the wire


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_fix_survives_a_hundred_wire_faults(tmp_path: Path) -> None:
    venue = FIXVenue(version="FIX44", tick_interval=0.02, top_size=40.0,
                     store_path=str(tmp_path / "venue-store"), heartbeat_interval=HEARTBEAT)
    entry = venue.start()
    entry.pop("type")
    proxy = FaultProxy(venue.port)
    router = DataFeedRouter()
    connector = FIXConnector(router, **{
        **entry, "port": proxy.port, "store": "file", "store_path": str(tmp_path / "store"),
        "heartbeat_interval": HEARTBEAT, "connect_timeout": 3.0, "request_timeout": 3.0,
        "reconnect_initial_delay": 0.05, "reconnect_max_delay": 0.3, "logout_timeout": 0.1})
    recorder = Recorder(connector, router)
    orders: list[Order] = []
    refused: list[Order] = []

    send_orders = order_flow(connector, orders, refused, "AAA", "BBB")

    try:
        assert connector.connect(), connector.get_stats()["last_error"]
        connector.subscribe_price("AAA")
        connector.subscribe_orderbook("BBB", depth=5)
        subscriptions = set(connector.subscriptions)
        assert recorder.wait_updates(3, 10, symbol="AAA")
        report = run_schedule(name="fix", connector=connector, recorder=recorder, proxy=proxy,
                              symbol="AAA", also=("BBB",), send_orders=send_orders, faults=100,
                              seed=20261125, heartbeat_interval=HEARTBEAT, budget_s=240)
        for order in orders:
            if order.is_open and order.order_type is OrderType.LIMIT:
                try:
                    connector.cancel_order(order.client_order_id)
                except ConnectorError:
                    pass
        assert recorder.wait(lambda: all(o.is_terminal and not o.unknown_outcome
                                         for o in orders), 30), \
            [o for o in orders if not o.is_terminal or o.unknown_outcome][:5]
        assert set(connector.subscriptions) == subscriptions
        stats = connector.get_stats()
        received = Counter({o.client_order_id: venue.orders_received_count(o.client_order_id)
                            for o in orders + refused})
        truth = {o.client_order_id: venue.order(o.client_order_id) for o in orders}
        venue_fills = {o.client_order_id: [f["exec_id"] for f in
                                           venue.fills_of(o.client_order_id)] for o in orders}
    finally:
        recorder.close()
        connector.close(timeout=5)
        proxy.close()
        venue.stop()

    for order in orders:
        cid = order.client_order_id
        if received[cid] > 1:
            report.mismatches.append(f"{cid} reached the venue {received[cid]} times")
        mine = [f.exec_id for f in order.fills]
        if sorted(mine) != sorted(venue_fills[cid]):
            report.mismatches.append(f"{cid}: fills {mine} != venue {venue_fills[cid]}")
        seen = truth[cid]
        expected = STATUS.get(seen.status) if seen is not None else OrderStatus.REJECTED
        if order.status is not expected:
            report.mismatches.append(f"{cid}: {order.status.value} ({order.reject_reason or ''})"
                                     f" but the venue says "
                                     f"{seen.status if seen else 'never received'}")
    for order in refused:
        cid = order.client_order_id
        if received[cid] or order.status is not OrderStatus.REJECTED:
            report.mismatches.append(f"{cid} refused before the wire but the venue saw it "
                                     f"{received[cid]} times ({order.status.value})")
    report.orders_refused = len(refused)
    report.fills = sum(len(o.fills) for o in orders)
    fix_stats = stats["fix"]
    report.extra = {"reconnections": stats["reconnections"],
                    "venue_executions": sum(len(v) for v in venue_fills.values()),
                    "logons": fix_stats.get("logons", 0),
                    "stalls_detected": fix_stats.get("stalls_detected", 0),
                    "stale_orders_gap_filled": fix_stats.get("stale_orders_gap_filled", 0),
                    "fills_from_status": fix_stats.get("fills_from_status", 0),
                    "duplicate_fills": stats["duplicate_fills"]}
    report.save()
    print(report.summary())
    for mismatch in report.mismatches:
        print("MISMATCH", mismatch)
    assert sum(report.faults.values()) == 100, report.summary()
    assert report.orders_sent >= 150
    assert report.mismatches == [], report.mismatches[:10]
    assert max(report.stall_detect_s) <= 2 * HEARTBEAT + 1.0
