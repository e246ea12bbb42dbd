"""Faults on the link between the FIX connector and its venue, through the fault proxy: a
stall (bytes stop, socket stays up) and a venue that refuses connections."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from stockfish_core.enums import ConnectorStatus, DataType
from stockfish_core.orders import Order, OrderSide, OrderStatus
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_core.testing.fault_proxy import FaultProxy
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing import FIXVenue
from stockfish_fix.testing.messages import FAST

HEARTBEAT = 1.0


@pytest.fixture
def link() -> Iterator[tuple[FIXVenue, FaultProxy, FIXConnector, Recorder]]:
    """A venue, the fault proxy in front of it, and a connector logged on through it."""
    venue = FIXVenue(tick_interval=0.02, heartbeat_interval=HEARTBEAT)
    entry = venue.start()
    entry.pop("type")
    proxy = FaultProxy(venue.port)
    router = DataFeedRouter()
    connector = FIXConnector(router, **{**entry, **FAST, "port": proxy.port,
                                        "heartbeat_interval": HEARTBEAT})
    recorder = Recorder(connector, router)
    try:
        assert connector.connect(), connector.get_stats()["last_error"]
        yield venue, proxy, connector, recorder
    finally:
        recorder.close()
        connector.close(timeout=5.0)
        proxy.close()
        venue.stop()


def test_stall_is_detected_within_two_heartbeats_and_recovered(
        link: tuple[FIXVenue, FaultProxy, FIXConnector, Recorder]) -> None:
    venue, proxy, connector, recorder = link
    assert connector.subscribe_price("AAA")
    assert recorder.wait_updates(1, 5.0, DataType.PRICE_TICK, "AAA")
    before = connector.get_stats()
    seen = len(recorder.statuses)
    stalled_at = time.monotonic()
    proxy.stall()
    assert recorder.wait(lambda: any(s is not ConnectorStatus.CONNECTED
                                     for s in recorder.statuses[seen:]),
                         2 * HEARTBEAT + 0.5), "the stall went unnoticed"
    detected_after = time.monotonic() - stalled_at
    proxy.resume()
    assert recorder.wait(lambda: connector.is_connected, 15.0), connector.get_stats()
    n = recorder.count(DataType.PRICE_TICK, "AAA")
    assert recorder.wait_updates(n + 1, 10.0, DataType.PRICE_TICK, "AAA")
    order = Order("AAA", OrderSide.BUY, 10)
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED, 10.0), order.status
    after = connector.get_stats()
    assert detected_after < 2 * HEARTBEAT + 0.5
    assert after["fix"]["stalls_detected"] == before["fix"].get("stalls_detected", 0) + 1
    # One loss, reported once (not again when QuickFIX later times the old link out).
    assert after["connection_errors"] == before["connection_errors"] + 1
    assert after["fix"]["logons"] == before["fix"]["logons"] + 1
    assert venue.orders_received_count(order.client_order_id) == 1


def test_a_refusing_venue_is_not_flooded_with_connections(
        link: tuple[FIXVenue, FaultProxy, FIXConnector, Recorder]) -> None:
    # QuickFIX at ReconnectInterval=0 retried a refused connection on every pass of its
    # event loop: thousands of connections a second against the venue.
    _venue, proxy, connector, recorder = link
    proxy.refuse(3.0)
    proxy.cut(rst=True)
    assert recorder.wait(lambda: connector.stats.connection_errors >= 1, 5.0)
    assert recorder.wait(lambda: connector.is_connected, 15.0), connector.get_stats()
    refused = proxy.connections_refused
    assert 1 <= refused <= 12, f"{refused} connections in a 3 s refusal"
