"""The ZMQ connector over loopback against the simulated XPUB publisher (real pyzmq)."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from stockfish_core.config import load_config
from stockfish_core.connector import ConnectorStatus
from stockfish_core.errors import ConfigError, OrderRejectedError, SubscriptionError
from stockfish_core.models import DataType, OrderBookSnapshot, PriceTick, Trade
from stockfish_core.orders import Order, OrderSide, OrderStatus
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_zmq.connector import ZMQConnector
from stockfish_zmq.testing import SimPublisher

T = 5.0
Live = tuple[ZMQConnector, Recorder]


def _sequences(recorder: Recorder, symbol: str) -> list[int]:
    with recorder.cond:
        return [u.sequence for u in recorder.updates if u.symbol == symbol]


def test_ticks_books_trades_and_custom_are_normalized(live: Live, publisher: SimPublisher
                                                      ) -> None:
    connector, recorder = live
    publisher.publish(publisher.ticker("BTCUSD"))
    publisher.publish(publisher.depth("BTCUSD", levels=6))
    publisher.publish(publisher.trade("BTCUSD"))
    publisher.publish(publisher.message("custom", "BTCUSD", {"funding": 0.0001}))
    assert recorder.wait_count(4, T, symbol="BTCUSD")
    kinds = {u.data_type: u for u in recorder.updates}
    tick = kinds[DataType.PRICE_TICK].payload
    assert isinstance(tick, PriceTick) and tick.bid is not None and tick.bid < tick.ask
    book = kinds[DataType.ORDERBOOK_SNAPSHOT].payload
    assert isinstance(book, OrderBookSnapshot) and book.depth == 3  # cut to the subscription
    assert isinstance(kinds[DataType.TRADE].payload, Trade)
    assert kinds[DataType.CUSTOM].payload == {"funding": 0.0001}
    assert [u.sequence for u in recorder.updates] == [1, 2, 3, 4]
    assert all(u.source == connector.name for u in recorder.updates)


def test_redundant_endpoints_deliver_each_message_once(live: Live, publisher: SimPublisher
                                                       ) -> None:
    connector, recorder = live
    publisher.send(200)
    assert recorder.wait_count(200, T)
    assert recorder.wait(lambda: sum(connector.messages_by_endpoint.values()) >= 400, T)
    for symbol in publisher.symbols:
        assert _sequences(recorder, symbol) == list(range(1, 101))
    stats = connector.get_stats()
    assert stats["sequence_gaps"] == 0
    assert stats["zmq"]["messages_by_endpoint"] == {e: 200 for e in publisher.endpoints}


def test_every_frame_layout_and_a_backlog_are_read_whole(live: Live,
                                                         publisher: SimPublisher) -> None:
    """The body is the last part of one, two or three; a backlog far past one wake-up's
    batch is read to the end, in order, every frame counted once."""
    connector, recorder = live
    for envelope in ((), (b"BTCUSD",), (b"BTCUSD", b"routing")):
        publisher.send_raw(*envelope, orjson.dumps(publisher.ticker("BTCUSD")))
    assert recorder.wait_count(3, T)
    publisher.send(2000)
    assert recorder.wait_count(2003, T)
    assert _sequences(recorder, "BTCUSD") == list(range(1, 1004))
    assert _sequences(recorder, "ETHUSD") == list(range(1, 1001))
    frames = 2 * 2003  # two endpoints, each carrying every message
    assert recorder.wait(lambda: sum(connector.messages_by_endpoint.values()) == frames, T)
    stats = connector.get_stats()
    assert stats["updates_received"] == frames and stats["data_errors"] == 0


def test_a_gap_is_reported_once_with_its_exact_range(live: Live, publisher: SimPublisher
                                                     ) -> None:
    connector, recorder = live
    gaps: list[tuple[str, int, int]] = []
    original = connector.record_sequence_gap

    def on_gap(symbol: str, first: int, last: int) -> None:
        gaps.append((symbol, first, last))
        original(symbol, first, last)

    connector.record_sequence_gap = on_gap  # type: ignore[method-assign]
    publisher.send(10)
    lost = publisher.skip("BTCUSD", 7)
    publisher.send(10)
    assert recorder.wait_count(20, T)
    assert recorder.wait(lambda: connector.get_stats()["sequence_gaps"] == 1, T)
    assert gaps == [("BTCUSD", *lost)]
    stats = connector.get_stats()
    assert stats["messages_lost"] == 7
    seqs = _sequences(recorder, "BTCUSD")
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == 10


def test_out_of_order_messages_are_delivered_in_order(live: Live, publisher: SimPublisher
                                                      ) -> None:
    connector, recorder = live
    messages = [publisher.ticker("BTCUSD") for _ in range(6)]
    for index in (0, 2, 1, 5, 3, 4):
        publisher.publish(messages[index])
    assert recorder.wait_count(6, T)
    assert _sequences(recorder, "BTCUSD") == [1, 2, 3, 4, 5, 6]
    assert connector.get_stats()["sequence_gaps"] == 0
    assert connector.get_stats()["zmq"]["reordered"] >= 2


def test_a_missing_message_is_declared_lost_after_the_gap_timeout(
        live: Live, publisher: SimPublisher) -> None:
    connector, recorder = live
    publisher.publish(publisher.ticker("BTCUSD"))
    publisher.skip("BTCUSD", 1)
    publisher.publish(publisher.ticker("BTCUSD"))
    assert recorder.wait_count(1, T)
    assert connector.get_stats()["zmq"]["held_for_reorder"] in (0, 1)
    assert recorder.wait_count(2, T), "the held message was never released"
    assert _sequences(recorder, "BTCUSD") == [1, 3]
    assert connector.get_stats()["messages_lost"] == 1


def test_publisher_restart_with_a_sequence_reset_is_not_a_flood_of_duplicates(
        make_connector: Callable[..., ZMQConnector], router: DataFeedRouter) -> None:
    publisher = SimPublisher(("BTCUSD",), first_sequence=50_000)
    publisher.start()
    try:
        connector = make_connector(endpoints=publisher.endpoints, gap_timeout=0.2)
        recorder = Recorder(connector, router)
        assert connector.connect()
        connector.subscribe_price("BTCUSD")
        assert publisher.wait_subscribers(1, T)
        publisher.send(5)
        assert recorder.wait_count(5, T)
        publisher.restart(reset_sequences=True)
        assert publisher.wait_subscribers(1, T), "the subscriber did not come back"
        publisher.send(5)
        assert recorder.wait_count(10, T)
        assert _sequences(recorder, "BTCUSD")[5:] == [1, 2, 3, 4, 5]
        stats = connector.get_stats()
        assert stats["zmq"]["publisher_resets"] == 1
        assert stats["messages_lost"] == 0 and stats["duplicates_dropped"] == 0
    finally:
        publisher.stop()


def test_losing_one_of_two_publishers_loses_nothing(live: Live, publisher: SimPublisher
                                                    ) -> None:
    connector, recorder = live
    publisher.send(20)
    assert recorder.wait_count(20, T)
    publisher.stop_endpoint(0)
    assert recorder.wait(lambda: len(connector.get_stats()["zmq"]["endpoints_up"]) == 1, T)
    assert connector.is_connected, "one endpoint left is still a live feed"
    publisher.send(20)
    assert recorder.wait_count(40, T)
    publisher.start_endpoint(0)
    assert publisher.wait_subscribers(1, T, endpoints=[0])
    publisher.send(20)
    assert recorder.wait_count(60, T)
    for symbol in publisher.symbols:
        assert _sequences(recorder, symbol) == list(range(1, 31))
    assert connector.get_stats()["messages_lost"] == 0


def test_every_publisher_gone_is_a_drop_then_a_reconnect(live: Live, publisher: SimPublisher
                                                         ) -> None:
    connector, recorder = live
    publisher.send(4)
    assert recorder.wait_count(4, T)
    mark = len(recorder.statuses)
    publisher.stop_endpoint(0)
    publisher.stop_endpoint(1)
    assert recorder.wait(lambda: ConnectorStatus.RECONNECTING in recorder.statuses[mark:], T)
    publisher.start_endpoint(0)
    publisher.start_endpoint(1)
    assert recorder.wait(lambda: connector.is_connected, 3 * T)
    assert publisher.wait_subscribers(1, T)
    publisher.send(4)
    assert recorder.wait_count(8, T)
    stats = connector.get_stats()
    assert stats["reconnections"] >= 1 and stats["connection_errors"] >= 1


def test_malformed_frames_are_counted_by_kind_and_the_feed_goes_on(
        live: Live, publisher: SimPublisher) -> None:
    connector, recorder = live
    bad = [b"{not json", b"\xff\xfe\x00", b"[1, 2]",
           orjson.dumps({"type": "ticker", "symbol": "BTCUSD", "sequence": 1}),
           orjson.dumps({"type": "ticker", "symbol": "BTCUSD", "sequence": 1,
                         "data": {"bid": -1.0, "ask": 2.0}}),
           orjson.dumps({"type": "ticker", "symbol": "BTCUSD", "sequence": 1,
                         "data": {"bid": 3.0, "ask": 2.0}}),
           orjson.dumps({"type": "depth", "symbol": "BTCUSD", "sequence": 1,
                         "data": {"bids": [[5.0, 1.0]], "asks": [[4.0, 1.0]]}}),
           orjson.dumps({"type": "nonsense", "symbol": "BTCUSD", "sequence": 1, "data": {}}),
           orjson.dumps({"type": "ticker", "symbol": "BTCUSD", "sequence": "x", "data": {}}),
           b"x" * (connector.settings.max_message_size + 1)]
    for frame in bad:
        publisher.send_raw(b"BTCUSD", frame, endpoints=[0])
    publisher.send(4)
    assert recorder.wait_count(4, T), "the feed stopped after bad input"
    kinds = connector.get_stats()["data_errors_by_kind"]
    assert recorder.wait(lambda: connector.get_stats()["data_errors"] == len(bad), T), kinds
    kinds = connector.get_stats()["data_errors_by_kind"]
    assert kinds == {"invalid_json": 1, "not_utf8": 1, "not_an_object": 1,
                     "missing_field": 1, "bad_price": 1, "crossed_quote": 1,
                     "crossed_book": 1, "unknown_type": 1, "bad_sequence": 1,
                     "oversized": 1}
    assert connector.is_connected


def test_a_silent_feed_is_reported_and_recovers_on_the_next_frame(
        make_connector: Callable[..., ZMQConnector], publisher: SimPublisher) -> None:
    connector = make_connector(heartbeat_interval=0.1, endpoints=publisher.endpoints[:1])
    recorder = Recorder(connector, DataFeedRouter())
    assert connector.connect()
    assert publisher.wait_subscribers(1, T, endpoints=[0])
    assert recorder.wait(lambda: connector.status is ConnectorStatus.RECONNECTING, T), \
        "a feed silent for two heartbeat intervals must be reported"
    assert connector.get_stats()["zmq"]["silent"] is True
    publisher.heartbeat()
    assert recorder.wait(lambda: connector.status is ConnectorStatus.CONNECTED, T)
    stats = connector.get_stats()
    assert stats["zmq"]["heartbeats"] == 1 and stats["zmq"]["silences"] == 1
    assert stats["zmq"]["silent"] is False
    # Quiet is not broken: no reconnect was run, no connection error counted, and the
    # socket that was kept still delivers.
    assert stats["reconnection_attempts"] == 0 and stats["connection_errors"] == 0
    assert recorder.statuses == [ConnectorStatus.CONNECTING, ConnectorStatus.CONNECTED,
                                 ConnectorStatus.RECONNECTING, ConnectorStatus.CONNECTED]
    recorder.close()


def test_a_connector_with_data_flowing_is_never_called_silent(
        make_connector: Callable[..., ZMQConnector], publisher: SimPublisher) -> None:
    connector = make_connector(heartbeat_interval=0.25, endpoints=publisher.endpoints[:1])
    recorder = Recorder(connector, DataFeedRouter())
    assert connector.connect()
    # Only an unsubscribed symbol flows: filtered, yet proof the feed is alive.
    publisher.stream(rate=200.0, duration=5.0)
    assert publisher.wait_subscribers(1, T, endpoints=[0])
    assert recorder.wait(lambda: connector.get_stats()["zmq"]["filtered"] >= 100, T)
    publisher.stop_stream()
    assert ConnectorStatus.RECONNECTING not in recorder.statuses
    assert connector.get_stats()["zmq"]["silences"] == 0
    recorder.close()


def test_unsubscribed_symbols_and_feed_types_are_filtered(
        make_connector: Callable[..., ZMQConnector], publisher: SimPublisher,
        router: DataFeedRouter) -> None:
    connector = make_connector(feed_types=("ticker",), endpoints=publisher.endpoints[:1])
    recorder = Recorder(connector, router)
    assert connector.connect()
    connector.subscribe_price("ETHUSD")
    with pytest.raises(SubscriptionError, match="carry no orderbook"):
        connector.subscribe_orderbook("ETHUSD", 5)
    assert publisher.wait_subscribers(1, T, endpoints=[0])
    publisher.send(10, kinds=("ticker", "trade"))
    # BTCUSD is not subscribed (5 messages); ETHUSD trades are not a wanted feed type (2).
    assert recorder.wait(lambda: connector.get_stats()["zmq"]["filtered"] == 7, T)
    assert connector.get_stats()["sequence_gaps"] == 0, "filtered messages are not gaps"
    assert {(u.symbol, u.data_type) for u in recorder.updates} == {
        ("ETHUSD", DataType.PRICE_TICK)}
    connector.unsubscribe("ETHUSD")
    assert "ETHUSD" not in connector.subscribed_symbols


def test_listed_symbols_make_an_unknown_symbol_a_clear_error(
        make_connector: Callable[..., ZMQConnector]) -> None:
    connector = make_connector(symbols=("BTCUSD",))
    assert connector.connect()
    with pytest.raises(SubscriptionError, match="unknown symbol 'DOGE'"):
        connector.subscribe_price("DOGE")
    assert connector.subscribe_price("BTCUSD")


def test_orders_are_refused_with_a_clear_error(live: Live) -> None:
    connector, _ = live
    order = Order("BTCUSD", OrderSide.BUY, 1)
    with pytest.raises(OrderRejectedError, match="data-only"):
        connector.send_order(order)
    assert order.status is OrderStatus.REJECTED


def test_no_publisher_is_a_clear_connect_failure(router: DataFeedRouter) -> None:
    connector = ZMQConnector(router, endpoints=("tcp://127.0.0.1:1",), connect_timeout=0.3)
    try:
        assert connector.connect() is False
        assert connector.status is ConnectorStatus.ERROR
        assert "no publisher reachable at tcp://127.0.0.1:1" in connector.get_stats()["last_error"]
    finally:
        connector.close(timeout=2)


def test_configuration_and_the_seed_environment_variables() -> None:
    config = load_config({"connectors": {"feed": {"type": "zmq", "sequence_mode": "detect"}}},
                         env={"ZMQ_ENDPOINTS": "tcp://127.0.0.1:7001,tcp://127.0.0.1:7002",
                              "ZMQ_FEED_TYPE": "ticker"})
    settings = config.connectors["feed"].settings
    assert settings.endpoints == ("tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002")
    assert settings.feed_types == ("ticker",)
    with pytest.raises(ConfigError) as err:
        load_config({"connectors": {"feed": {"type": "zmq", "endpoints": ["http://x"],
                                             "sequence_mode": "sometimes",
                                             "reorder_window": 0}}}, env={})
    text = str(err.value)
    assert "connectors.feed.endpoints" in text and "sequence_mode" in text
    assert "reorder_window" in text
