"""The gateway and the ``nats`` connector together in one process, against a real
nats-server: data, orders, at-most-once submissions, bad requests, reference-counted
subscriptions, replay after a restart."""

from __future__ import annotations

import orjson
import pytest
from stockfish_core.models import DataType
from stockfish_core.orders import Order, OrderStatus
from stockfish_core.sim_venue import SimVenue
from stockfish_core.testing.waiting import wait_until
from stockfish_nats import codec
from stockfish_nats.bus import Bus
from stockfish_nats.settings import BusSettings
from stockfish_nats.subjects import Subjects


def venue_of(gateway) -> SimVenue:
    return gateway.sessions["simv"].connector.venue


@pytest.fixture
def raw_bus(nats_server):
    bus = Bus(BusSettings(servers=(nats_server.url,)), "raw-test")
    bus.connect()
    yield bus
    bus.close()


def request(bus: Bus, op: str, body: object, **headers: str) -> dict:
    data = body if isinstance(body, bytes) else codec.encode(body)
    reply = bus.request(Subjects("gw").command("simv", op), data, 5.0,
                        headers=headers or None)
    return codec.decode(reply.data)


def test_data_and_orders_through_the_gateway(gateway, make_remote):
    manager = make_remote()
    updates = []
    manager.router.subscribe(updates.append)
    assert manager.subscribe_price(["SPY"]) == {"remote": {"SPY": True}}
    assert manager.subscribe_orderbook(["SPY"], 5) == {"remote": {"SPY": True}}
    assert wait_until(lambda: {u.data_type for u in list(updates)} >=
                      {DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT}, 10)
    assert all(u.source == "remote" for u in updates)
    filled = manager.send_order(Order("SPY", "BUY", 10))
    assert manager.wait_orders(lambda: manager.get_order_status(filled) is OrderStatus.FILLED,
                               10)
    resting = manager.send_order(Order("SPY", "BUY", 10, "LIMIT", price=1.0))
    assert manager.wait_orders(
        lambda: manager.get_order_status(resting) is OrderStatus.SUBMITTED, 10)
    assert manager.cancel_order(resting)
    assert manager.wait_orders(
        lambda: manager.get_order_status(resting) is OrderStatus.CANCELLED, 10)
    venue = venue_of(gateway)
    assert venue.orders_received[filled] == 1 and venue.orders_received[resting] == 1
    fill = manager.get_order(filled).fills[0]
    assert fill.exec_id in {f["exec_id"] for f in venue.fills}
    stats = manager.get_stats()["remote"]
    assert stats["fills_applied"] == 1 and stats["orders_cancelled"] == 1
    assert stats["client_id"] == "s1" and stats["targets"] == ["simv"]


def test_a_retried_submission_reaches_the_venue_once(gateway, raw_bus):
    order = Order("SPY", "BUY", 3)
    body = codec.order_command(order, "s1", expires_ns=2**62)
    first = request(raw_bus, "submit", body, **{"Nats-Msg-Id": order.client_order_id})
    again = request(raw_bus, "submit", body, **{"Nats-Msg-Id": order.client_order_id})
    assert first["ok"] and not first["duplicate"]
    assert again["ok"] and again["duplicate"]
    assert again["order"]["client_order_id"] == order.client_order_id
    assert venue_of(gateway).orders_received[order.client_order_id] == 1


def test_an_id_asked_for_before_it_arrived_is_closed(gateway, raw_bus):
    order = Order("SPY", "BUY", 3)
    answer = request(raw_bus, "status", {"owner": "s1", "ids": [order.client_order_id]})
    assert answer["orders"][order.client_order_id] == {"never_received": True}
    late = request(raw_bus, "submit", codec.order_command(order, "s1", expires_ns=2**62))
    assert not late["ok"] and late["not_sent"] and "never received" in late["reason"]
    assert venue_of(gateway).orders_received[order.client_order_id] == 0


def test_an_expired_submission_is_refused(gateway, raw_bus):
    order = Order("SPY", "BUY", 3)
    answer = request(raw_bus, "submit", codec.order_command(order, "s1", expires_ns=1))
    assert not answer["ok"] and answer["not_sent"] and "expired" in answer["reason"]
    assert venue_of(gateway).orders_received[order.client_order_id] == 0


@pytest.mark.parametrize("body", [
    b"not json", b"[1, 2]", orjson.dumps({"v": 99, "client_order_id": "X1"}),
    {"client_order_id": "BAD1", "symbol": "SP\x01Y", "side": "BUY", "quantity": 1,
     "owner": "s1", "expires_ns": 2**62},
    {"client_order_id": "BAD2", "symbol": "SPY", "side": "BUY", "quantity": -5,
     "owner": "s1", "expires_ns": 2**62},
    {"client_order_id": "BAD3", "symbol": "SPY", "side": "BUY", "quantity": 1,
     "owner": "not an owner", "expires_ns": 2**62},
    {"client_order_id": "BAD4", "symbol": "SPY", "side": "SIDEWAYS", "quantity": 1,
     "owner": "s1", "expires_ns": 2**62},
])
def test_malformed_submissions_are_refused_and_counted(gateway, raw_bus, body):
    session = gateway.sessions["simv"]
    before = session.refused
    answer = request(raw_bus, "submit", body)
    assert answer["ok"] is False and answer["not_sent"] is True and answer["reason"]
    assert session.refused == before + 1
    assert sum(venue_of(gateway).orders_received.values()) == 0


