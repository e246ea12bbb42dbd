"""The ``nats`` connector passes the conformance kit: a gateway (in this process, on a real
nats-server) serving a sim venue is its simulated venue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stockfish_core.connector import BaseConnector
from stockfish_core.manager import ExchangeManager
from stockfish_core.orders import Order, OrderSide
from stockfish_core.router import DataFeedRouter
from stockfish_core.sim_venue import SimVenue
from stockfish_core.testing import ConnectorConformance
from stockfish_core.testing.waiting import wait_until
from stockfish_nats.bus import Bus
from stockfish_nats.gateway import Gateway
from stockfish_nats.remote import NatsConnector
from stockfish_nats.serve import load_gateway_settings
from stockfish_nats.settings import BusSettings


class TestNatsConformance(ConnectorConformance):
    symbols = ("AAA", "BBB")

    @pytest.fixture
    def venue(self, nats_server, request: pytest.FixtureRequest) -> Iterator[Any]:
        name = f"nc-{request.node.name}"[:60]
        sim = SimVenue.get(name, seed=7, tick_interval=0.005)
        manager = ExchangeManager.from_config({
            "connectors": {"simv": {"type": "sim", "venue": name,
                                    "reconnect_initial_delay": 0.02,
                                    "reconnect_max_delay": 0.1}},
            "manager": {"journal": "memory", "stop_timeout": 3.0}})
        gateway = Gateway(manager, load_gateway_settings(
            {}, env={}, servers=[nats_server.url], gateway="gw", instance="a",
            lease_ttl=2.0))
        gateway.start()
        assert wait_until(lambda: gateway.sessions["simv"].state == "holding", 10)
        gateway.sim = sim  # type: ignore[attr-defined]
        gateway.url = nats_server.url  # type: ignore[attr-defined]
        yield gateway
        gateway.stop()
        sim.stop()

    def make_connector(self, venue: Any, router: DataFeedRouter) -> BaseConnector:
        return NatsConnector(router=router, servers=[venue.url], gateway="gw",
                             connectors=["simv"], client_id="conformance",
                             heartbeat_interval=0.5, reconnect_initial_delay=0.05,
                             reconnect_max_delay=0.2)

    def drop_connection(self, venue: Any, connector: BaseConnector) -> None:
        venue.sim.drop()  # the gateway's venue session drops; the strategy sees it

    def send_bad_input(self, venue: Any, connector: BaseConnector) -> None:
        bus = Bus(BusSettings(servers=(venue.url,)), "bad-input")
        bus.connect()
        try:
            for garbage in (b"not json", b"[]", b'{"v": 7}', b'{"v": 1, "data_type": 3}'):
                bus.publish_soon(f"sf.md.gw.simv.price_tick.{self.symbols[0]}", garbage)

            async def flush() -> None:
                assert bus.nc is not None
                await bus.nc.flush()

            bus.run(flush(), 5)
        finally:
            bus.close()

    def partial_fill_order(self) -> Any:
        return Order(self.symbols[0], OrderSide.BUY, 250)
