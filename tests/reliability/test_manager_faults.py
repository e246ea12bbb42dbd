"""100 seeded venue faults under the manager while orders are routed automatically: no
order reaches two venues or one venue twice, every fill is applied exactly once, every final
status agrees with the venue, and market data resumes after every fault."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
from stockfish_core.connector import ConnectorStatus
from stockfish_core.errors import ConnectorError
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import now_ns
from stockfish_core.orders import Order, OrderStatus, OrderType
from stockfish_core.sim import SimConnector
from stockfish_core.testing import Recorder

from tests.reliability.wire_faults import FaultReport

STATUS = {"SUBMITTED": OrderStatus.SUBMITTED, "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
          "FILLED": OrderStatus.FILLED, "CANCELLED": OrderStatus.CANCELLED,
          "REJECTED": OrderStatus.REJECTED}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_manager_survives_a_hundred_venue_faults() -> None:
    manager = ExchangeManager("primary_backup", health_check_interval=0.2, stop_timeout=3.0)
    tag = now_ns()
    for name in ("a", "b", "c"):
        manager.add_connector(SimConnector(
            name=name, venue=f"faults-{name}-{tag}", tick_interval=0.005, top_size=30.0,
            heartbeat_interval=0.2, reconnect_initial_delay=0.02, reconnect_max_delay=0.1,
            latency=0.002), name, primary=name == "a")
    recorders = {n: Recorder(manager.get_connector(n), manager.router) for n in "abc"}
    rng = random.Random(20261125)
    report = FaultReport("manager")
    started = time.monotonic()
    orders: list[Order] = []
    try:
        assert manager.start_all()
        manager.subscribe_price(["SPY", "QQQ"])
        for _ in range(100):
            for _ in range(rng.randint(1, 4)):
                order = rng.choice((
                    Order("SPY", "BUY", rng.randint(1, 100)),
                    Order("QQQ", "SELL", 5, OrderType.LIMIT, price=1.0e5),
                ))
                try:
                    manager.send_order(order)
                    orders.append(order)
                    report.orders_sent += 1
                except ConnectorError:
                    report.orders_refused += 1
            resting = [o for o in orders if o.order_type is OrderType.LIMIT and o.is_open]
            if resting and rng.random() < 0.5:
                try:
                    manager.cancel_order(rng.choice(resting).client_order_id)
                except ConnectorError:
                    pass
            name = rng.choice("aab")
            connector = manager.get_connector(name)
            venue = connector.venue  # type: ignore[attr-defined]
            kind = rng.choice(("drop", "drop_refuse", "hang"))
            report.faults[kind] += 1
            if kind == "drop":
                venue.drop()
            elif kind == "drop_refuse":
                venue.refuse_connections(rng.uniform(0.05, 0.3))
                venue.drop()
            else:
                seen_before = len(recorders[name].statuses)
                venue.hang(0.5)  # silent: the health check must notice
            recorder = recorders[name]
            if kind == "hang":
                hung_at = time.monotonic()
                # The status history, not a poll of is_connected: a fast reconnect can
                # come and go between two polls of the waiter.
                if recorder.wait(lambda r=recorder, i=seen_before: any(
                        s is not ConnectorStatus.CONNECTED for s in r.statuses[i:]), 2.0):
                    report.stall_detect_s.append(time.monotonic() - hung_at)
                else:
                    report.mismatches.append(f"{name}: silent venue not detected")
            if not recorder.wait(lambda c=connector: c.is_connected, 15):
                report.mismatches.append(f"{name} did not recover from {kind}")
                break
            if recorder.wait_updates(1, 10, symbol="SPY"):
                report.data_resumed += 1
            else:
                report.mismatches.append(f"{name}: data did not resume after {kind}")
        for order in orders:
            if order.is_open and order.order_type is OrderType.LIMIT:
                try:
                    manager.cancel_order(order.client_order_id)
                except ConnectorError:
                    pass
        assert recorders["a"].wait(lambda: all(o.is_terminal and not o.unknown_outcome
                                               for o in orders), 30)
    finally:
        manager.stop_all()
    venues = {n: manager.get_connector(n).venue for n in "abc"}  # type: ignore[attr-defined]
    for order in orders:
        cid = order.client_order_id
        seen = Counter({n: v.orders_received[cid] for n, v in venues.items()})
        if sum(seen.values()) != 1 or seen[order.connector] != 1:
            report.mismatches.append(f"{cid} reached venues {dict(seen)}")
        venue = venues[order.connector]
        truth = venue.order_state(cid)
        if truth is None or STATUS[truth["status"]] is not order.status:
            report.mismatches.append(f"{cid}: {order.status.value} vs venue {truth}")
            continue
        if sorted(f.exec_id for f in order.fills) != sorted(f["exec_id"] for f in truth["fills"]):
            report.mismatches.append(f"{cid} {order.status.value} {order.filled_quantity}/{order.quantity}: fills {[f.exec_id for f in order.fills]} vs venue {[f['exec_id'] for f in truth['fills']]}")
    report.fills = sum(len(o.fills) for o in orders)
    report.seconds = time.monotonic() - started
    report.save()
    print(report.summary())
    for mismatch in report.mismatches:
        print("MISMATCH", mismatch)
    assert sum(report.faults.values()) == 100
    assert report.mismatches == [], report.mismatches[:10]
    assert report.orders_sent >= 150
    stats = manager.get_stats()
    assert stats["manager"]["failovers"] >= 1
    assert stats["total"]["duplicate_fills"] >= 0
