"""A strategy process for the scale-out tests: trades through a ``nats`` connector and writes
what it knows of every order it sent.

``python -m stockfish_nats.testing.strategy --config CFG --out FILE --orders N`` starts the
manager of ``CFG`` (a ``nats`` connector, a journal file), subscribes to prices, sends
``N`` orders at ``--rate`` per second (market orders, and every fourth a resting limit
order cancelled soon after), retries with a fresh order whenever the manager has no
connected connector (a takeover under way), waits until every order is settled, and
writes ``{"orders": [...], "updates": n, "refused": n, "stats": {...}}``. It stops by
itself (``--max-seconds``), and cleanly on SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from stockfish_core.errors import NotConnectedError, OrderRejectedError
from stockfish_core.lifecycle import StopRequested, handle_stop_signals
from stockfish_core.manager import ExchangeManager
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType

__all__ = ["main"]


def _record(order: Order) -> dict[str, Any]:
    return {"client_order_id": order.client_order_id, "status": order.status.value,
            "filled": order.filled_quantity, "quantity": order.quantity,
            "fills": [f.exec_id for f in order.fills], "reason": order.reject_reason,
            "unknown_outcome": order.unknown_outcome, "order_type": order.order_type.value}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--symbol", default="SPY")
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    manager = ExchangeManager.from_config(args.config)
    stop = handle_stop_signals(bound=15.0)
    deadline = time.monotonic() + args.max_seconds
    updates = [0]
    refused = 0
    sent: list[Order] = []
    resting: list[str] = []
    lock = threading.Lock()

    def count(_update: Any) -> None:
        with lock:
            updates[0] += 1

    manager.router.subscribe(count)
    try:
        manager.start_all(timeout=15.0)
        while time.monotonic() < deadline and not stop.is_set():
            if all(r is True for r in manager.subscribe_price([args.symbol])
                   .get(manager.list_connectors()[0], {}).values()):
                break
            stop.wait(0.2)
        i = 0
        while i < args.orders and time.monotonic() < deadline and not stop.is_set():
            side = OrderSide.BUY if i % 2 == 0 else OrderSide.SELL
            order = Order(args.symbol, OrderSide.BUY, 5, OrderType.LIMIT, price=1.0) \
                if i % 4 == 3 else Order(args.symbol, side, 1 + i % 7)
            try:
                manager.send_order(order)
            except (NotConnectedError, OrderRejectedError):
                refused += 1
                stop.wait(0.1)
                continue  # nothing went out: the same intent again, as a new order
            sent.append(order)
            if order.order_type is OrderType.LIMIT:
                resting.append(order.client_order_id)
            while len(resting) > 1:
                cid = resting.pop(0)
                try:
                    manager.cancel_order(cid)
                except Exception:
                    resting.append(cid)
                    break
            i += 1
            stop.wait(1.0 / args.rate)
        while resting and time.monotonic() < deadline and not stop.is_set():
            cid = resting.pop(0)
            try:
                manager.cancel_order(cid)
            except Exception:
                resting.append(cid)
                stop.wait(0.2)

        def settled() -> bool:
            return all(o.is_terminal and not o.unknown_outcome for o in sent)

        while not settled() and time.monotonic() < deadline and not stop.is_set():
            if not manager.wait_orders(settled, 1.0):
                for connector in manager.list_connectors_objects():
                    if connector.is_connected:
                        try:
                            connector.reconcile_orders()
                        except Exception:
                            pass
    except StopRequested:
        pass
    finally:
        result = {"orders": [_record(o) for o in sent], "updates": updates[0],
                  "refused": refused,
                  "stats": {k: v for k, v in manager.get_stats().items() if k != "manager"}}
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, default=str)
        manager.close()
    return 0 if all(o.status is not OrderStatus.PENDING for o in sent) else 3


if __name__ == "__main__":
    sys.exit(main())
