"""Failover, reconnection, reconciliation, arbitration, bounded stop, concurrency."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

from stockfish_core import plugins
from stockfish_core.config import ArbitrationConfig
from stockfish_core.hookspecs import hookimpl
from stockfish_core.manager import ExchangeManager, FailoverDecision
from stockfish_core.models import DataType, MarketUpdate
from stockfish_core.orders import Order, OrderStatus, OrderType
from stockfish_core.testing import wait_until

from tests.manager.conftest import venue

Make = Callable[..., ExchangeManager]


def test_after_the_primary_drops_the_next_order_goes_to_the_backup(make_manager: Make) -> None:
    manager = make_manager(("a", "b"))
    assert manager.start_all()
    manager.subscribe_price(["SPY", "QQQ"])
    before = Order("SPY", "BUY", 1)
    manager.send_order(before)
    assert before.connector == "a"
    venue(manager, "a").refuse_connections(0.5)
    venue(manager, "a").drop()
    after = Order("SPY", "BUY", 1)
    manager.send_order(after)
    assert after.connector == "b"
    decision = manager.get_stats()["manager"]["last_failover"]
    assert (decision["kind"], decision["from_connector"], decision["to_connector"]) == \
        ("orders", "a", "b")
    # The primary comes back, resubscribed, and orders return to it.
    primary = manager.get_connector("a")
    assert wait_until(lambda: primary.is_connected, 10)
    assert {s for _, s in primary.subscriptions} == {"SPY", "QQQ"}
    updates_then = primary.stats.updates_normalized
    assert wait_until(lambda: primary.stats.updates_normalized > updates_then + 5, 5)
    back = Order("SPY", "BUY", 1)
    manager.send_order(back)
    assert back.connector == "a"
    stats = manager.get_stats()["manager"]
    assert stats["reconnects"] == 1 and stats["failovers"] >= 2


def test_in_flight_order_ends_with_the_venue_truth_and_is_never_duplicated(
    make_manager: Make,
) -> None:
    manager = make_manager(("a", "b"), top_size=100.0, tick_interval=0.02)
    assert manager.start_all()
    big = Order("SPY", "BUY", 1000)  # fills 100 per venue tick: most of it while down
    manager.send_order(big)
    venue(manager, "a").refuse_connections(0.3)
    venue(manager, "a").drop()
    assert big.unknown_outcome
    assert not big.is_terminal
    assert wait_until(lambda: big.status is OrderStatus.FILLED and not big.unknown_outcome,
                      15)
    truth = [f for f in venue(manager, "a").fills if f["client_order_id"] == big.client_order_id]
    assert [f.exec_id for f in big.fills] == [f["exec_id"] for f in truth]
    assert big.filled_quantity == 1000
    assert venue(manager, "a").orders_received[big.client_order_id] == 1
    assert venue(manager, "b").orders_received[big.client_order_id] == 0
    assert manager.get_stats()["manager"]["reconciliations"] >= 1
    assert manager.get_stats()["a"]["duplicate_fills"] == 0


def test_resting_order_filled_during_the_outage_is_applied_once(make_manager: Make) -> None:
    manager = make_manager(("a",), primary="a")
    assert manager.start_all()
    manager.subscribe_price("SPY")
    prices: list[float] = []
    manager.router.subscribe(lambda u: prices.append(u.payload.bid), DataType.PRICE_TICK)
    assert wait_until(lambda: bool(prices), 5)
    # A buy limit far above the market fills at once: rest it 'below' by latency instead.
    a = venue(manager, "a")
    a.latency = 0.2  # the fill report is produced after the connection is gone
    order = Order("SPY", "BUY", 5, OrderType.LIMIT, price=round(prices[-1] * 1.5, 2))
    manager.send_order(order)
    a.refuse_connections(0.5)
    a.drop()
    assert wait_until(lambda: order.status is OrderStatus.FILLED, 10)
    assert len(order.fills) == 1 and order.filled_quantity == 5
    assert manager.get_stats()["a"]["fills_applied"] == 1


def test_arbitration_switches_and_switches_back(make_manager: Make) -> None:
    manager = make_manager(("a", "b"), arbitration=ArbitrationConfig(
        enabled=True, stale_after=0.3, feeds=["a", "b"]))
    got: list[MarketUpdate] = []
    lock = threading.Lock()

    def record(update: MarketUpdate) -> None:
        with lock:
            got.append(update)

    manager.arbitrated_router.subscribe(record, DataType.PRICE_TICK)
    assert manager.start_all()
    manager.subscribe_price("SPY")

    def sources() -> list[str]:
        with lock:
            return [u.source for u in got]

    # Past the start-up settling window (stale_after) before the fault.
    assert wait_until(lambda: sources().count("a") >= 150, 5)
    assert "b" not in sources()
    venue(manager, "a").hang(1.0)  # silent, socket still "up"
    assert wait_until(lambda: sources()[-1:] == ["b"], 5), "did not switch to the backup"
    assert wait_until(lambda: sources()[-3:] == ["a", "a", "a"], 10), "did not switch back"
    active = manager.get_stats()["manager"]["arbitration"]
    assert active["active"]["SPY"] == "a" and active["switches"] >= 2
    with lock:
        per_source_seq = {}
        for u in got:
            per_source_seq.setdefault(u.source, []).append(u.sequence)
    for seqs in per_source_seq.values():
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


def test_a_backup_carries_a_symbol_the_preferred_feed_never_quotes(make_manager: Make) -> None:
    """At start-up the preferred feed has ``stale_after`` to deliver a symbol first (the
    feeds answer in any order); one that never quotes it leaves it to the next feed."""
    manager = make_manager(("a", "b"), arbitration=ArbitrationConfig(
        enabled=True, stale_after=0.3, feeds=["a", "b"]))
    got: list[str] = []
    manager.arbitrated_router.subscribe(lambda u: got.append(u.source), DataType.PRICE_TICK)
    assert manager.start_all()
    manager.subscribe_price("QQQ", connectors="b")  # "a" is live but never quotes QQQ
    assert wait_until(lambda: len(got) >= 20, 5)
    assert set(got) == {"b"}
    stats = manager.get_stats()["manager"]["arbitration"]
    assert stats["active"]["QQQ"] == "b" and stats["suppressed"] >= 1


def test_silent_connection_is_caught_by_the_health_check(make_manager: Make) -> None:
    manager = make_manager(("a",), primary="a", heartbeat_interval=0.1)
    connector = manager.get_connector("a")
    # Only the manager's health check watches here: the connector's own watchdog would race
    # it to the silence (and, under load, win).
    connector.watchdog = False  # type: ignore[misc]
    assert manager.start_all()
    venue(manager, "a").hang(0.6)
    assert wait_until(lambda: manager.get_stats()["manager"]["silent_detected"] >= 1, 5)
    assert wait_until(lambda: connector.is_connected and connector.stats.reconnections >= 1,
                      10)


def test_stop_all_returns_in_bounded_time_with_a_hung_venue(make_manager: Make) -> None:
    manager = make_manager(("a", "b"))
    manager.stop_timeout = 0.5
    assert manager.start_all()
    venue(manager, "a").hang(5.0)
    start = time.monotonic()
    hung = manager.stop_all()
    assert time.monotonic() - start < 1.5
    assert hung == ["a"]
    assert manager.get_connector("b").status.value == "DISCONNECTED"


def test_calls_from_inside_a_market_data_callback_do_not_deadlock(make_manager: Make) -> None:
    manager = make_manager(("a", "b"))
    assert manager.start_all()
    sent: list[str] = []
    done = threading.Event()

    def trade_on_tick(update: MarketUpdate) -> None:
        if len(sent) < 5:
            order = Order(update.symbol, "BUY", 1)
            sent.append(manager.send_order(order))
            manager.get_order_status(order.client_order_id)
            manager.get_stats()
            manager.get_health_status()
        else:
            done.set()

    manager.router.subscribe(trade_on_tick, DataType.PRICE_TICK, "SPY")
    manager.subscribe_price("SPY", connectors="a")
    assert done.wait(10)
    assert len(sent) == 5


def test_many_threads_leave_consistent_stats(make_manager: Make) -> None:
    manager = make_manager(("a", "b", "c"), strategy="round_robin")
    assert manager.start_all()
    manager.subscribe_price(["SPY", "QQQ"])
    orders: list[Order] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        for j in range(25):
            order = Order("SPY", "BUY", 1, OrderType.LIMIT, price=0.5)
            manager.send_order(order)
            with lock:
                orders.append(order)
            if j % 5 == 0:
                manager.cancel_order(order.client_order_id)
            manager.get_stats()
            manager.get_health_status()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(orders) == 200
    assert wait_until(lambda: all(o.status in (OrderStatus.SUBMITTED, OrderStatus.CANCELLED)
                                  for o in orders), 10)
    total = manager.get_stats()["total"]
    assert total["orders_submitted"] == 200
    assert total["orders_cancelled"] == sum(o.status is OrderStatus.CANCELLED for o in orders)
    received = sum(sum(venue(manager, n).orders_received.values()) for n in ("a", "b", "c"))
    assert received == 200
    assert max(max(venue(manager, n).orders_received.values()) for n in ("a", "b", "c")) == 1


def test_failover_hook_is_emitted(make_manager: Make, fresh_plugins: None) -> None:
    seen: list[FailoverDecision] = []

    class Observer:
        @hookimpl
        def stockfish_failover(self, decision: FailoverDecision) -> None:
            seen.append(decision)

    plugins.register_plugin(Observer(), "observer")
    manager = make_manager(("a", "b"))
    assert manager.start_all()
    manager.send_order(Order("SPY", "BUY", 1))
    venue(manager, "a").refuse_connections(0.3)
    venue(manager, "a").drop()
    assert wait_until(lambda: bool(seen), 5)
    assert seen[0].from_connector == "a" and seen[0].to_connector == "b"


def test_from_yaml_and_context_manager(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "connectors:\n"
        "  paper:\n    type: sim\n    primary: true\n    venue: yaml-a\n"
        "  backup:\n    type: sim\n    venue: yaml-b\n"
        "  feed:\n    type: sim\n    venue: yaml-c\n    data_only: true\n"
        "manager:\n  failover_strategy: primary_backup\n  health_check_interval: 5\n")
    with ExchangeManager.from_config(path) as manager:
        assert manager.primary_connector == "paper"
        assert manager.get_connector("feed").data_only
        assert manager.health_check_interval == 5.0
        order = Order("SPY", "BUY", 1)
        manager.send_order(order)
        assert order.connector == "paper"
        stats = manager.get_stats()
        assert stats["total"]["connected"] == 3 and stats["total"]["orders_submitted"] == 1
    assert all(not c.is_connected for c in manager.connectors.values())


def test_demo_runs_and_shows_failover() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stockfish_core.cli", "demo", "--duration", "7", "--only-sim"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "KILLING the primary venue" in out
    assert "FAILOVER orders: primary -> backup" in out
    assert "primary reconnected: True" in out
    assert "OK: no order sent twice" in out
