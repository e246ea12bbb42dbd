"""ZeroMQ feed faults: endpoints flapping, every publisher killed and restarted (with and
without a sequence reset), bursts far above the high-water mark.

After each phase the delivered sequences and the reported gaps must tile the published
range exactly: every message is delivered once or reported lost once, never both, never
neither; and the feed must resume.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder

pytest.importorskip("stockfish_zmq")
from stockfish_zmq.connector import ZMQConnector
from stockfish_zmq.testing import SimPublisher

T = 10.0
SYMBOL = "BTCUSD"


class Feed:
    """A publisher, a connector and what the connector delivered / reported lost."""

    def __init__(self, send_high_water_mark: int = 1_000_000, **settings: Any) -> None:
        self.publisher = SimPublisher((SYMBOL,), copies=2, seed=11,
                                      send_high_water_mark=send_high_water_mark)
        self.publisher.start()
        self.router = DataFeedRouter()
        self.connector = ZMQConnector(self.router, endpoints=self.publisher.endpoints,
                                      gap_timeout=0.3, connect_timeout=5.0,
                                      reconnect_initial_delay=0.05, reconnect_max_delay=0.3,
                                      **settings)
        self.recorder = Recorder(self.connector, self.router)
        self.gaps: list[tuple[int, int]] = []
        record = self.connector.record_sequence_gap

        def on_gap(symbol: str, first: int, last: int) -> None:
            self.gaps.append((first, last))
            record(symbol, first, last)

        self.connector.record_sequence_gap = on_gap  # type: ignore[method-assign]
        assert self.connector.connect()
        self.connector.subscribe_price(SYMBOL)
        assert self.publisher.wait_subscribers(1, T)

    def delivered(self) -> list[int]:
        with self.recorder.cond:
            return [u.sequence for u in self.recorder.updates]

    def settle(self) -> int:
        """Publish marker messages until one is delivered; return its sequence."""
        for _ in range(100):
            self.publisher.publish(self.publisher.ticker(SYMBOL))
            marker = self.publisher.next_seq[SYMBOL] - 1
            if self.recorder.wait(lambda m=marker: m in self.delivered(), 0.5):
                return marker
        raise AssertionError("the feed did not resume")

    def check_tiling(self, first: int, last: int) -> tuple[int, int]:
        """Delivered and lost sequences in [first, last] partition it exactly."""
        delivered = [s for s in self.delivered() if first <= s <= last]
        lost = [s for a, b in self.gaps for s in range(a, b + 1) if first <= s <= last]
        assert len(delivered) == len(set(delivered)), "a message was delivered twice"
        assert delivered == sorted(delivered), "delivered out of order"
        assert not set(delivered) & set(lost), "a delivered message was reported lost"
        assert sorted(delivered + lost) == list(range(first, last + 1)), \
            "a message was neither delivered nor reported lost"
        return len(delivered), len(lost)

    def close(self) -> None:
        self.recorder.close()
        self.connector.close(timeout=3)
        self.publisher.stop()


@pytest.fixture
def figures() -> Iterator[dict[str, object]]:
    out: dict[str, object] = {}
    yield out
    folder = os.environ.get("STOCKFISH_RELIABILITY_OUT")
    if folder and out:
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = Path(folder) / "zmq.json"
        merged = json.loads(path.read_text()) if path.exists() else {}
        merged.update(out)
        path.write_text(json.dumps(merged, indent=1))


def test_flapping_endpoints_lose_nothing(figures: dict[str, object]) -> None:
    rng = random.Random(20261125)
    feed = Feed()
    try:
        flaps = 0
        for _ in range(30):
            index = rng.randrange(2)
            feed.publisher.stop_endpoint(index)
            feed.publisher.send(rng.randint(5, 40))
            feed.publisher.start_endpoint(index)
            assert feed.publisher.wait_subscribers(1, T, endpoints=[index])
            feed.publisher.send(rng.randint(5, 40))
            flaps += 1
        last = feed.settle()
        delivered, lost = feed.check_tiling(1, last)
        assert lost == 0, f"one endpoint was always up, yet {lost} messages were lost"
        assert feed.connector.is_connected
        figures["flapping"] = {"flaps": flaps, "delivered": delivered, "lost": lost}
    finally:
        feed.close()


def test_every_publisher_killed_and_restarted(figures: dict[str, object]) -> None:
    rng = random.Random(7)
    feed = Feed()
    try:
        drops = 0
        for _ in range(10):
            feed.publisher.send(rng.randint(5, 30))
            feed.publisher.stop_endpoint(0)
            feed.publisher.stop_endpoint(1)
            assert feed.recorder.wait(lambda: not feed.connector.is_connected, T), \
                "losing every publisher was not noticed"
            feed.publisher.send(rng.randint(1, 20))  # published to nobody: lost
            feed.publisher.start_endpoint(0)
            feed.publisher.start_endpoint(1)
            assert feed.recorder.wait(lambda: feed.connector.is_connected, T)
            assert feed.publisher.wait_subscribers(1, T)
            drops += 1
        last = feed.settle()
        delivered, lost = feed.check_tiling(1, last)
        assert lost > 0
        stats = feed.connector.get_stats()
        assert stats["messages_lost"] == lost
        assert stats["reconnections"] >= drops
        figures["publisher_killed"] = {"restarts": drops, "delivered": delivered,
                                       "lost_and_reported": lost,
                                       "gaps_reported": stats["sequence_gaps"]}
    finally:
        feed.close()


def test_restart_with_a_sequence_reset(figures: dict[str, object]) -> None:
    feed = Feed()
    try:
        feed.publisher.next_seq[SYMBOL] = 10_000  # a long-running publisher
        feed.publisher.send(50)
        before = feed.settle()
        feed.publisher.restart(reset_sequences=True)
        assert feed.publisher.wait_subscribers(1, T)
        feed.publisher.send(50)
        after = feed.settle()
        feed.check_tiling(10_000, before)
        delivered, lost = feed.check_tiling(1, after)
        stats = feed.connector.get_stats()
        assert stats["zmq"]["publisher_resets"] == 1

        def every_frame_accounted() -> bool:
            """Each frame read was delivered or dropped as a duplicate, nothing else."""
            s = feed.connector.get_stats()
            return s["updates_received"] == len(feed.delivered()) + s["duplicates_dropped"] \
                + s["zmq"]["heartbeats"] + s["zmq"]["filtered"] + s["data_errors"]

        assert feed.recorder.wait(every_frame_accounted, T)
        # Two endpoints: at most the second copy of each delivered message is a duplicate.
        # A restart taken for a lagging copy would drop both copies of the new run too.
        assert feed.connector.get_stats()["duplicates_dropped"] <= len(feed.delivered())
        figures["sequence_reset"] = {"resets_detected": 1, "delivered_after": delivered,
                                     "lost_after": lost}
    finally:
        feed.close()


def test_bursts_above_the_high_water_mark(figures: dict[str, object]) -> None:
    feed = Feed(high_water_mark=50, reorder_window=100, send_high_water_mark=100)
    try:
        counts: dict[str, int] = defaultdict(int)
        start = time.monotonic()
        for _ in range(3):
            # A consumer stuck in its callback while the burst is published: the socket
            # queue overflows its high-water mark and ZeroMQ drops what does not fit.
            release = threading.Event()
            stuck = threading.Event()

            def hold(_update: object, release: threading.Event = release,
                     stuck: threading.Event = stuck) -> None:
                stuck.set()
                release.wait(T)

            handle = feed.router.subscribe(hold)
            feed.publisher.send(1)
            assert stuck.wait(T)
            feed.publisher.send(20_000)
            counts["published"] += 20_001
            release.set()
            handle.close()
        last = feed.settle()
        delivered, lost = feed.check_tiling(1, last)
        counts["delivered"], counts["lost_and_reported"] = delivered, lost
        stats = feed.connector.get_stats()
        assert lost > 0, "the burst never overflowed the high-water mark"
        assert stats["messages_lost"] == lost
        assert feed.connector.is_connected
        figures["burst"] = {**counts, "high_water_mark": 50, "publisher_send_hwm": 100,
                            "seconds": round(time.monotonic() - start, 2)}
    finally:
        feed.close()


def test_a_seeded_fault_mix_while_endpoints_flap(figures: dict[str, object]) -> None:
    """Drops, corruption, duplicates and reordering from the publisher while one endpoint
    at a time goes away and comes back: the reported gaps are exactly the publisher's own
    record of what it lost, range by range."""
    rng = random.Random(5150)
    feed = Feed()
    publisher = feed.publisher
    publisher.rng.seed(77)
    try:
        publisher.send(1)  # a clean first message opens the stream
        lost: set[int] = set()
        rejected = 0
        faults: dict[str, Any] = {"drop": 0.04, "corrupt": 0.03, "duplicate": 0.05,
                                  "reorder": 0.05}
        endpoints = publisher.endpoints
        by_endpoint = feed.connector.messages_by_endpoint

        def drained() -> bool:
            return all(by_endpoint[e] == publisher.frames_by_endpoint[i]
                       for i, e in enumerate(endpoints))

        for _ in range(15):
            index = rng.randrange(2)
            # Closing an endpoint discards what it has not sent yet; wait until the
            # subscriber has every frame, so that the corrupt-frame count is exact.
            assert feed.recorder.wait(drained, T)
            publisher.stop_endpoint(index)
            log = publisher.send_faulty(rng.randint(10, 40), **faults)
            lost.update(log.lost(SYMBOL))
            rejected += len(log.corrupted[SYMBOL])  # one live endpoint: one copy each
            publisher.start_endpoint(index)
            assert publisher.wait_subscribers(1, T, endpoints=[index])
            log = publisher.send_faulty(rng.randint(10, 40), **faults)
            lost.update(log.lost(SYMBOL))
            rejected += 2 * len(log.corrupted[SYMBOL])
        last = feed.settle()
        delivered, lost_count = feed.check_tiling(1, last)
        ranges: list[tuple[int, int]] = []
        for seq in sorted(lost):
            if ranges and ranges[-1][1] == seq - 1:
                ranges[-1] = (ranges[-1][0], seq)
            else:
                ranges.append((seq, seq))
        assert feed.gaps == ranges
        stats = feed.connector.get_stats()
        assert stats["messages_lost"] == lost_count == len(lost) > 0
        assert stats["data_errors_by_kind"] == {"invalid_json": rejected}
        assert feed.connector.is_connected
        figures["fault_mix_flapping"] = {"flaps": 15, "delivered": delivered,
                                         "lost_and_reported": lost_count,
                                         "gaps_reported": len(ranges),
                                         "corrupt_frames_counted": rejected}
    finally:
        feed.close()
