"""A network partition of the lease holder: the fault proxy between the holding gateway
and the NATS server stops forwarding (the link stays open, half-dead). The holder cannot
renew: it logs out of the venue when its fence runs out, before the lease expires on the
server; the standby then takes the session. The venue never sees two sessions at once,
and a strategy trading through it all loses nothing and trades nothing twice."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from stockfish_core.testing.fault_proxy import FaultProxy
from stockfish_core.testing.waiting import wait_until
from stockfish_nats.testing.probe import GatewayProbe
from stockfish_nats.testing.processes import gateway_process, strategy_process, venue_process
from stockfish_nats.testing.scenario import compare_with_venue, gateway_config, strategy_config
from stockfish_nats.testing.venue import VenueRecord

pytestmark = pytest.mark.slow

LEASE_TTL = 2.0


def test_partitioned_holder_gives_up_before_the_standby_logs_on(nats_server, write_yaml,
                                                                  tmp_path, processes):
    venue = venue_process(log_path=str(tmp_path / "venue.log"))
    processes.append(venue)
    address = venue.start()["address"]
    servers = [nats_server.url]
    proxy = FaultProxy(nats_server.port)
    probe = GatewayProbe(servers, "gw1")
    try:
        holder = gateway_process(gateway_config(write_yaml, tmp_path, "a", address),
                                 [f"nats://127.0.0.1:{proxy.port}"], gateway="gw1",
                                 instance="a", lease_ttl=LEASE_TTL,
                                 log_path=str(tmp_path / "gateway-a.log"))
        processes.append(holder)
        holder.start()
        assert wait_until(lambda: probe.session_state("a", "simv") == "holding", 15)
        standby = gateway_process(gateway_config(write_yaml, tmp_path, "b", address),
                                  servers, gateway="gw1", instance="b", lease_ttl=LEASE_TTL,
                                  log_path=str(tmp_path / "gateway-b.log"))
        processes.append(standby)
        standby.start()
        assert wait_until(lambda: probe.session_state("b", "simv") == "standby", 15)
        out = str(tmp_path / "s1.json")
        strategy = strategy_process(strategy_config(write_yaml, tmp_path, "s1", servers), out,
                                    orders=40, rate=8.0, max_seconds=60.0,
                                    log_path=str(tmp_path / "s1.log"))
        processes.append(strategy)
        strategy.start()
        record = VenueRecord(address)
        assert wait_until(lambda: len(record.orders_received()) >= 8, 30)
        proxy.stall()  # the holder's link to the bus goes silent, its sockets stay up
        cut = time.monotonic()
        assert wait_until(lambda: probe.session_state("b", "simv") == "holding", 15)
        takeover = time.monotonic() - cut
        assert holder.running  # cut off, not dead
        proxy.resume()  # the partition heals: the old holder stays a standby
        assert wait_until(lambda: probe.session_state("a", "simv") == "standby", 20)
        assert strategy.wait(90) is not None
        result = json.loads(Path(out).read_text())
    finally:
        probe.close()
        proxy.close()
    counts = compare_with_venue(record, [result])
    sessions = record.session_record()
    assert sessions["max_sessions"] == 1, sessions
    assert sessions["logons"] >= 2, sessions
    assert counts["orders"] >= 30, counts
    assert LEASE_TTL * 0.5 <= takeover <= 2 * LEASE_TTL + 3.0, takeover
    log = (tmp_path / "gateway-a.log").read_text()
    assert "session released by a" in log
