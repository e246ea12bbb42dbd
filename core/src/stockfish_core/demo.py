"""``stockfish-rt demo``: everything working together with no account and no network.

Starts the simulated venue of every installed plugin (two ``sim`` venues, primary and
backup, plus the FIX, IBKR and ZMQ venues when those plugins are installed), runs the manager
with failover over them, shows live data, sends orders, kills the primary venue mid-order,
shows orders moving to the backup and the primary being reconnected and reconciled, and ends
with a summary that checks no order was sent twice and every fill arrived exactly once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from typing import Any, TextIO

from stockfish_core import plugins
from stockfish_core.errors import ConnectorError
from stockfish_core.hookspecs import hookimpl
from stockfish_core.lifecycle import handle_stop_signals
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import DataType, MarketUpdate, PriceTick
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType
from stockfish_core.sim_venue import SimVenue
from stockfish_core.status_view import StatusView

__all__ = ["add_arguments", "main"]

SIM_SYMBOLS = ("SPY", "QQQ", "AAPL")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds the demo runs (it stops by itself)")
    parser.add_argument("--only-sim", action="store_true",
                        help="use only the built-in sim venues")


class _Observer:
    """A plugin registered for the demo's lifetime: prints failovers and status changes."""

    def __init__(self, out: TextIO, started: float) -> None:
        self.out = out
        self.started = started

    def _say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {text}", file=self.out, flush=True)

    @hookimpl
    def stockfish_failover(self, decision: Any) -> None:
        where = f" {decision.symbol}" if decision.symbol else ""
        self._say(f"FAILOVER {decision.kind}{where}: {decision.from_connector} -> "
                  f"{decision.to_connector} ({decision.reason})")

    @hookimpl
    def stockfish_connector_status_changed(self, connector: str, old_status: Any,
                                           new_status: Any, reason: str | None) -> None:
        # Show losing and regaining a connection, not every retry in between.
        if "CONNECTED" not in (old_status.value, new_status.value):
            return
        self._say(f"status {connector}: {old_status.value} -> {new_status.value}"
                  + (f" ({reason})" if reason else ""))


