"""The order journal's cost, with the journal on (a file, the default ``normal`` sync; and
``full``, an fsync per order, for context) against the same connector with it off, in the
same run:

- added latency on ``send_order`` (p50, p99) on the in-process ``sim`` connector, whose own
  path is a few microseconds: what is measured is the journal alone;
- orders per second through the ``sim`` connector over TCP (its venue behind a socket in a
  server thread): the journal's share of an order path that reaches a wire.

Goals (issue 15): <= 50 us added p50 and >= 0.9x the orders/s without it (default sync).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from stockfish_core.journal import OrderJournal
from stockfish_core.models import now_ns
from stockfish_core.orders import Order, OrderType
from stockfish_core.sim import SimConnector
from stockfish_core.sim_remote import VenueServer, serve

from benchmarks import common


def _resting() -> Order:
    return Order("SPY", "BUY", 1, OrderType.LIMIT, price=0.5)


def sends(n: int, journal: OrderJournal | None, server: VenueServer | None) -> list[float]:
    """Microseconds per ``send_order`` of ``n`` resting limit orders."""
    if server is None:
        # Acknowledgements held back past the measurement: no venue thread competes for
        # the GIL with the sends being timed.
        connector = SimConnector(name="paper", venue=f"journal-{now_ns()}", tick_interval=1.0,
                                 latency=120.0)
    else:
        connector = SimConnector(name="paper", address=server.address, heartbeat_interval=5.0)
    assert connector.connect()
    connector.journal = journal
    orders = [_resting() for _ in range(n)]
    samples = []
    try:
        for order in orders:
            t0 = time.perf_counter_ns()
            connector.send_order(order)
            samples.append((time.perf_counter_ns() - t0) / 1000)
        if journal is not None:
            journal.flush()
    finally:
        connector.close()
    return samples


def main() -> None:
    args = common.parse_args(__doc__ or "")
    n = 2_000 if args.mode == "quick" else 20_000
    rounds = 3 if args.mode == "quick" else 7
    server = serve(f"bench-journal-{now_ns()}", 0, tick_interval=1.0)
    server.venue.latency = 120.0
    p50_add, p99_add, rate_on, rate_off, p50_full = [], [], [], [], []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-journal-") as folder:
            for r in range(rounds):
                off = common.clean(sends, n, None, None)
                with OrderJournal(str(Path(folder) / f"normal-{r}.sqlite3")) as journal:
                    on = common.clean(sends, n, journal, None)
                with OrderJournal(str(Path(folder) / f"full-{r}.sqlite3"), sync="full") as j:
                    on_full = common.clean(sends, max(n // 20, 50), j, None)
                p50_add.append(common.percentile(on, 0.5) - common.percentile(off, 0.5))
                p99_add.append(common.percentile(on, 0.99) - common.percentile(off, 0.99))
                p50_full.append(common.percentile(on_full, 0.5) - common.percentile(off, 0.5))
                # On and off alternate in small blocks so that the machine's other load
                # falls on both alike; the rate is from the median time per order (a
                # stall of the machine is not the journal's).
                wire_off: list[float] = []
                wire_on: list[float] = []
                with OrderJournal(str(Path(folder) / f"wire-{r}.sqlite3")) as journal:
                    for _ in range(5):
                        wire_off += common.clean(sends, n // 20, None, server)
                        wire_on += common.clean(sends, n // 20, journal, server)
                rate_off.append(1e6 / common.percentile(wire_off, 0.5))
                rate_on.append(1e6 / common.percentile(wire_on, 0.5))
    finally:
        server.stop()
        server.venue.stop()
    metrics = [
        common.metric("send_order added latency p50 (journal, normal)", "us", p50_add,
                      higher_is_better=False, goal="<= 50 us", goal_abs=50.0),
        common.metric("send_order added latency p99 (journal, normal)", "us", p99_add,
                      higher_is_better=False, goal="(context)"),
        common.metric("orders/s over TCP with the journal (normal, per median order)",
                      "orders/s", rate_on,
                      rate_off, goal=">= 0.9x without it", goal_ratio=0.9),
        common.metric("send_order added latency p50 (journal, full: fsync)", "us", p50_full,
                      higher_is_better=False, goal="(context: the disk's fsync)"),
    ]
    common.write("journal", args, metrics,
                 notes="Raw baseline: the same connector with the journal off, in the same run. "
                       "The intent is appended to the intent log before the wire on the "
                       "caller's thread (a duplicate-id lookup and one write); the journal's "
                       "thread commits it and what follows in group commits (2 ms window), "
                       "and runs the WAL checkpoints. The orders/s ratio moves with the "
                       "machine's load: the journal's thread competes for the GIL and the "
                       "two cores with the sender and the venue's threads.")


if __name__ == "__main__":
    main()