def test_subscriptions_are_counted_at_the_gateway(gateway, make_remote):
    one, two = make_remote("s1"), make_remote("s2")
    seen_two = []
    two.router.subscribe(seen_two.append, symbols=["QQQ"])
    one.subscribe_price(["QQQ"])
    two.subscribe_price(["QQQ"])
    session = gateway.sessions["simv"]
    assert session.subscriber_counts() == {"price:QQQ": 2}
    one.unsubscribe(["QQQ"])
    assert wait_until(lambda: session.subscriber_counts() == {"price:QQQ": 1}, 5)
    count = len(seen_two)
    assert wait_until(lambda: len(seen_two) > count + 5, 10)  # still flowing to s2
    two.unsubscribe(["QQQ"])
    assert wait_until(lambda: session.subscriber_counts() == {}, 5)
    connector = session.connector
    assert wait_until(lambda: not connector.subscribed_symbols, 5)


def test_an_unknown_symbol_is_a_clear_subscription_error(gateway, make_remote):
    manager = make_remote()
    result = manager.subscribe_price(["UNKNOWNSYM"])["remote"]["UNKNOWNSYM"]
    assert "SubscriptionError" in result and "unknown symbol" in result


def test_a_restarted_strategy_replays_its_events(gateway, make_remote, tmp_path):
    journal = str(tmp_path / "strategy.sqlite3")
    first = make_remote("s9", journal=journal)
    resting = first.send_order(Order("SPY", "BUY", 4, "LIMIT", price=1.0))
    done = first.send_order(Order("SPY", "SELL", 2))
    assert first.wait_orders(lambda: first.get_order_status(resting) is OrderStatus.SUBMITTED
                             and first.get_order_status(done) is OrderStatus.FILLED, 10)
    first.close()
    # While the strategy is away its resting order is cancelled at the gateway.
    assert gateway.manager.cancel_order(resting)
    assert wait_until(lambda: gateway.manager.get_order_status(resting) is
                      OrderStatus.CANCELLED, 10)
    again = make_remote("s9", journal=journal)
    assert again.wait_orders(
        lambda: again.get_order_status(resting) is OrderStatus.CANCELLED, 10)
    assert again.get_order_status(done) is OrderStatus.FILLED
    remote = again.get_connector("remote")
    assert int(remote.load_state("events_seq")) > 0


def test_a_strategy_without_its_journal_still_knows_every_order(gateway, make_remote):
    first = make_remote("s7")
    ids = [first.send_order(Order("SPY", "BUY", 1 + i)) for i in range(3)]
    assert first.wait_orders(lambda: all(first.get_order_status(i) is OrderStatus.FILLED
                                         for i in ids), 10)
    first.close()
    again = make_remote("s7")  # a memory journal: it forgot everything
    assert again.wait_orders(lambda: all(again.get_order_status(i) is OrderStatus.FILLED
                                         for i in ids), 10)
    assert sorted(o.client_order_id for o in again.orders()) == sorted(ids)


def test_health_and_stats_on_request(gateway, raw_bus):
    for subject in ("sf.gw.gw.health", "sf.gw.gw.a.health"):
        health = codec.decode(raw_bus.request(subject, b"", 5.0).data)
        assert health["instance"] == "a"
        assert health["sessions"]["simv"]["state"] == "holding"
    stats = codec.decode(raw_bus.request("sf.gw.gw.stats", b"", 5.0).data)
    assert stats["sessions"]["simv"]["lease"]["held"] is True
    assert "simv" in stats["manager"]


def test_a_data_only_session_makes_a_data_only_remote_connector(nats_server):
    from stockfish_core.errors import OrderRejectedError
    from stockfish_core.manager import ExchangeManager
    from stockfish_nats.gateway import Gateway
    from stockfish_nats.serve import load_gateway_settings

    manager = ExchangeManager.from_config({
        "connectors": {"feed": {"type": "sim", "venue": "data-only-venue", "data_only": True}},
        "manager": {"journal": "memory"}})
    gw = Gateway(manager, load_gateway_settings({}, env={}, servers=[nats_server.url],
                                                gateway="gd", instance="a", lease_ttl=2.0))
    gw.start()
    strategy = ExchangeManager.from_config({
        "connectors": {"remote": {"type": "nats", "servers": [nats_server.url],
                                  "gateway": "gd", "client_id": "d1"}},
        "manager": {"journal": "memory"}})
    try:
        assert wait_until(lambda: gw.sessions["feed"].state == "holding", 10)
        assert strategy.start_all(timeout=10)
        remote = strategy.get_connector("remote")
        assert remote.targets == ["feed"]  # discovered from the gateway's health
        assert remote.data_only
        with pytest.raises(OrderRejectedError, match="no connected order-capable"):
            strategy.send_order(Order("SPY", "BUY", 1))
    finally:
        strategy.close()
        gw.stop()
        SimVenue.get("data-only-venue").stop()
