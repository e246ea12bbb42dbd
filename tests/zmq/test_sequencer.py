"""The per-symbol sequencer on its own: ordering, duplicates, gaps, resets, clean-up."""

from __future__ import annotations

import random

import pytest
from stockfish_core.models import DataType, MarketUpdate
from stockfish_zmq.sequencer import Sequencer


class Harness:
    def __init__(self, **options: object) -> None:
        self.delivered: list[tuple[str, int]] = []
        self.gaps: list[tuple[str, int, int]] = []
        self.resets: list[tuple[str, int, int]] = []
        self.seq = Sequencer(lambda u: self.delivered.append((u.symbol, u.sequence)),
                             lambda s, a, b: self.gaps.append((s, a, b)),
                             lambda s, a, b: self.resets.append((s, a, b)),
                             **options)  # type: ignore[arg-type]

    def offer(self, seq: int, now: float = 0.0, symbol: str = "A") -> None:
        self.seq.offer(MarketUpdate(DataType.CUSTOM, symbol, "t", {}, seq), now)

    def seqs(self, symbol: str = "A") -> list[int]:
        return [s for sym, s in self.delivered if sym == symbol]


def test_in_order_and_reordered_delivery() -> None:
    h = Harness()
    for seq in (1, 2, 4, 3, 6, 5, 7):
        h.offer(seq)
    assert h.seqs() == [1, 2, 3, 4, 5, 6, 7]
    assert h.gaps == [] and h.seq.reordered == 2


def test_duplicates_are_dropped_first_copy_wins() -> None:
    h = Harness()
    for seq in (1, 1, 2, 4, 4, 2, 3, 3):
        h.offer(seq)
    assert h.seqs() == [1, 2, 3, 4]
    assert h.seq.duplicates == 4


def test_gap_timeout_declares_the_range_lost_once() -> None:
    h = Harness(gap_timeout=0.5)
    h.offer(1, 0.0)
    h.offer(5, 0.1)
    h.offer(6, 0.2)
    h.seq.expire(0.5)
    assert h.gaps == []
    h.seq.expire(0.61)
    assert h.gaps == [("A", 2, 4)]
    assert h.seqs() == [1, 5, 6]
    h.seq.expire(5.0)
    h.offer(3, 5.0)  # a straggler from the lost range is late, not delivered
    assert h.gaps == [("A", 2, 4)] and h.seqs() == [1, 5, 6]


def test_window_overflow_declares_the_gap_at_once() -> None:
    h = Harness(window=3, gap_timeout=100.0)
    h.offer(1)
    for seq in (3, 4, 5, 6):
        h.offer(seq)
    assert h.gaps == [("A", 2, 2)]
    assert h.seqs() == [1, 3, 4, 5, 6]


def test_detect_mode_delivers_at_once_and_reports_gaps() -> None:
    h = Harness(mode="detect")
    for seq in (1, 2, 5, 3, 6):
        h.offer(seq)
    assert h.seqs() == [1, 2, 5, 6]
    assert h.gaps == [("A", 3, 4)]


def test_publisher_restart_is_a_reset_not_duplicates() -> None:
    h = Harness(reset_threshold=1000)
    for seq in range(1, 11):
        h.offer(seq)
    h.offer(1)  # a lagging copy: no reconnect happened, so not a restart
    assert h.resets == [] and h.seq.duplicates == 1
    h.seq.note_new_link()
    h.offer(1)
    h.offer(2)
    h.offer(1)  # the redundant copy of the restart
    assert h.seqs() == [*range(1, 11), 1, 2]
    assert h.resets == [("A", 11, 1)]
    assert h.seq.duplicates == 2
    h.offer(3)
    h.offer(50_000)  # held: a gap of 4..49999 opens
    h.seq.expire(100.0)
    assert h.gaps == [("A", 4, 49_999)]
    h.offer(7)  # far behind, but no new connection: late, not a restart
    assert len(h.resets) == 1 and h.seq.duplicates == 3
    h.seq.note_new_link()
    h.offer(7)  # far behind after a reconnect: the publisher restarted again
    assert len(h.resets) == 2 and h.seqs()[-1] == 7


def test_a_lagging_redundant_endpoint_is_never_a_reset() -> None:
    h = Harness(reset_threshold=100)
    for seq in range(1, 5001):  # endpoint A far ahead ...
        h.offer(seq, 5.0)
    for seq in range(1, 5001):  # ... endpoint B's copies, thousands behind
        h.offer(seq, 6.0)
    assert h.resets == [] and h.seqs() == list(range(1, 5001))
    assert h.seq.duplicates == 5000


def test_reset_flushes_what_was_held_and_reports_its_gaps() -> None:
    h = Harness(reset_threshold=10, gap_timeout=100.0)
    for seq in (100, 101, 103, 104):
        h.offer(seq, 0.0)
    h.seq.note_new_link()
    h.offer(2, 0.5)
    assert h.gaps == [("A", 102, 102)]
    assert h.seqs() == [100, 101, 103, 104, 2]


def test_symbols_are_independent_and_idle_ones_forgotten() -> None:
    h = Harness()
    h.offer(1, 0.0, "A")
    h.offer(7, 0.0, "B")
    h.offer(8, 50.0, "B")
    assert h.seq.forget_idle(100.0, ttl=60.0) == 1
    assert set(h.seq.streams) == {"B"}


@pytest.mark.parametrize("seed", range(20))
def test_shuffled_redundant_streams_deliver_everything_once_in_order(seed: int) -> None:
    rng = random.Random(seed)
    h = Harness(window=10_000, gap_timeout=1.0)
    frames = [s for s in range(1, 301) for _ in range(2)]
    # Two copies, each locally shuffled a little (bounded reordering, as on a network);
    # the first frame opens the stream, as it does for a subscriber present from the start.
    for i in range(2, len(frames), 8):
        chunk = frames[i:i + 8]
        rng.shuffle(chunk)
        frames[i:i + 8] = chunk
    for seq in frames:
        h.offer(seq, 0.0)
    h.seq.expire(10.0)
    assert h.seqs() == list(range(1, 301))
    assert h.gaps == []
