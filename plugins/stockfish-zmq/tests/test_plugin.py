"""The ``zmq`` plugin as the registry sees it: entry point, a cheap plugin module,
capabilities that keep orders away, the simulated venue hook, and the sequence-gap hook."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from stockfish_core import plugins
from stockfish_core.hookspecs import hookimpl
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_zmq.connector import ZMQConnector
from stockfish_zmq.settings import ZMQSettings
from stockfish_zmq.testing import SimPublisher

T = 5.0


def test_discovered_through_the_entry_point(fresh_plugins: None) -> None:
    info = plugins.list_plugins()
    assert any(p.name == "zmq" and not p.error for p in info)
    ctype = plugins.get_connector_type("zmq")
    assert ctype.capabilities.data_only and not ctype.capabilities.order_types
    assert ctype.settings_class is ZMQSettings
    assert ctype.load_class() is ZMQConnector
    connector = plugins.create_connector("zmq", name="feed",
                                         endpoints=("tcp://127.0.0.1:5999",))
    assert connector.name == "feed" and connector.data_only
    assert connector.settings.endpoints == ("tcp://127.0.0.1:5999",)


def test_the_plugin_module_does_not_import_pyzmq() -> None:
    code = ("import sys, stockfish_zmq.plugin, stockfish_zmq.settings; "
            "print(sorted(m for m in sys.modules if m == 'zmq' or m.startswith('zmq.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_the_simulated_venue_hook_gives_a_working_config(fresh_plugins: None) -> None:
    factories: dict[str, Any] = {}
    plugins.get_plugin_manager().hook.stockfish_simulated_venues(
        register=factories.__setitem__)
    venue = factories["zmq"]()
    entry = venue.start()
    try:
        assert entry["type"] == "zmq" and len(entry["endpoints"]) == 2
        assert all(e.startswith("tcp://127.0.0.1:") for e in entry["endpoints"])
        settings = {k: v for k, v in entry.items() if k != "type"}
        router = DataFeedRouter()
        connector = ZMQConnector(router, **settings)
        recorder = Recorder(connector, router)
        try:
            assert connector.connect()
            connector.subscribe_price(venue.symbols[0])
            assert recorder.wait_count(5, T, symbol=venue.symbols[0])
            venue.drop_connections()
            assert recorder.wait_updates(5, 3 * T, symbol=venue.symbols[0])
        finally:
            recorder.close()
            connector.close(timeout=3)
    finally:
        venue.stop()


def test_every_lost_range_reaches_the_gap_hook_once(fresh_plugins: None) -> None:
    seen: list[tuple[str, str, int, int]] = []

    class Observer:
        @hookimpl
        def stockfish_sequence_gap(self, connector: str, symbol: str, first_missing: int,
                                   last_missing: int) -> None:
            seen.append((connector, symbol, first_missing, last_missing))

    plugins.register_plugin(Observer(), "gap_observer")
    publisher = SimPublisher(("BTCUSD",), copies=2)
    publisher.start()
    router = DataFeedRouter()
    connector = ZMQConnector(router, name="feed", endpoints=publisher.endpoints,
                             gap_timeout=0.1)
    recorder = Recorder(connector, router)
    try:
        assert connector.connect()
        connector.subscribe_price("BTCUSD")
        assert publisher.wait_subscribers(1, T)
        publisher.send(3)
        lost = [publisher.skip("BTCUSD", 4)]
        publisher.send(3)
        lost.append(publisher.skip("BTCUSD", 1))
        publisher.send(3)
        assert recorder.wait_count(9, T)
        assert seen == [("feed", "BTCUSD", a, b) for a, b in lost]
        assert connector.get_stats()["messages_lost"] == 5
    finally:
        recorder.close()
        connector.close(timeout=3)
        publisher.stop()


@pytest.mark.parametrize(("env", "expected"), [
    ({"ZMQ_ENDPOINTS": "tcp://10.0.0.1:5555"}, ("tcp://10.0.0.1:5555",)),
    ({"ZMQ_ENDPOINTS": " tcp://a:1 , tcp://b:2 ,"}, ("tcp://a:1", "tcp://b:2")),
])
def test_endpoint_lists_from_the_environment(env: dict[str, str],
                                             expected: tuple[str, ...]) -> None:
    from stockfish_core.config import load_config

    config = load_config({"connectors": {"zmq": {"enabled": True}}}, env=env)
    assert config.connectors["zmq"].settings.endpoints == expected
