"""The trading process of the crash schedule: ``python -m tests.reliability.crash_trader``.

It runs a manager from a configuration (with its order journal), lets it recover what the
last run left, prints one JSON line ``{"ready": ..., "recovery_s": ...}``, then trades a
seeded plan of orders across the configured connectors until it is killed. Before each
``send_order`` it appends the client order id to the ledger file (the user's own record of
what it sent: a line in the page cache survives SIGKILL).

``--kill POINT:N`` makes the process SIGKILL itself at the N-th passage through a point of
the order path, to hit the windows that matter: ``before_journal`` (intent not yet
written), ``before_wire`` (journaled, not sent), ``after_wire`` (sent, no answer yet),
``fill`` (while fills stream), ``reconcile`` (while reconciling with a venue at start-up).
Without it the test kills the process from outside at a random moment. ``--report`` only
recovers and prints every order it knows as JSON (the ledger's and those ``--ids`` names),
then stops cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from typing import Any

from stockfish_core.errors import UnknownOrderError
from stockfish_core.manager import ExchangeManager
from stockfish_core.orders import Order, OrderEvent, OrderSide, OrderType


class KillSwitch:
    """SIGKILL this process at the N-th passage through ``point``."""

    def __init__(self, spec: str | None) -> None:
        self.point, _, n = (spec or ":").partition(":")
        self.left = int(n) if n else 0
        self._lock = threading.Lock()

    def passing(self, point: str) -> None:
        if point != self.point:
            return
        with self._lock:
            self.left -= 1
            if self.left == 0:
                os.kill(os.getpid(), signal.SIGKILL)


def _instrument(manager: ExchangeManager, kill: KillSwitch) -> None:
    journal = manager.journal
    assert journal is not None
    record_intent = journal.record_intent

    def intent(order: Order) -> None:
        kill.passing("before_journal")
        record_intent(order)

    journal.record_intent = intent  # type: ignore[method-assign]
    for connector in manager.list_connectors_objects():
        submit, request_states = connector.submit_order, connector.request_order_states

        def submit_order(order: Order, submit: Any = submit) -> None:
            kill.passing("before_wire")
            submit(order)
            kill.passing("after_wire")

        def request_order_states(orders: list[Order], timeout: float,
                                 request: Any = request_states) -> set[str]:
            answered: set[str] = request(orders, timeout)
            kill.passing("reconcile")
            return answered

        connector.submit_order = submit_order  # type: ignore[method-assign]
        connector.request_order_states = request_order_states  # type: ignore[method-assign]

    def on_event(event: OrderEvent) -> None:
        if event.kind == "fill":
            kill.passing("fill")

    manager.add_order_listener(on_event)


def _plan(rng: random.Random, symbols: dict[str, list[str]]) -> tuple[str, Order]:
    name = rng.choice(sorted(symbols))
    symbol = rng.choice(symbols[name])
    side = rng.choice((OrderSide.BUY, OrderSide.SELL))
    kind = rng.random()
    qty = float(rng.randint(1, 3) * 100 if kind < 0.3 else rng.randint(1, 5))
    if kind < 0.5:
        return name, Order(symbol, side, qty)  # market; large ones fill in parts
    if kind < 0.8:  # resting, far from the market
        price = 1.0 if side is OrderSide.BUY else 100_000.0
        return name, Order(symbol, side, qty, OrderType.LIMIT, price=price)
    return name, Order(symbol, side, qty, OrderType.LIMIT,  # marketable
                       price=100_000.0 if side is OrderSide.BUY else 1.0)


def _report(manager: ExchangeManager, ledger: str, also: list[str]) -> dict[str, Any]:
    """Every order the manager knows: those it holds, and each one the ledger says was sent
    or ``also`` names (asked by id, as a user would: earlier runs' orders answer from the
    journal)."""
    orders = {o.client_order_id: o for o in manager.orders()}
    with open(ledger, encoding="utf-8") as fh:
        wanted = [line.split()[0] for line in fh] + also
        for cid in wanted:
            if cid not in orders:
                try:
                    orders[cid] = manager.get_order(cid)
                except UnknownOrderError:
                    pass
    return {cid: {
        "connector": o.connector, "status": o.status.value, "filled": o.filled_quantity,
        "fills": sorted(f.exec_id for f in o.fills), "unknown": o.unknown_outcome,
        "external": o.external, "venue_order_id": o.order_id,
    } for cid, o in orders.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config")
    parser.add_argument("ledger")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--symbols", type=json.loads, required=True,
                        help='{"connector": ["SYM", ...], ...}')
    parser.add_argument("--orders", type=int, default=40)
    parser.add_argument("--kill", default=None)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--ids", type=json.loads, default=[],
                        help="with --report: more order ids to ask for")
    args = parser.parse_args(argv)
    started = time.monotonic()
    manager = ExchangeManager.from_config(args.config)
    kill = KillSwitch(args.kill)
    _instrument(manager, kill)
    manager.start_all(timeout=30.0)
    for connector in manager.list_connectors_objects():
        if connector.recovering:  # start_all could not reach it at once: wait for the loop
            manager.wait_orders(lambda c=connector: not c.recovering, 30.0)
    recovery_s = time.monotonic() - started
    if args.report:
        print(json.dumps({"report": _report(manager, args.ledger, args.ids), "recovery_s": recovery_s}),
              flush=True)
        manager.close()
        return 0
    print(json.dumps({"ready": True, "recovery_s": recovery_s}), flush=True)
    rng = random.Random(args.seed)
    ledger = os.open(args.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    sent: list[Order] = []
    for i in range(args.orders):
        name, order = _plan(rng, args.symbols)
        order.client_order_id = f"S{args.seed}-{i}"
        os.write(ledger, f"{order.client_order_id} {name}\n".encode())
        try:
            manager.send_order(order, name)
            sent.append(order)
        except Exception as exc:  # refused: recorded as such by the test's comparison
            print(json.dumps({"refused": order.client_order_id, "why": str(exc)}), flush=True)
        if sent and rng.random() < 0.2:
            target = rng.choice(sent)
            if target.is_open:
                try:
                    manager.cancel_order(target.client_order_id)
                except Exception as exc:
                    print(json.dumps({"cancel_failed": str(exc)}), flush=True)
    manager.wait_orders(lambda: all(o.is_terminal or o.status.value == "SUBMITTED"
                                    for o in sent), 10.0)
    print(json.dumps({"done": True}), flush=True)
    sys.stdin.readline()  # the test kills us now, or asks for a clean stop (a line or EOF)
    manager.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
