"""Prometheus metrics: scrape the endpoint while a sim connector streams and trades."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from stockfish_core.metrics import StatsCollector, serve_metrics
from stockfish_core.models import now_ns
from stockfish_core.orders import Order, OrderStatus
from stockfish_core.router import DataFeedRouter
from stockfish_core.sim import SimConnector
from stockfish_core.testing import Recorder

pytest.importorskip("prometheus_client")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_endpoint_reports_connector_stats() -> None:
    connector = SimConnector(router=DataFeedRouter(), name="paper", venue=f"m-{now_ns()}")
    recorder = Recorder(connector, connector.router)  # type: ignore[arg-type]
    assert connector.connect()
    connector.subscribe_price("SPY")
    order = Order("SPY", "BUY", 10)
    connector.send_order(order)
    assert recorder.wait(lambda: order.status is OrderStatus.FILLED, 5)
    assert recorder.wait_updates(5, 5)
    connector.venue.inject_malformed(2)
    assert recorder.wait(lambda: connector.stats.data_errors >= 2, 5)
    port = free_port()
    server = serve_metrics(StatsCollector(lambda: [connector], lambda: {"failovers": 3}), port)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    finally:
        server.shutdown()
        connector.close()
    text = body.decode()
    assert 'stockfish_connector_up{connector="paper",type="sim"} 1.0' in text
    assert 'stockfish_connector_status{connector="paper",status="CONNECTED",type="sim"} 1.0' \
        in text
    assert 'stockfish_updates_total{connector="paper",data_type="price_tick",type="sim"}' in text
    assert 'stockfish_orders_total{connector="paper",outcome="filled",type="sim"} 1.0' in text
    assert 'stockfish_data_errors_total{connector="paper",kind="bad_value",type="sim"}' in text
    assert 'stockfish_order_roundtrip_seconds_count{connector="paper",type="sim"} ' in text
    assert "stockfish_manager_failovers_total 3.0" in text
