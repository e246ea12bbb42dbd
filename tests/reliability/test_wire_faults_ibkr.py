"""100 seeded wire faults between the IBKR connector and the fake TWS while orders flow:
every order reaches TWS at most once, every execution is applied exactly once, every final
status agrees with TWS, market data resumes after each fault."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from stockfish_core.orders import Order, OrderStatus
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_core.testing.fault_proxy import FaultProxy

from tests.reliability.wire_faults import compare_with_venue, order_flow, run_schedule, settle

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
        unsettled = settle(connector, recorder, orders)
        assert not unsettled, unsettled[:5]
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
    statuses = {o.client_order_id: venue_orders[o.client_order_id]["status"]
                if o.client_order_id in venue_orders else None for o in orders}
    compare_with_venue(report, orders, refused, venue="TWS", received=placed,
                       fills=venue_fills, statuses=statuses, status_map=STATUS)
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
