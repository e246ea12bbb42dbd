"""Comparing the books a connector published with a simulated venue's own record of the
book a subscriber must hold after each market-data message (``md_history``)."""

from __future__ import annotations

from typing import Any

from stockfish_core.models import DataType, OrderBookSnapshot

__all__ = ["compare_after_every_message", "levels_of", "never_wrong", "published_books",
           "published_then_recorded", "venue_records"]

Levels = tuple[list[list[float]], list[list[float]]]


def levels_of(book: OrderBookSnapshot) -> Levels:
    """(bids, asks) of a published book as ``[price, size]`` lists, best first."""
    return ([[lv.price, lv.size] for lv in book.bids], [[lv.price, lv.size] for lv in book.asks])


def published_books(updates: list[Any], symbol: str) -> list[OrderBookSnapshot]:
    """The ORDERBOOK_SNAPSHOT payloads of ``symbol`` among ``updates``, in order."""
    return [u.payload for u in updates
            if u.data_type is DataType.ORDERBOOK_SNAPSHOT and u.symbol == symbol]


def venue_records(history: list[dict[str, Any]], symbol: str,
                  comp_id: str = "CLIENT") -> list[dict[str, Any]]:
    """The venue's records of the market-data messages it sent ``comp_id`` for ``symbol``."""
    return [r for r in history if r["symbol"] == symbol and r["comp_id"] == comp_id]


def published_then_recorded(updates: list[Any], venue: Any, symbol: str,
                            comp_id: str = "CLIENT") -> tuple[list[OrderBookSnapshot],
                                                              list[dict[str, Any]]]:
    """The books published so far, then the venue's records, read in that order.

    A venue records a message before it sends it, so every book published before the
    records are read has its record among them. Read the other way round, the feed keeps
    flowing between the two reads: the connector publishes the book of a message sent
    after the records were taken, and that (right) book is reported as no book the
    venue had."""
    books = published_books(updates, symbol)
    return books, venue_records(venue.md_history(symbol), symbol, comp_id)


def compare_after_every_message(books: list[OrderBookSnapshot],
                                records: list[dict[str, Any]]) -> list[str]:
    """Mismatches between the n-th published book and the venue's book after its n-th
    message (every message of a consistent feed publishes one book). Empty: identical."""
    problems = []
    if len(records) < len(books):
        problems.append(f"{len(books)} books published for {len(records)} messages")
    for index, (book, record) in enumerate(zip(books, records, strict=False)):
        expected = (record["bids"], record["asks"])
        got = levels_of(book)
        if got != expected:
            problems.append(f"after message {index} ({record['msg_type']}, RptSeq "
                            f"{record['rpt_seq']}): published {got}, the venue's {expected}")
    return problems


def never_wrong(books: list[OrderBookSnapshot], records: list[dict[str, Any]]) -> list[str]:
    """Mismatches for a feed with injected faults: every published book must be the venue's
    true book after some message, in order (a stale book publishes nothing; the books
    published after a resync pick up the record again). Empty: none was wrong."""
    problems = []
    position = 0
    for index, book in enumerate(books):
        got = levels_of(book)
        while position < len(records) and (records[position]["bids"],
                                           records[position]["asks"]) != got:
            position += 1
        if position == len(records):
            problems.append(f"published book {index} {got} is no book the venue had")
            break
        position += 1
    return problems
