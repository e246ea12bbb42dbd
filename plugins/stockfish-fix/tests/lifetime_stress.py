"""Run as a script: threads keep calling into the FIX session while the main thread logs
off and on again, over and over. Prints a JSON summary; a crash is a non-zero exit.

Run in a subprocess by ``test_engine_lifetime.py`` so that a segfault (a call reaching a
session QuickFIX has already deleted) fails that test instead of killing pytest.
"""

from __future__ import annotations

import collections
import json
import logging
import sys
import threading
import time

from stockfish_core.orders import Order, OrderSide, OrderType
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing import FIXVenue

DEADLINE = 90.0  # s, the whole run


def main(cycles: int) -> dict[str, object]:
    venue = FIXVenue(tick_interval=0.05)
    entry = venue.start()
    entry.pop("type")
    connector = FIXConnector(None, **{**entry, "logout_timeout": 0.05,
                                      "request_timeout": 0.2, "auto_reconnect": False})
    stop = threading.Event()
    calls: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    refused: collections.Counter[str] = collections.Counter()  # why connect() said no

    def repeat(name: str, call: object) -> None:
        while not stop.is_set():
            try:
                call()  # type: ignore[operator]
                calls[name] += 1
            except Exception as exc:  # not connected, timed out: expected mid-cycle
                errors[f"{name}: {type(exc).__name__}"] += 1

    def order() -> None:
        connector.send_order(Order("AAA", OrderSide.BUY, 1, OrderType.LIMIT, price=1.0))

    def probe() -> None:
        connector.is_connected_check()
        connector.sequence_numbers()
        connector._last_test_request = 0.0  # let every call send a TestRequest
        connector.on_quiet(10.0)

    workers = [threading.Thread(target=repeat, args=(name, call), daemon=True)
               for name, call in (("order", order), ("order2", order), ("probe", probe),
                                  ("reconcile", lambda: connector.reconcile_orders(0.2)))]
    for worker in workers:
        worker.start()
    done = 0
    started = time.monotonic()
    try:
        for _ in range(cycles):
            if time.monotonic() - started > DEADLINE:
                break
            # A venue may still hold the session for the connection just closed and drop
            # the next Logon; a reconnect loop tries again, and so does this one.
            for _attempt in range(3):
                if connector.connect():
                    done += 1
                    break
                refused[str(connector.get_stats()["last_error"])] += 1
            connector.disconnect()
    finally:
        stop.set()
        for worker in workers:
            worker.join(5.0)
        connector.close()
        venue.stop()
    return {"cycles": done, "refused": dict(refused), "calls": dict(calls),
            "errors": dict(errors),
            "venue_logons": venue.logons}


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    print(json.dumps(main(int(sys.argv[1]))))
