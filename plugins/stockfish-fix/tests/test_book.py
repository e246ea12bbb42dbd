"""The incremental book: snapshots replace, X entries add / change / delete levels."""

from __future__ import annotations

import pytest
from stockfish_fix.book import Book, BookError
from stockfish_fix.messages import MDEntry


def e(action: str, kind: str, price: float, size: float = 0.0) -> MDEntry:
    return MDEntry(action, kind, price, size, "AAA")


def test_snapshot_then_incrementals() -> None:
    book = Book("AAA")
    book.apply_snapshot([e("0", "0", 99.0, 5), e("0", "0", 98.0, 6), e("0", "1", 101.0, 7)])
    assert book.levels() == ([(99.0, 5), (98.0, 6)], [(101.0, 7)])
    book.apply([e("1", "0", 99.0, 9), e("0", "1", 100.5, 2), e("2", "0", 98.0)])
    assert book.levels() == ([(99.0, 9)], [(100.5, 2), (101.0, 7)])
    tick = book.tick()
    assert (tick.bid, tick.ask, tick.bid_size, tick.ask_size) == (99.0, 100.5, 9, 2)
    snap = book.snapshot(1)
    assert [lv.price for lv in snap.bids] == [99.0] and [lv.price for lv in snap.asks] == [100.5]
    book.apply_snapshot([e("0", "1", 200.0, 1)])
    assert book.levels() == ([], [(200.0, 1)])


def test_trades_update_last_and_volume() -> None:
    book = Book("AAA")
    trades = book.apply([e("0", "2", 100.0, 3), e("0", "2", 100.5, 2)])
    assert [(t.price, t.size) for t in trades] == [(100.0, 3), (100.5, 2)]
    assert (book.last, book.last_size, book.volume) == (100.5, 2, 5)


def test_an_update_that_does_not_fit_raises_at_once() -> None:
    # The caller abandons the book (stale, re-requested): nothing after the bad entry counts.
    book = Book("AAA")
    book.apply_snapshot([e("0", "0", 99.0, 5)])
    with pytest.raises(BookError) as err:
        book.apply([e("2", "0", 50.0), e("0", "1", 101.0, 1)])
    assert err.value.kind == "book_delete_unknown_level"
    book.apply_snapshot([e("0", "0", 99.0, 5)])
    with pytest.raises(BookError) as err:
        book.apply([e("1", "1", 150.0, 1)])
    assert err.value.kind == "book_change_unknown_level"


def test_zero_size_removes_and_crossed_is_seen() -> None:
    book = Book("AAA")
    book.apply_snapshot([e("0", "0", 99.0, 5), e("0", "1", 101.0, 1)])
    book.apply([e("1", "0", 99.0, 0)])
    assert book.levels()[0] == []
    book.apply([e("0", "0", 102.0, 1)])
    assert book.is_crossed
    assert Book("X").tick() is None


def _sides(snap: object) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    return ([(lv.price, lv.size) for lv in snap.bids],  # type: ignore[attr-defined]
            [(lv.price, lv.size) for lv in snap.asks])  # type: ignore[attr-defined]


def test_snapshots_follow_every_change_and_reuse_what_did_not_change() -> None:
    book = Book("AAA")
    book.apply_snapshot([e("0", "0", 99.0, 5), e("0", "0", 98.0, 6), e("0", "1", 101.0, 7),
                         e("0", "1", 102.0, 8)])
    first = book.snapshot(5)
    book.apply([e("1", "0", 99.0, 1)])  # bids change, asks do not
    second = book.snapshot(5)
    assert _sides(second) == ([(99.0, 1), (98.0, 6)], [(101.0, 7), (102.0, 8)])
    # the unchanged side's levels, and an unchanged level, are the same objects again
    assert all(a is b for a, b in zip(second.asks, first.asks, strict=True))
    assert second.bids[1] is first.bids[1]
    assert _sides(first) == ([(99.0, 5), (98.0, 6)], [(101.0, 7), (102.0, 8)])  # immutable
    assert _sides(book.snapshot(1)) == ([(99.0, 1)], [(101.0, 7)])  # another depth
    book.apply([e("2", "1", 101.0), e("0", "1", 100.5, 3)])
    book.set_level("0", 98.5, 2)
    assert _sides(book.snapshot(5)) == ([(99.0, 1), (98.5, 2), (98.0, 6)],
                                        [(100.5, 3), (102.0, 8)])
    book.set_level("0", 99.0, 0)
    book.apply_snapshot([e("0", "1", 200.0, 1)])
    assert _sides(book.snapshot(5)) == ([], [(200.0, 1)])
