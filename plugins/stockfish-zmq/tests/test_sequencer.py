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

    def offer(self, seq: int, now: float = 0.0, symbol: str = "A",
              link: int | None = None) -> None:
        self.seq.offer(MarketUpdate(DataType.CUSTOM, symbol, "t", {}, seq), now, link)

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


def test_next_deadline_is_the_oldest_held_gap_plus_the_timeout() -> None:
    h = Harness(gap_timeout=0.5)
    assert h.seq.next_deadline() is None
    h.offer(1, 0.0, "A")
    h.offer(1, 0.0, "B")
    h.offer(3, 1.0, "A")
    h.offer(5, 2.0, "B")
    assert h.seq.next_deadline() == 1.5
    h.seq.expire(1.5)
    assert h.gaps == [("A", 2, 2)] and h.seq.next_deadline() == 2.5


def test_consecutive_gaps_are_each_timed_from_when_they_became_known() -> None:
    h = Harness(gap_timeout=0.5)
    h.offer(1, 0.0)
    for seq, now in ((3, 0.1), (5, 0.2), (7, 0.3)):  # 2, 4 and 6 never come
        h.offer(seq, now)
    h.seq.expire(0.59)
    assert h.gaps == []
    # All three gaps were known by 0.3: all are due by 0.8, not at 0.6, 1.1 and 1.6.
    h.seq.expire(0.8)
    assert h.gaps == [("A", 2, 2), ("A", 4, 4), ("A", 6, 6)]
    assert h.seqs() == [1, 3, 5, 7] and h.seq.next_deadline() is None


def test_a_copy_whose_first_connection_comes_late_is_not_a_restart() -> None:
    """Under load the second endpoint's connection is made after the first copy's messages
    were delivered: its copies, all behind, are duplicates, not a restart."""
    h = Harness(reset_threshold=100)
    a = h.seq.note_new_link(first=True)
    for seq in range(1, 7):
        h.offer(seq, 1.0, link=a)
    b = h.seq.note_new_link(first=True)  # B's first connection, late
    for seq in range(1, 7):
        h.offer(seq, 2.0, link=b)
    assert h.resets == [] and h.seqs() == [1, 2, 3, 4, 5, 6]
    b = h.seq.note_new_link()  # B reconnects: a restarted publisher may come on it
    h.offer(1, 3.0, link=b)
    assert h.resets == [("A", 7, 1)]


def test_a_lagging_copy_is_not_a_reset_while_the_other_endpoint_flaps() -> None:
    h = Harness(reset_threshold=100)
    a = h.seq.note_new_link()
    b = h.seq.note_new_link()
    for seq in range(1, 3001):  # endpoint A far ahead
        h.offer(seq, 1.0, link=a)
    a = h.seq.note_new_link()  # A reconnects (flap), same numbering
    h.offer(3001, 2.0, link=a)
    for seq in range(1, 3002):  # B's copies, thousands behind on its old connection
        h.offer(seq, 3.0, link=b)
    assert h.resets == [] and h.seqs() == list(range(1, 3002))
    h.offer(1, 4.0, link=a)  # A's publisher restarted: back to 1 on a new connection
    assert h.resets == [("A", 3002, 1)]
