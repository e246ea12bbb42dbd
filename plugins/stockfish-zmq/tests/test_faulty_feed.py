"""The connector against the publisher's seeded fault mix (drops, corruption, duplicates,
reordering, one-copy-only on a redundant feed): what it delivers and reports must match the
publisher's own record exactly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_zmq.connector import ZMQConnector
from stockfish_zmq.testing import FaultLog, SimPublisher

T = 10.0


def _run(publisher: SimPublisher, connector: ZMQConnector, recorder: Recorder,
         gaps: list[tuple[str, int, int]], **faults: float) -> FaultLog:
    # A clean first message per symbol opens each stream (a subscriber cannot know what
    # was lost before the first message it sees); a clean last one shows a trailing loss.
    head = publisher.send(len(publisher.symbols))
    log = publisher.send_faulty(600, kinds=("ticker", "depth", "trade"), **faults)
    tail = publisher.send(len(publisher.symbols))
    total = head + sum(len(log.delivered(s)) for s in publisher.symbols) + tail
    assert recorder.wait_count(total, T), (len(recorder.updates), total, log.counts())
    return log


@pytest.fixture
def faulty(make_connector: Callable[..., ZMQConnector], publisher: SimPublisher,
           router: DataFeedRouter
           ) -> tuple[ZMQConnector, Recorder, list[tuple[str, int, int]]]:
    connector = make_connector(gap_timeout=0.25, reorder_window=500)
    gaps: list[tuple[str, int, int]] = []
    record = connector.record_sequence_gap

    def on_gap(symbol: str, first: int, last: int) -> None:
        gaps.append((symbol, first, last))
        record(symbol, first, last)

    connector.record_sequence_gap = on_gap  # type: ignore[method-assign]
    recorder = Recorder(connector, router)
    assert connector.connect()
    connector.subscribe_price("*")
    connector.subscribe_orderbook("*", 10)
    assert publisher.wait_subscribers(1, T)
    return connector, recorder, gaps


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seeded_fault_mix_is_delivered_and_reported_exactly(
        faulty: tuple[ZMQConnector, Recorder, list[tuple[str, int, int]]],
        publisher: SimPublisher, seed: int) -> None:
    connector, recorder, gaps = faulty
    publisher.rng.seed(seed)
    log = _run(publisher, connector, recorder, gaps, drop=0.03, corrupt=0.02,
               duplicate=0.05, reorder=0.05, one_copy=0.1)
    counts = log.counts()
    assert all(counts[k] > 0 for k in ("dropped", "corrupted", "duplicated", "reordered",
                                       "one_copy")), counts
    for symbol in publisher.symbols:
        with recorder.cond:
            seqs = [u.sequence for u in recorder.updates if u.symbol == symbol]
        assert seqs[1:-1] == log.delivered(symbol), symbol  # between the clean head and tail
        assert [(a, b) for s, a, b in gaps if s == symbol] == log.lost_ranges(symbol)
    stats = connector.get_stats()
    lost = counts["dropped"] + counts["corrupted"]
    assert stats["messages_lost"] == lost
    # Each corrupted frame went out on both endpoints: two rejections each, by kind.
    assert stats["data_errors_by_kind"] == {"invalid_json": 2 * counts["corrupted"]}
    assert stats["zmq"]["held_for_reorder"] == 0


def test_one_copy_only_on_a_redundant_feed_loses_nothing(
        faulty: tuple[ZMQConnector, Recorder, list[tuple[str, int, int]]],
        publisher: SimPublisher) -> None:
    connector, recorder, gaps = faulty
    log = _run(publisher, connector, recorder, gaps, one_copy=0.5)
    assert log.counts()["one_copy"] > 200
    for symbol in publisher.symbols:
        with recorder.cond:
            seqs = [u.sequence for u in recorder.updates if u.symbol == symbol]
        assert seqs == list(range(1, len(seqs) + 1))
    assert gaps == [] and connector.get_stats()["messages_lost"] == 0


def test_the_fault_log_is_deterministic_for_a_seed() -> None:
    logs = []
    for _ in range(2):
        publisher = SimPublisher(("A", "B"), seed=42)
        # Not started: nothing is sent, but the faults drawn are recorded all the same.
        logs.append(publisher.send_faulty(300, drop=0.1, corrupt=0.1, duplicate=0.1,
                                          reorder=0.1))
    assert logs[0] == logs[1]
    assert logs[0].lost_ranges("A") and all(a <= b for a, b in logs[0].lost_ranges("A"))
