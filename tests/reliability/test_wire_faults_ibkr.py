"""100 seeded wire faults between the IBKR connector and the fake TWS while orders flow:
every order reaches TWS at most once, every execution is applied exactly once, every final
status agrees with TWS, market data resumes after each fault."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from stockfish_core.errors import ConnectorError
from stockfish_core.orders import Order, OrderStatus, OrderType
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder

from tests.reliability.wire_faults import order_flow, run_schedule
from tests.support.fault_proxy import FaultProxy

pytest.importorskip("stockfish_ibkr")
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.testing import FakeTWS

STATUS = {"Filled": OrderStatus.FILLED, "Cancelled": OrderStatus.CANCELLED,
          "Submitted": OrderStatus.SUBMITTED, "PreSubmitted": OrderStatus.SUBMITTED}
HEARTBEAT = 0.5


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ibkr_survives_a_hundred_wire_faults() -> None:
    for name in ("ib_insync", "ib_async"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    tws = FakeTWS(tick_interval=0.02, max_fill_size=40.0)
    tws.start()
    proxy = FaultProxy(tws.port)
    router = DataFeedRouter()
    connector = IBKRConnector(router, port=proxy.port, heartbeat_interval=HEARTBEAT,
                              connect_timeout=3.0, reconnect_initial_delay=0.05,
                              reconnect_max_delay=0.3, request_timeout=5.0)
    recorder = Recorder(connector, router)
    orders: list[Order] = []
    refused: list[Order] = []

    send_orders = order_flow(connector, orders, refused, "SPY", "QQQ")

    try:
        assert connector.connect(), connector.get_stats()["last_error"]
        connector.subscribe_price("SPY")
        connector.subscribe_price("QQQ")
        subscriptions = set(connector.subscriptions)
        assert recorder.wait_updates(3, 10, symbol="SPY")
        report = run_schedule(name="ibkr", connector=connector, recorder=recorder, proxy=proxy,
                              symbol="SPY", send_orders=send_orders, faults=100, seed=20261125,
                              heartbeat_interval=HEARTBEAT, budget_s=150)
        # Settle: cancel what rests, then let every order reach its final state.
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
        placed = Counter(o["order_ref"] for o in tws.orders_received)
        venue_orders = {o["order_ref"]: o for o in tws.orders()}
        executions = tws.executions
        stats = connector.get_stats()
    finally:
        connector.close(timeout=5)
        proxy.close()
        tws.stop()

    venue_fills: dict[str, list[str]] = {}
    for execution in executions:
        venue_fills.setdefault(execution["order_ref"], []).append(execution["exec_id"])
    for order in orders:
        cid = order.client_order_id
        if placed[cid] > 1:
            report.mismatches.append(f"{cid} reached TWS {placed[cid]} times")
        mine = [f.exec_id for f in order.fills]
        if sorted(mine) != sorted(venue_fills.get(cid, [])):
            report.mismatches.append(f"{cid}: fills {mine} != TWS {venue_fills.get(cid)}")
        truth = venue_orders.get(cid)
        expected = STATUS.get(truth["status"]) if truth else OrderStatus.REJECTED
        if order.status is not expected:
            report.mismatches.append(f"{cid}: {order.status.value} "
                                     f"({order.reject_reason or ''}) but TWS says "
                                     f"{truth['status'] if truth else 'never received'}")
    for order in refused:
        cid = order.client_order_id
        if placed[cid] or order.status is not OrderStatus.REJECTED:
            report.mismatches.append(f"{cid} refused before the wire but TWS saw it "
                                     f"{placed[cid]} times ({order.status.value})")
    report.orders_refused = len(refused)
    report.fills = sum(len(o.fills) for o in orders)
    ibkr = stats["ibkr"]
    report.extra = {"reconnections": stats["reconnections"],
                    "venue_executions": len(executions),
                    "heartbeats_missed": ibkr["heartbeats_missed"],
                    "requests_cut_by_disconnect": ibkr["requests_cut_by_disconnect"],
                    "request_timeouts": ibkr["request_timeouts"]}
    report.save()
    print(report.summary())
    assert sum(report.faults.values()) == 100, report.summary()
    assert report.orders_sent >= 150
    assert report.mismatches == [], report.mismatches[:10]
    assert max(report.stall_detect_s) <= 2 * HEARTBEAT + 1.0
