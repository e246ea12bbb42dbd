"""The manager's cost: added latency on ``send_order`` over calling the connector directly,
and failover time from the primary being seen down to the first order the backup accepts.

Raw baselines in the same run: ``connector.send_order`` on the same kind of connector for the
overhead; the backup's own send-to-acknowledgement time for failover (the floor any failover
pays). Goals: overhead <= 20 us, failover <= 100 ms.
"""

from __future__ import annotations

import logging
import threading
import time

from stockfish_core.connector import ConnectorStatus
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import now_ns
from stockfish_core.orders import Order, OrderEvent, OrderStatus, OrderType
from stockfish_core.sim import SimConnector

from benchmarks import common


def _limit() -> Order:
    return Order("SPY", "BUY", 1, OrderType.LIMIT, price=0.5)


def overhead(n: int) -> tuple[float, float]:
    """Median microseconds per send: through the manager, and direct."""
    tag = now_ns()
    manager = ExchangeManager("primary_backup", health_check_interval=60)
    # Acknowledgements are held back past the measurement so that no venue thread competes
    # for the GIL with the sends being timed.
    via = SimConnector(name="via", venue=f"ovh-a-{tag}", tick_interval=1.0, latency=60.0)
    direct = SimConnector(name="direct", venue=f"ovh-b-{tag}", tick_interval=1.0,
                          latency=60.0)
    manager.add_connector(via, "via", primary=True)
    assert manager.start_all() and direct.connect()
    orders_m = [_limit() for _ in range(n)]
    orders_d = [_limit() for _ in range(n)]
    samples_m, samples_d = [], []
    for om, od in zip(orders_m, orders_d, strict=True):
        t0 = time.perf_counter_ns()
        manager.send_order(om)
        t1 = time.perf_counter_ns()
        direct.send_order(od)
        t2 = time.perf_counter_ns()
        samples_m.append(t1 - t0)
        samples_d.append(t2 - t1)
    manager.stop_all()
    direct.close()
    samples_m.sort()
    samples_d.sort()
    return samples_m[n // 2] / 1000, samples_d[n // 2] / 1000


def failover_once() -> tuple[float, float]:
    """Milliseconds from the primary seen down to the backup's acknowledgement of the
    first order, and the backup's own send-to-ack time measured right after."""
    tag = now_ns()
    manager = ExchangeManager("primary_backup", health_check_interval=60)
    for name in ("primary", "backup"):
        manager.add_connector(SimConnector(name=name, venue=f"fo-{name}-{tag}",
                                           tick_interval=1.0, reconnect_initial_delay=5.0),
                              name, primary=name == "primary")
    assert manager.start_all()
    primary = manager.get_connector("primary")
    seen_down = threading.Event()
    down_at = [0]

    def on_status(_c: object, _old: ConnectorStatus, new: ConnectorStatus, _r: object) -> None:
        if new is not ConnectorStatus.CONNECTED and not seen_down.is_set():
            down_at[0] = time.perf_counter_ns()
            seen_down.set()

    primary.add_status_listener(on_status)
    primary.venue.refuse_connections(10.0)  # type: ignore[attr-defined]
    killer = threading.Thread(target=primary.venue.drop)  # type: ignore[attr-defined]
    killer.start()
    assert seen_down.wait(5)
    backup = manager.get_connector("backup")
    acks: dict[str, int] = {}
    acked = threading.Condition()

    def on_order(event: OrderEvent) -> None:
        if event.status is OrderStatus.SUBMITTED:
            with acked:
                acks[event.client_order_id] = time.perf_counter_ns()
                acked.notify_all()

    backup.add_order_listener(on_order)
    order = _limit()
    manager.send_order(order)
    assert order.connector == "backup"
    with acked:
        assert acked.wait_for(lambda: order.client_order_id in acks, 5)
    failover_ms = (acks[order.client_order_id] - down_at[0]) / 1e6
    killer.join(5)
    raw = _limit()
    t0 = time.perf_counter_ns()
    backup.send_order(raw)
    with acked:
        assert acked.wait_for(lambda: raw.client_order_id in acks, 5)
    raw_ms = (acks[raw.client_order_id] - t0) / 1e6
    manager.stop_all()
    return failover_ms, raw_ms


def main() -> None:
    args = common.parse_args(__doc__ or "")
    logging.getLogger("stockfish_core").setLevel(logging.ERROR)  # failovers are expected
    repeats = 3 if args.mode == "quick" else 7
    n = 2000 if args.mode == "quick" else 10000
    runs = [overhead(n) for _ in range(repeats)]
    added = [m - d for m, d in runs]
    failovers = [failover_once() for _ in range(5 if args.mode == "quick" else 20)]
    common.write("manager", args, [
        common.metric("send_order added latency (manager - direct)", "us", added,
                      higher_is_better=False, goal="<= 20 us", goal_abs=20.0),
        common.metric("send_order through the manager", "us", [m for m, _ in runs],
                      [d for _, d in runs], higher_is_better=False, goal="(context)"),
        common.metric("failover: primary seen down -> backup acknowledges an order", "ms",
                      [f for f, _ in failovers], [r for _, r in failovers],
                      higher_is_better=False, goal="<= 100 ms", goal_abs=100.0),
    ], notes="sim connectors in process; the failover's raw figure is the backup's own "
             "send-to-acknowledgement time, the floor any failover pays")


if __name__ == "__main__":
    main()