class Demo:
    def __init__(self, duration: float, only_sim: bool, out: TextIO,
                 journal_path: str = "memory") -> None:
        self.duration = max(duration, 6.0)
        self.journal_path = journal_path
        self.only_sim = only_sim
        self.out = out
        self.started = time.monotonic()
        self.venues: list[Any] = []
        self.venue_symbols: dict[str, tuple[str, ...]] = {}
        self.prices: dict[str, float] = {}
        self.sent: list[Order] = []
        self.stop = threading.Event()
        self.tag = f"{int(time.time() * 1000) % 10**8}"

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {text}", file=self.out, flush=True)

    def at(self, fraction: float) -> bool:
        """Wait until ``fraction`` of the duration has passed; False if stopped."""
        remaining = self.started + fraction * self.duration - time.monotonic()
        return not self.stop.wait(max(remaining, 0.0))

    # -- set-up ---------------------------------------------------------------------------
    def build_config(self) -> dict[str, Any]:
        plugins.load_plugins_once()
        offered: dict[str, Any] = {}
        plugins.get_plugin_manager().hook.stockfish_simulated_venues(
            register=offered.setdefault)
        fast = {"reconnect_initial_delay": 0.2, "reconnect_max_delay": 1.0}
        connectors: dict[str, Any] = {}
        sim = offered.pop("sim")
        for role, seed in (("primary", 1), ("backup", 2)):
            venue = sim(name=f"demo-{role}-{self.tag}", seed=seed, tick_interval=0.05)
            entry = venue.start()
            self.venues.append(venue)
            self.venue_symbols[role] = SIM_SYMBOLS
            connectors[role] = {**entry, **fast, "heartbeat_interval": 0.5,
                                "primary": role == "primary"}
        if not self.only_sim:
            for name, factory in sorted(offered.items()):
                try:
                    venue = factory()
                    entry = venue.start()
                except Exception as exc:  # one plugin's venue failing never stops the demo
                    self.say(f"simulated venue {name} did not start: {exc}")
                    continue
                self.venues.append(venue)
                self.venue_symbols[name] = tuple(getattr(venue, "symbols", ()) or ("SPY",))
                connectors[name] = {**entry, **fast}
        return {
            "connectors": connectors,
            "manager": {"failover_strategy": "primary_backup", "health_check_interval": 1.0,
                        "stop_timeout": 5.0, "journal": self.journal_path,
                        "arbitration": {"enabled": True, "stale_after": 1.0,
                                        "feeds": ["primary", "backup"]}},
        }

    def on_update(self, update: MarketUpdate) -> None:
        tick = update.payload
        if isinstance(tick, PriceTick) and (mid := tick.mid_price or tick.last):
            self.prices[update.symbol] = mid

    # -- the show -------------------------------------------------------------------------
    def order(self, manager: ExchangeManager, order: Order, connector: str | None = None,
              note: str = "") -> None:
        try:
            manager.send_order(order, connector)
        except ConnectorError as exc:
            self.say(f"order {order.client_order_id} refused: {exc}")
            return
        self.sent.append(order)
        self.say(f"order {order.side.value} {order.quantity:g} {order.symbol} "
                 f"{order.order_type.value}{f' @ {order.price:.2f}' if order.price else ''}"
                 f" -> {order.connector}{f' ({note})' if note else ''}")

    def run(self) -> int:
        observer = _Observer(self.out, self.started)
        plugins.load_plugins_once()
        plugins.register_plugin(observer, f"demo-observer-{self.tag}")
        config = self.build_config()
        manager = ExchangeManager.from_config(config)
        view = StatusView(manager, self.out, use_rich=False)
        try:
            return self.show(manager, view)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the same clean stop
            self.say(f"stopping ({exc or 'interrupted'})")
            return 130
        finally:
            hung = manager.stop_all()
            if manager.journal is not None:
                manager.journal.close()
            for venue in self.venues:
                try:
                    venue.stop()
                except Exception as exc:
                    self.say(f"venue stop failed: {exc}")
            if hung:
                self.say(f"did not stop in time: {', '.join(hung)}")
            plugins.get_plugin_manager().unregister(name=f"demo-observer-{self.tag}")

    def show(self, manager: ExchangeManager, view: StatusView) -> int:
        names = manager.list_connectors()
        self.say(f"connectors: {', '.join(names)} (primary: {manager.primary_connector})")
        manager.start_all()
        manager.arbitrated_router.subscribe(self.on_update, data_types=DataType.PRICE_TICK)
        for name in names:
            symbols = self.venue_symbols.get(name, ("SPY",))
            manager.subscribe_price(list(symbols), connectors=name)
            if DataType.ORDERBOOK_SNAPSHOT in manager.get_connector(name).capabilities.data_types:
                manager.subscribe_orderbook(list(symbols[:1]), 5, connectors=name)
        if not self.at(0.12):
            return 1
        view.render("live data")
        # Trading: auto-routed orders, and one through every other order-capable venue.
        self.order(manager, Order("SPY", OrderSide.BUY, 100), note="auto-routed")
        for name in names:
            connector = manager.get_connector(name)
            if name not in ("primary", "backup") and not connector.data_only:
                symbol = self.venue_symbols[name][0]
                self.order(manager, Order(symbol, OrderSide.BUY, 1), name)
        resting = self._limit(manager, "QQQ", 0.995)
        if not self.at(0.30):
            return 1
        big = Order("AAPL", OrderSide.BUY, 1500)
        self.order(manager, big, note="fills over several ticks; the venue dies mid-order")
        primary = SimVenue.get(config_venue(manager, "primary"))
        self.at(0.32)
        outage = round(min(3.0, 0.15 * self.duration), 1)
        self.say(f"KILLING the primary venue (and refusing reconnects for {outage:g} s)")
        primary.refuse_connections(outage)
        primary.drop()
        self.say(f"big order after the drop: {big.status.value}, filled "
                 f"{big.filled_quantity:g}/{big.quantity:g}, unknown outcome: "
                 f"{big.unknown_outcome}")
        self.order(manager, Order("SPY", OrderSide.SELL, 50), note="primary is down")
        self._limit(manager, "SPY", 0.99)
        if not self.at(0.45):
            return 1
        view.render("primary down")
        ok = self._wait_for(lambda: manager.get_connector("primary").is_connected, 0.75)
        self.say(f"primary reconnected: {ok}; big order now {big.status.value}, filled "
                 f"{big.filled_quantity:g}/{big.quantity:g} in {len(big.fills)} fills, "
                 f"unknown outcome: {big.unknown_outcome}")
        self.order(manager, Order("QQQ", OrderSide.BUY, 10), note="primary is back")
        if resting.is_open:
            self.cancel(manager, resting)
        self.at(0.85)
        view.render("after recovery")
        for order in self.sent:
            if order.is_open:
                self.cancel(manager, order)
        self._wait_for(lambda: not any(o.is_open for o in self.sent), 0.95)
        return self.summary(manager)

    def cancel(self, manager: ExchangeManager, order: Order) -> None:
        try:
            manager.cancel_order(order.client_order_id)
            self.say(f"cancel {order.client_order_id} -> {order.connector}")
        except ConnectorError as exc:
            self.say(f"cancel {order.client_order_id} refused: {exc}")

    def _limit(self, manager: ExchangeManager, symbol: str, factor: float) -> Order:
        price = round(self.prices.get(symbol, 100.0) * factor, 2)
        order = Order(symbol, OrderSide.BUY, 10, OrderType.LIMIT, price=price)
        self.order(manager, order, note="resting")
        return order

    def _wait_for(self, predicate: Any, fraction: float) -> bool:
        deadline = self.started + fraction * self.duration
        while not predicate():
            if time.monotonic() >= deadline or self.stop.wait(0.05):
                return bool(predicate())
        return True

    def summary(self, manager: ExchangeManager) -> int:
        stats = manager.get_stats()
        m = stats["manager"]
        self.say("SUMMARY")
        total = stats["total"]
        active = m["arbitration"]["active"] if m["arbitration"] else "-"
        print(f"  updates: {total['updates_normalized']:,} normalized "
              f"({total['data_errors']} rejected) from {total['connectors']} connectors; "
              f"active feeds: {active}", file=self.out)
        print(f"  orders sent: {len(self.sent)}; failovers {m['failovers']}, reconnects "
              f"{m['reconnects']}, reconciliations {m['reconciliations']}", file=self.out)
        for order in self.sent:
            print(f"    {order.client_order_id} {order.side.value} {order.quantity:g} "
                  f"{order.symbol} via {order.connector}: {order.status.value} filled "
                  f"{order.filled_quantity:g}", file=self.out)
        problems = []
        for role in ("primary", "backup"):
            venue = SimVenue.get(config_venue(manager, role))
            twice = [cid for cid, n in venue.orders_received.items() if n > 1]
            if twice:
                problems.append(f"{role}: orders received twice: {twice}")
            for order in self.sent:
                if order.connector != role:
                    continue
                truth = [f["exec_id"] for f in venue.fills
                         if f["client_order_id"] == order.client_order_id]
                mine = [f.exec_id for f in order.fills]
                if sorted(truth) != sorted(mine):
                    problems.append(f"{order.client_order_id}: fills {mine} != venue {truth}")
        unknown = [o.client_order_id for o in self.sent if o.unknown_outcome]
        if unknown:
            problems.append(f"orders still of unknown outcome: {unknown}")
        for problem in problems:
            print(f"  PROBLEM: {problem}", file=self.out)
        if not problems:
            print("  OK: no order sent twice; every venue fill applied exactly once; "
                  "no order left of unknown outcome", file=self.out)
        filled = sum(1 for o in self.sent if o.status is OrderStatus.FILLED)
        print(f"  {filled}/{len(self.sent)} orders filled", file=self.out, flush=True)
        return 1 if problems else 0


def config_venue(manager: ExchangeManager, name: str) -> str:
    return str(manager.get_connector(name).settings.venue)


def main(args: argparse.Namespace) -> int:
    if not getattr(args, "verbose", 0):
        # The demo narrates what happens; library warnings would repeat it.
        logging.getLogger().setLevel(logging.ERROR)
    handle_stop_signals(bound=30.0)
    with tempfile.TemporaryDirectory(prefix="stockfish-demo-") as folder:
        return Demo(args.duration, args.only_sim, sys.stdout,
                    journal_path=os.path.join(folder, "journal.sqlite3")).run()
