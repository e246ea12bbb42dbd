"""100 seeded faults between the IBKR connector and the fake TWS while orders flow, on the
wire (stalls, resets, latency, refused connections) and at TWS (order errors, pacing
drops of orders and cancels, refused cancels, a farm outage, the link to IB lost, a
restart that rolls the order ids back): every order reaches TWS at most once (a request
TWS dropped unprocessed does not count), every execution is applied exactly once, every
final status agrees with TWS, market data resumes after each fault."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable

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


def tws_faults(tws: FakeTWS) -> dict[str, Callable[[random.Random], None]]:
    """Faults TWS itself makes, for the schedule to draw alongside the wire faults."""
    def order_error(rng: random.Random) -> None:  # the next order is refused or cancelled
        tws.inject_error("placeOrder", rng.choice((110, 201, 202, 103)),
                         reason="injected by the schedule")

    def order_dropped(rng: random.Random) -> None:  # placed again once TWS lacks it
        tws.inject_error("placeOrder", 100, count=rng.randint(1, 2))

    def cancel_dropped(rng: random.Random) -> None:
        tws.inject_error("cancelOrder", 100)

    def cancel_refused(rng: random.Random) -> None:
        tws.inject_error("cancelOrder", rng.choice((161, 10148)))

    def farm_outage(rng: random.Random) -> None:
        tws.farm_lost("usfarm")
        tws.farm_restored("usfarm", resume_streams=rng.random() < 0.5)

    def link_loss(rng: random.Random) -> None:
        tws.connectivity_lost()
        tws.connectivity_restored(data_lost=rng.random() < 0.5)

    def restart(rng: random.Random) -> None:  # hands out order id 1 again
        tws.restart(next_valid_id=1, downtime=rng.uniform(0.1, 0.4))

    return {f.__name__: f for f in (order_error, order_dropped, cancel_dropped,
                                     cancel_refused, farm_outage, link_loss, restart)}


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
                              reconnect_max_delay=0.3, request_timeout=5.0,
                              farm_watchdog=0.5)
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
                              heartbeat_interval=HEARTBEAT, budget_s=200,
                              venue_faults=tws_faults(tws))
        tws.clear_errors()  # an injection no order used would refuse a settling cancel
        unsettled = settle(connector, recorder, orders)
        assert not unsettled, unsettled[:5]
        assert set(connector.subscriptions) == subscriptions
        # A placeOrder TWS dropped unprocessed (error 100) never reached its book.
        placed = Counter(o["order_ref"] for o in tws.orders_received
                         if o["outcome"] != "dropped 100")
        venue_orders = {o["order_ref"]: o for o in tws.orders()}
        executions = tws.executions
        stats = connector.get_stats()
        tws_pacing = tws.pacing()
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
                    "request_timeouts": ibkr["request_timeouts"],
                    "orders_dropped_by_pacing": ibkr["orders_dropped_by_pacing"],
                    "orders_placed_again": ibkr["orders_placed_again"],
                    "cancels_dropped_by_pacing": ibkr["cancels_dropped_by_pacing"],
                    "verifications": ibkr["verifications"],
                    "md_rerequests": ibkr["md_rerequests"],
                    "farm_outages": ibkr["farm_outages"],
                    "order_id_rollbacks": ibkr["order_id_rollbacks"],
                    "orders_lost_by_tws": ibkr["orders_lost_by_tws"],
                    "pacing_errors_at_tws": tws_pacing["refused"],
                    "tws_peak_messages_per_second": tws_pacing["peak_per_second"]}
    report.save()
    print(report.summary())
    assert sum(report.faults.values()) == 100, report.summary()
    assert report.extra["pacing_errors_at_tws"] == 0, report.summary()
    assert report.orders_sent >= 150
    assert report.mismatches == [], report.mismatches[:10]
    assert max(report.stall_detect_s) <= 2 * HEARTBEAT + 1.0
