"""A trading process for the FIX crash tests (run by path: ``python journal_trader.py
CONFIG``; it drives an ``ExchangeManager``, which the plugin's own package may not import).

It runs a manager from a configuration file (with its order journal) and recovers what the
last run left. Then it sends ``--orders`` (a JSON list of ``{"cid", "symbol", "side",
"qty", "price"}``; a price makes a resting limit order) and waits until each is
acknowledged (limit) or ended (market); then it runs ``--then`` (a JSON list of
``{"cancel": id}`` / ``{"replace": id, "qty": n}``, ids of this run or a dead one) waiting
for each outcome; flushes the journal and prints one JSON line: ``{"orders": {cid:
{...}}, "events": [...], "fix": {counters}, "recovery_s": ...}`` with every order it holds
(and those ``--ids`` names), the order events of the run and the FIX counters. It then
waits for its standard input to close: the test kills it meanwhile (a crash) or closes it
(a clean stop). ``--report`` stops right after printing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from stockfish_core.errors import UnknownOrderError
from stockfish_core.manager import ExchangeManager
from stockfish_core.orders import Order, OrderEvent, OrderStatus, OrderType

WAIT_S = 20.0


def _order(spec: dict[str, Any]) -> Order:
    price = spec.get("price")
    return Order(spec.get("symbol", "AAA"), spec.get("side", "BUY"), float(spec["qty"]),
                 OrderType.LIMIT if price is not None else OrderType.MARKET, price=price,
                 time_in_force="GTC", client_order_id=spec["cid"])


def _settled(order: Order) -> bool:
    return order.is_terminal or (order.order_type is not OrderType.MARKET
                                 and order.status is not OrderStatus.PENDING)


def _state(order: Order) -> dict[str, Any]:
    return {"status": order.status.value, "filled": order.filled_quantity,
            "quantity": order.quantity, "fills": [f.exec_id for f in order.fills],
            "unknown": order.unknown_outcome, "external": order.external,
            "order_id": order.order_id, "venue_refs": dict(order.venue_refs),
            "reason": order.reject_reason}


def _act(manager: ExchangeManager, action: dict[str, Any]) -> None:
    if "cancel" in action:
        manager.cancel_order(action["cancel"])
        order = manager.get_order(action["cancel"])
        manager.wait_orders(lambda: order.is_terminal, WAIT_S)
    else:
        order = manager.get_order(action["replace"])
        manager.replace_order(action["replace"], quantity=float(action["qty"]))
        manager.wait_orders(lambda: order.quantity == float(action["qty"]), WAIT_S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config")
    parser.add_argument("--orders", type=json.loads, default=[])
    parser.add_argument("--then", type=json.loads, default=[])
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--ids", type=json.loads, default=[])
    args = parser.parse_args(argv)
    started = time.monotonic()
    manager = ExchangeManager.from_config(args.config)
    events: list[OrderEvent] = []
    manager.add_order_listener(events.append)
    try:
        manager.start_all(timeout=WAIT_S)
        recovery_s = time.monotonic() - started
        sent = [_order(spec) for spec in args.orders]
        for order in sent:
            manager.send_order(order)
        manager.wait_orders(lambda: all(_settled(o) for o in sent), WAIT_S)
        for action in args.then:
            _act(manager, action)
        held = {o.client_order_id: o for o in manager.orders()}
        for cid in args.ids:
            if cid not in held:
                try:
                    held[cid] = manager.get_order(cid)
                except UnknownOrderError:
                    pass
        if manager.journal is not None:
            manager.journal.flush()
        [connector] = manager.list_connectors_objects()
        print(json.dumps({
            "orders": {cid: _state(o) for cid, o in held.items()},
            "events": [[e.kind, e.client_order_id, e.reason] for e in list(events)],
            "fix": connector.get_stats()["fix"], "recovery_s": recovery_s,
        }, default=str), flush=True)
        if not args.report:
            sys.stdin.read()  # killed meanwhile, or a clean stop when the test closes it
    finally:
        manager.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
