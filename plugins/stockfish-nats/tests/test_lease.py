"""The lease on a venue session: one holder at a time (the server decides), renewals
checked against the holder's revision, a fence that ends before the lease can expire."""

from __future__ import annotations

import time

import pytest
from nats.js.api import KeyValueConfig
from stockfish_core.testing.waiting import wait_until
from stockfish_nats.bus import Bus
from stockfish_nats.lease import SessionLease
from stockfish_nats.settings import BusSettings

TTL = 1.0


@pytest.fixture
def kv(nats_server):
    bus = Bus(BusSettings(servers=(nats_server.url,)), "lease-test")
    bus.connect()

    async def bucket():
        return await bus.js.create_key_value(KeyValueConfig(bucket="leases_t", ttl=TTL,
                                                            history=1))

    yield bus, bus.run(bucket(), 5)
    bus.close()


def test_one_holder_at_a_time(kv):
    bus, bucket = kv
    a = SessionLease(bucket, "gw.simv", "a", TTL, 0.2)
    b = SessionLease(bucket, "gw.simv", "b", TTL, 0.2)
    assert bus.run(a.try_acquire(1.0), 2)
    assert not bus.run(b.try_acquire(1.0), 2)
    assert a.fence() == a.epoch and b.fence() is None
    assert bus.run(a.renew(1.0), 2) and a.revision > a.epoch
    # a stops renewing: its fence ends first, then the server lets b in.
    fence_end = time.monotonic() + a.valid_for
    assert wait_until(lambda: a.fence() is None, 2)
    taken = wait_until(lambda: bus.run(b.try_acquire(0.5), 1), 5)
    assert taken and time.monotonic() >= fence_end + 0.2 - 0.05
    assert b.epoch > a.epoch
    assert not bus.run(a.renew(1.0), 2)  # revision-checked: a cannot write it back
    assert a.epoch == 0 and a.losses == 1


def test_release_hands_over_at_once(kv):
    bus, bucket = kv
    a = SessionLease(bucket, "gw.x", "a", TTL, 0.2)
    b = SessionLease(bucket, "gw.x", "b", TTL, 0.2)
    assert bus.run(a.try_acquire(1.0), 2)
    bus.run(a.release(1.0), 2)
    assert a.fence() is None
    assert bus.run(b.try_acquire(1.0), 2)
