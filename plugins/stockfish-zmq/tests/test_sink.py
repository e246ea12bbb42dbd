"""The republisher sink: one connector's normalized updates fanned out on a PUB socket and
read back, unchanged and in order, by other ``zmq`` connectors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import zmq
from stockfish_core.models import DataType, MarketUpdate, OHLCVBar
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_zmq.connector import ZMQConnector
from stockfish_zmq.sink import ZMQRepublisher, encode_update
from stockfish_zmq.testing import SimPublisher

T = 10.0


def test_republished_updates_reach_every_downstream_subscriber(
        live: tuple[ZMQConnector, Recorder], publisher: SimPublisher,
        router: DataFeedRouter, make_connector: Callable[..., ZMQConnector]) -> None:
    _, upstream = live
    sink = ZMQRepublisher(router)
    endpoint = sink.start()
    downstream = []
    try:
        for _ in range(2):
            out_router = DataFeedRouter()
            connector = ZMQConnector(out_router, endpoints=(endpoint,), connect_timeout=3.0)
            recorder = Recorder(connector, out_router)
            assert connector.connect()
            connector.subscribe_price("*")
            connector.subscribe_orderbook("*", 10)
            downstream.append((connector, recorder))
        assert sink.wait_subscribers(2, T)
        publisher.send(60, kinds=("ticker", "depth", "trade"))
        publisher.publish(publisher.message("custom", "BTCUSD", {"funding": 0.0001}))
        assert upstream.wait_count(61, T)
        for connector, recorder in downstream:
            assert recorder.wait_count(61, T)
            with upstream.cond, recorder.cond:
                assert [u.payload for u in recorder.updates] == \
                    [u.payload for u in upstream.updates]
                for symbol in publisher.symbols:
                    seqs = [u.sequence for u in recorder.updates if u.symbol == symbol]
                    assert seqs == list(range(1, len(seqs) + 1))
            assert connector.get_stats()["data_errors"] == 0
        assert sink.get_stats()["published"] == 61 and sink.dropped == 0
    finally:
        for connector, recorder in downstream:
            recorder.close()
            connector.close(timeout=3)
        sink.stop()


def test_other_kinds_go_out_as_custom_and_symbolless_ones_are_skipped() -> None:
    bar = OHLCVBar("ES", 1.0, 2.0, 0.5, 1.5, 10.0, 60, 1_768_818_645_000_000_000)
    frame = orjson.loads(encode_update(MarketUpdate(DataType.OHLCV_BAR, "ES", "ib", bar, 9),
                                       3))
    assert frame["type"] == "custom" and frame["sequence"] == 3
    assert frame["data"]["data_type"] == "ohlcv_bar" and frame["data"]["close"] == 1.5
    assert (frame["source"], frame["source_sequence"]) == ("ib", 9)

    router = DataFeedRouter()
    sink = ZMQRepublisher(router)
    endpoint = sink.start()
    sub: Any = zmq.Context.instance().socket(zmq.SUB)
    try:
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(endpoint)
        assert sink.wait_subscribers(1, T)
        router.publish(MarketUpdate(DataType.CUSTOM, "", "x", {"note": 1}))
        router.publish(MarketUpdate(DataType.CUSTOM, "ES", "x", {"note": 2}))
        assert sub.poll(T * 1000)
        topic, body = sub.recv_multipart()
        assert topic == b"ES" and orjson.loads(body)["data"] == {"note": 2}
        assert sink.wait_subscribers(1, 0) and sink.skipped == 1
    finally:
        sub.close(linger=0)
        sink.stop()
