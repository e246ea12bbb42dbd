"""A three-node JetStream cluster with one node killed: the stream and the lease bucket are
replicated (R3), the gateway and the strategy know every server and move to another one;
trading goes on, the session keeps its single holder, nothing is lost or sent twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stockfish_core.testing.waiting import wait_until
from stockfish_nats.testing import NatsCluster
from stockfish_nats.testing.probe import GatewayProbe
from stockfish_nats.testing.processes import gateway_process, strategy_process, venue_process
from stockfish_nats.testing.scenario import compare_with_venue, gateway_config, strategy_config
from stockfish_nats.testing.venue import VenueRecord

pytestmark = pytest.mark.slow

LEASE_TTL = 6.0  # longer than a stream leader election on a loaded two-core machine


def test_one_node_of_three_killed(write_yaml, tmp_path, processes):
    venue = venue_process(log_path=str(tmp_path / "venue.log"))
    processes.append(venue)
    address = venue.start()["address"]
    with NatsCluster(3) as cluster:
        servers = cluster.urls
        probe = GatewayProbe(servers, "gw1")
        try:
            gateway = gateway_process(gateway_config(write_yaml, tmp_path, "a", address),
                                      servers, gateway="gw1", instance="a",
                                      lease_ttl=LEASE_TTL, replicas=3,
                                      log_path=str(tmp_path / "gateway-a.log"))
            processes.append(gateway)
            gateway.start(timeout=60)
            assert wait_until(lambda: probe.session_state("a", "simv") == "holding", 30)
            out = str(tmp_path / "s1.json")
            strategy = strategy_process(strategy_config(write_yaml, tmp_path, "s1", servers),
                                        out, orders=40, rate=8.0, max_seconds=90.0,
                                        log_path=str(tmp_path / "s1.log"))
            processes.append(strategy)
            strategy.start()
            record = VenueRecord(address)
            assert wait_until(lambda: len(record.orders_received()) >= 10, 30)
            before = probe.ask("stats", "a", timeout=5.0)
            port = int(before["bus"]["server"].rsplit(":", 1)[1])
            victim = next(s for s in cluster.servers if s.port == port)
            victim.kill()  # the node the gateway is connected to
            assert wait_until(lambda: (probe.ask("stats", "a") or {}).get("bus", {})
                              .get("server") not in (None, before["bus"]["server"]), 30)
            assert strategy.wait(120) is not None
            stats = probe.ask("stats", "a", timeout=5.0)
            result = json.loads(Path(out).read_text())
        finally:
            probe.close()
    counts = compare_with_venue(record, [result])
    assert counts["orders"] >= 35, counts
    # Never two sessions at once. (On a loaded machine a stream election may outlast the
    # lease: the gateway then logs out and back in, which is allowed and safe.)
    assert record.session_record()["max_sessions"] == 1
    assert stats is not None and stats["sessions"]["simv"]["state"] == "holding", stats
