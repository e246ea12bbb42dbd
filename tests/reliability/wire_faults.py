"""A seeded schedule of wire faults applied through the FaultProxy while orders flow, and
the comparison of the venue's own record with the client's view afterwards."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.errors import ConnectorError
from stockfish_core.orders import Order, OrderStatus, OrderType
from stockfish_core.testing import Recorder
from stockfish_core.testing.fault_proxy import FaultProxy

FAULT_KINDS = ("cut_rst", "cut_fin", "stall", "latency", "refuse")


@attrs.define
class FaultReport:
    connector: str
    faults: Counter[str] = attrs.field(factory=Counter)
    orders_sent: int = 0
    orders_refused: int = 0
    fills: int = 0
    mismatches: list[str] = attrs.field(factory=list)
    stall_detect_s: list[float] = attrs.field(factory=list)
    recover_s: list[float] = attrs.field(factory=list)
    data_resumed: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = attrs.field(factory=dict)  # connector-specific figures

    def summary(self) -> dict[str, Any]:
        return {
            "connector": self.connector, "faults_injected": sum(self.faults.values()),
            "faults_by_kind": dict(self.faults), "orders_sent": self.orders_sent,
            "orders_refused_while_down": self.orders_refused, "fills": self.fills,
            "mismatches": len(self.mismatches), "data_resumed_after_faults": self.data_resumed,
            "stall_detect_s_max": max(self.stall_detect_s, default=None),
            "recover_s_median": sorted(self.recover_s)[len(self.recover_s) // 2]
            if self.recover_s else None,
            "seconds": round(self.seconds, 1),
            **self.extra,
        }

    def save(self) -> None:
        """Write the figures where docs/reliability.md is made from (when asked to)."""
        folder = os.environ.get("STOCKFISH_RELIABILITY_OUT")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / f"{self.connector}.json").write_text(
                json.dumps(self.summary(), indent=1))

_log = logging.getLogger("wire_faults")


def order_flow(connector: BaseConnector, orders: list[Order], refused: list[Order],
               market_symbol: str, limit_symbol: str) -> Callable[[random.Random], int]:
    """``send_orders`` for :func:`run_schedule`: each round a market buy of a random size
    and a far-away limit sell, then half the time a cancel of the oldest resting limit.
    Orders refused before the wire (the connector down) go to ``refused``, never sent."""
    def send_orders(rng: random.Random) -> int:
        sent = 0
        for order in (Order(market_symbol, "BUY", rng.randint(1, 120)),
                      Order(limit_symbol, "SELL", 10, OrderType.LIMIT, price=1.0e4)):
            try:
                connector.send_order(order)
            except ConnectorError:
                refused.append(order)
                continue
            orders.append(order)
            sent += 1
        resting = [o for o in orders if o.order_type is OrderType.LIMIT and o.is_open]
        if resting and rng.random() < 0.5:
            with contextlib.suppress(ConnectorError):  # the link may be down mid-fault
                connector.cancel_order(resting[0].client_order_id)
        return sent

    return send_orders


def settle(connector: BaseConnector, recorder: Recorder, orders: list[Order],
           timeout: float = 30.0) -> list[Order]:
    """After a schedule: cancel what rests, then wait for every order to reach a final state
    of known outcome. Returns the orders that did not (empty: all settled)."""
    for order in orders:
        if order.is_open and order.order_type is OrderType.LIMIT:
            try:
                connector.cancel_order(order.client_order_id)
            except ConnectorError:
                pass  # down again, or already done: its final state comes either way
    recorder.wait(lambda: all(o.is_terminal and not o.unknown_outcome for o in orders),
                  timeout)
    return [o for o in orders if not o.is_terminal or o.unknown_outcome]


def compare_with_venue(report: FaultReport, orders: list[Order], refused: list[Order], *,
                       venue: str, received: Mapping[str, int],
                       fills: Mapping[str, list[str]], statuses: Mapping[str, str | None],
                       status_map: Mapping[str, OrderStatus]) -> None:
    """Append to ``report.mismatches`` every way the client's view differs from the venue's
    own record: an order that reached the venue more than once, fills (by execution id)
    that differ, a final status other than the venue's (``statuses``: the venue's status
    text by client order id, None when it never received the order, which must then be
    REJECTED), and an order refused before the wire that the venue saw anyway."""
    for order in orders:
        cid = order.client_order_id
        if received.get(cid, 0) > 1:
            report.mismatches.append(f"{cid} reached {venue} {received[cid]} times")
        mine = [f.exec_id for f in order.fills]
        if sorted(mine) != sorted(fills.get(cid, [])):
            report.mismatches.append(f"{cid}: fills {mine} != {venue} {fills.get(cid)}")
        text = statuses.get(cid)
        expected = status_map.get(text) if text is not None else OrderStatus.REJECTED
        if order.status is not expected:
            report.mismatches.append(f"{cid}: {order.status.value} "
                                     f"({order.reject_reason or ''}) but {venue} says "
                                     f"{text if text is not None else 'never received'}")
    for order in refused:
        cid = order.client_order_id
        if received.get(cid, 0) or order.status is not OrderStatus.REJECTED:
            report.mismatches.append(f"{cid} refused before the wire but {venue} saw it "
                                     f"{received.get(cid, 0)} times ({order.status.value})")
    report.orders_refused = len(refused)
    report.fills = sum(len(o.fills) for o in orders)


def run_schedule(
    *, name: str, connector: BaseConnector, recorder: Recorder, proxy: FaultProxy,
    symbol: str, send_orders: Callable[[random.Random], int], faults: int, seed: int,
    heartbeat_interval: float, budget_s: float, also: tuple[str, ...] = (),
    venue_faults: Mapping[str, Callable[[random.Random], None]] | None = None,
) -> FaultReport:
    """Inject ``faults`` seeded faults; after each, wait for the connector to be back and
    market data to flow again (on ``symbol`` and each of ``also``), then let ``send_orders``
    place a few more orders. ``venue_faults`` adds faults the simulated venue makes itself
    (name -> ``fault(rng)``), drawn alongside the wire faults.

    A fault that cuts the connection must first be noticed by the connector (its connection
    error count moves): otherwise "back" could be read off the old, not yet dead session."""
    rng = random.Random(seed)
    report = FaultReport(name)
    kinds = FAULT_KINDS + tuple(venue_faults or ())
    start = time.monotonic()
    for _ in range(faults):
        if time.monotonic() - start > budget_s:
            break
        report.orders_sent += send_orders(rng)
        kind = rng.choice(kinds)
        report.faults[kind] += 1
        # The last fault can still be playing out (a drop found late): cutting a link that
        # is already down would test nothing, so the next fault waits for it to be back.
        if not recorder.wait(lambda: connector.is_connected, 20.0):
            report.mismatches.append(f"not connected before {kind}")
            break
        errors_before = connector.stats.connection_errors
        statuses_before = len(recorder.statuses)
        status_at_fault = connector.status.value
        _log.info("fault %d: %s (status %s)", sum(report.faults.values()), kind,
                  status_at_fault)
        fault_at = time.monotonic()
        if kind == "cut_rst":
            proxy.cut(rst=True)
        elif kind == "cut_fin":
            proxy.cut(rst=False)
        elif kind == "stall":
            seen = len(recorder.statuses)
            proxy.stall()
            # From the status history: the drop and a quick reconnect can both fall
            # between two polls of is_connected.
            detected = recorder.wait(lambda i=seen: any(
                s is not ConnectorStatus.CONNECTED for s in recorder.statuses[i:]),
                2 * heartbeat_interval + 2.0)
            report.stall_detect_s.append(time.monotonic() - fault_at)
            proxy.resume()
            if not detected:
                report.mismatches.append(f"stall not detected within "
                                         f"{2 * heartbeat_interval + 2.0:.1f} s")
        elif kind == "latency":
            proxy.latency = rng.choice((0.05, 0.1, 0.2))
            report.orders_sent += send_orders(rng)
            recorder.wait(lambda: False, 0.3)  # orders and data flow under latency
            proxy.latency = 0.0
        elif kind == "refuse":
            proxy.refuse(rng.uniform(0.2, 0.6))
            proxy.cut(rst=True)
        elif venue_faults is not None:
            venue_faults[kind](rng)
        if kind in ("cut_rst", "cut_fin", "refuse") and not recorder.wait(
                lambda n=errors_before: connector.stats.connection_errors > n,
                2 * heartbeat_interval + 2.0):
            seen = [st.value for st in recorder.statuses[statuses_before:]]
            stats = connector.get_stats()
            report.mismatches.append(
                f"{kind}: the connector never noticed the cut (status at the fault: "
                f"{status_at_fault}, statuses since: {seen}, "
                f"last error: {stats.get('last_error')!r}, data errors: "
                f"{stats.get('data_errors_by_kind')}, protocol: "
                f"{stats.get('fix', stats.get('ibkr'))})")
        back = recorder.wait(lambda: connector.is_connected, 20.0)
        if not back:
            report.mismatches.append(f"did not reconnect after {kind}")
            break
        missing = [s for s in (symbol, *also) if not recorder.wait_updates(1, 10.0, symbol=s)]
        if missing:
            report.mismatches.append(f"market data did not resume on {missing} after {kind}")
        else:
            report.data_resumed += 1
        report.recover_s.append(time.monotonic() - fault_at)
    report.seconds = time.monotonic() - start
    return report
