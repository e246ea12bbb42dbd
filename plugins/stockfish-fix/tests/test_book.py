"""The books of every model: snapshots replace, X entries add / change / delete levels,
entries or positions, and what does not fit is named."""

from __future__ import annotations

import pytest
from stockfish_fix.book import (
    Book,
    BookError,
    EntryBook,
    PositionBook,
    PriceLevelBook,
    TopOfBook,
    detect_model,
    make_book,
)
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


# ----------------------------------------------------------------------------- book models
def x(action: str, kind: str, price: float | None = None, size: float | None = None, *,
      entry_id: str | None = None, ref: str | None = None,
      level: int | None = None) -> MDEntry:
    return MDEntry(action, kind, price, size, "AAA", entry_id=entry_id, ref_id=ref,
                   level=level)


def test_top_of_book_a_change_at_a_new_price_replaces_the_quote() -> None:
    book = TopOfBook("AAA")
    book.apply_snapshot([e("0", "0", 99.0, 5), e("0", "1", 101.0, 7)])
    book.apply([x("1", "0", 99.5, 3), x("1", "1", 100.5, 2)])  # no MDEntryID: replaces
    assert book.levels() == ([(99.5, 3)], [(100.5, 2)])
    assert not book.is_crossed
    book.apply([x("2", "1", 100.5)])
    assert book.levels() == ([(99.5, 3)], [])
    with pytest.raises(BookError) as err:
        book.apply([x("2", "0", 42.0)])  # not the quote
    assert err.value.kind == "book_delete_unknown_level"


def test_the_price_level_model_on_a_top_of_book_feed_is_caught() -> None:
    # What the issue saw: keyed by price, the old quote stays and the book crosses.
    book = PriceLevelBook("AAA")
    book.apply_snapshot([e("0", "0", 99.0, 5), e("0", "1", 101.0, 7)])
    with pytest.raises(BookError) as err:
        book.apply([x("1", "0", 102.0, 3)])
    assert err.value.kind == "book_change_unknown_level"


def test_entry_id_renames_deletes_without_price_and_sums_orders_at_a_price() -> None:
    book = EntryBook("AAA")
    book.apply_snapshot([x("0", "0", 99.0, 5, entry_id="A"), x("0", "0", 99.0, 6, entry_id="B"),
                         x("0", "1", 101.0, 7, entry_id="C")])
    assert book.levels() == ([(99.0, 11)], [(101.0, 7)])
    book.apply([x("1", "0", 99.0, 4, entry_id="B2", ref="B")])  # B renamed B2, size 4
    assert book.levels() == ([(99.0, 9)], [(101.0, 7)])
    book.apply([x("2", "0", entry_id="A")])  # no price
    assert book.levels() == ([(99.0, 4)], [(101.0, 7)])
    book.apply([x("1", "0", 98.5, 4, entry_id="B2"), x("0", "1", 101.0, 1, entry_id="D")])
    assert book.levels() == ([(98.5, 4)], [(101.0, 8)])
    assert set(book.entries) == {"B2", "C", "D"}
    for bad, kind in ((x("2", "0", entry_id="A"), "book_delete_unknown_entry"),
                      (x("1", "0", 1.0, 1, entry_id="Z"), "book_change_unknown_entry"),
                      (x("0", "1", 102.0, 1, entry_id="C"), "book_new_existing_entry"),
                      (x("0", "1", 102.0, 1), "missing_entry_id")):
        with pytest.raises(BookError) as err:
            book.apply([bad])
        assert err.value.kind == kind


def test_position_actions_shift_levels_as_mdp3_defines_them() -> None:
    book = PositionBook("AAA", depth=4)
    book.apply_snapshot([x("0", "0", 99.0, 1, level=1), x("0", "0", 98.0, 2, level=2),
                         x("0", "0", 97.0, 3, level=3), x("0", "0", 96.0, 4, level=4)])
    book.apply([x("0", "0", 99.5, 9, level=1)])  # New at 1: all shift down, 96 falls off
    assert book.levels()[0] == [(99.5, 9), (99.0, 1), (98.0, 2), (97.0, 3)]
    book.apply([x("2", "0", level=2)])  # Delete at 2, no price: shift up
    assert book.levels()[0] == [(99.5, 9), (98.0, 2), (97.0, 3)]
    book.apply([x("1", "0", 98.0, 8, level=2)])  # Change: size at the same price
    book.apply([x("5", "0", 97.5, 5, level=3)])  # Overlay: new price and size
    assert book.levels()[0] == [(99.5, 9), (98.0, 8), (97.5, 5)]
    book.apply([x("3", "0", level=2)])  # Delete Thru 2: levels 1..2 gone
    assert book.levels()[0] == [(97.5, 5)]
    book.apply([x("0", "0", 97.0, 1, level=2), x("0", "0", 96.0, 1, level=3)])
    book.apply([x("4", "0", level=2)])  # Delete From 2: 2..last gone
    assert book.levels()[0] == [(97.5, 5)]
    for bad, kind in ((x("1", "0", 97.5, 1, level=2), "book_change_unknown_level"),
                      (x("0", "0", 90.0, 1, level=3), "book_level_gap"),
                      (x("0", "0", 90.0, 1, level=5), "book_level_beyond_depth"),
                      (x("1", "0", 97.0, 1, level=1), "book_change_price_mismatch"),
                      (x("0", "0", 96.0, 1, level=1), "book_level_order"),
                      (x("0", "0", 96.0, 1), "missing_price_level")):
        book.apply_snapshot([x("0", "0", 97.5, 5, level=1)])
        with pytest.raises(BookError) as err:
            book.apply([bad])
        assert err.value.kind == kind, bad


def test_a_snapshot_trade_sets_the_last_trade_and_is_no_trade() -> None:
    for book in (Book("AAA"), EntryBook("AAA"), PositionBook("AAA"), TopOfBook("AAA")):
        book.apply_snapshot([e("0", "2", 100.0, 3)])
        book.apply_snapshot([e("0", "2", 100.0, 3)])
        assert (book.last, book.last_size, book.volume) == (100.0, 3, 0.0)
        assert book.tick().volume is None


def test_prices_at_or_below_zero_only_where_allowed() -> None:
    with pytest.raises(BookError) as err:
        Book("SPRD").apply_snapshot([e("0", "0", -0.5, 1)])
    assert err.value.kind == "bad_price"
    spread = Book("SPRD", allow_negative=True)
    spread.apply_snapshot([e("0", "0", -0.5, 1), e("0", "1", 0.0, 2)])
    spread.apply([e("0", "2", -0.25, 1)])
    assert spread.levels() == ([(-0.5, 1)], [(0.0, 2)]) and spread.last == -0.25


def test_an_empty_book_entry_clears_both_sides() -> None:
    book = EntryBook("AAA")
    book.apply_snapshot([x("0", "0", 99.0, 5, entry_id="A"), x("0", "1", 101.0, 7, entry_id="C")])
    book.apply([x("2", "J")])
    assert book.levels() == ([], []) and book.entries == {}


def test_detect_model_from_the_entries() -> None:
    assert detect_model([x("0", "0", 1.0, 1, level=1)]) == "position"
    assert detect_model([x("0", "1", 1.0, 1, entry_id="A")]) == "entry_id"
    assert detect_model([x("0", "0", 1.0, 1), x("0", "2", 1.0, 1, entry_id="T")]) is None
    assert make_book("snapshot_only", "AAA").model == "snapshot_only"
    with pytest.raises(BookError) as err:
        make_book("snapshot_only", "AAA").apply([x("0", "0", 1.0, 1)])
    assert err.value.kind == "book_unexpected_incremental"
