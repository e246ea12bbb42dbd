"""Per-symbol sequencing: in-order delivery through a reorder buffer, duplicate removal,
gap declaration and publisher-restart detection.

Redundant endpoints carrying the same stream are merged here: the first copy of each
sequence number is delivered, later copies are duplicates.
"""

from __future__ import annotations

from collections.abc import Callable

from stockfish_core.models import MarketUpdate

__all__ = ["Sequencer"]

class _Stream:
    __slots__ = ("first", "links", "next", "pending", "since", "started", "touched")

    def __init__(self, first: int, now: float, links: int) -> None:
        self.links = links
        self.first = first
        self.next = first + 1
        # sequence -> (update, monotonic arrival time)
        self.pending: dict[int, tuple[MarketUpdate, float]] = {}
        self.since = 0.0
        self.touched = now
        self.started = now


class Sequencer:
    """Orders one connector's updates per symbol.

    ``mode`` is ``reorder`` (hold early messages until the gap fills, ``gap_timeout``
    passes or more than ``window`` are held) or ``detect`` (deliver at once, report gaps,
    drop what is behind). ``deliver(update)`` gets each update once, in order;
    ``on_gap(symbol, first, last)`` gets each lost range once; ``on_reset(symbol, expected,
    got)`` gets each publisher restart.

    Restarts are told from lagging copies by the connection a message came on: each
    reconnection gets an id from :meth:`note_new_link` (increasing); a message far behind is
    a restart only when it came on a reconnection made after the symbol's current run
    began. A copy lagging on an older connection, or on an endpoint's first connection
    (made late, under load, after the other copy's first messages), is a duplicate however
    far behind, even while another endpoint flaps.
    """

    def __init__(self, deliver: Callable[[MarketUpdate], None],
                 on_gap: Callable[[str, int, int], None],
                 on_reset: Callable[[str, int, int], None], *, mode: str = "reorder",
                 window: int = 1000, gap_timeout: float = 0.5,
                 reset_threshold: int = 1000) -> None:
        if mode not in ("reorder", "detect"):
            raise ValueError(f"sequence mode {mode!r}: expected 'reorder' or 'detect'")
        self.deliver = deliver
        self.on_gap = on_gap
        self.on_reset = on_reset
        self.reorder = mode == "reorder"
        self.window = window
        self.gap_timeout = gap_timeout
        self.reset_threshold = reset_threshold
        self.streams: dict[str, _Stream] = {}
        self.waiting: set[str] = set()
        self.duplicates = 0
        self.links = 0
        self.resets = 0
        self.reordered = 0

    @property
    def buffered(self) -> int:
        """Messages held right now waiting for a gap to fill."""
        return sum(len(self.streams[s].pending) for s in self.waiting if s in self.streams)

    def offer(self, update: MarketUpdate, now: float, link: int | None = None) -> None:
        """Take one decoded update (``now``: a monotonic time, read once per batch;
        ``link``: the id of the connection it came on, default the newest one)."""
        symbol = update.symbol
        seq = update.sequence
        stream = self.streams.get(symbol)
        if stream is None:
            self.streams[symbol] = _Stream(seq, now, self.links)
            self.deliver(update)
            return
        stream.touched = now
        expected = stream.next
        if seq == expected:
            stream.next = seq + 1
            self.deliver(update)
            if stream.pending:
                self._drain(symbol, stream, now)
        elif seq > expected:
            if not self.reorder:
                self.on_gap(symbol, expected, seq - 1)
                stream.next = seq + 1
                self.deliver(update)
            elif seq in stream.pending:
                self.duplicates += 1
            else:
                if not stream.pending:
                    stream.since = now
                    self.waiting.add(symbol)
                stream.pending[seq] = (update, now)
                self.reordered += 1
                if len(stream.pending) > self.window:
                    self._skip_gap(symbol, stream, now)
        elif (self.links if link is None else link) > stream.links and (
                seq <= stream.first or expected - seq > self.reset_threshold):
            # It came on a publisher connection made since this run of the stream began,
            # and the numbering fell back to its start or far below: the publisher
            # restarted. From an older connection a message behind is never a restart,
            # however far behind: it is a lagging redundant copy (or a straggler), already
            # delivered or declared lost.
            self._reset(symbol, stream, update, now)
        else:
            self.duplicates += 1

    def note_new_link(self, *, first: bool = False) -> int:
        """A publisher connection was made; return its id for :meth:`offer`. A
        reconnection (``first`` False) may bring a restarted publisher. An endpoint's first
        connection cannot: it is a redundant copy joining late (its messages behind the
        stream are duplicates however far behind), so it gets the id of the oldest link."""
        if first:
            return 0
        self.links += 1
        return self.links

    def expire(self, now: float) -> None:
        """Declare lost every gap older than ``gap_timeout``."""
        if not self.waiting:
            return
        for symbol in list(self.waiting):
            stream = self.streams.get(symbol)
            if stream is None:
                self.waiting.discard(symbol)
                continue
            # Several gaps may be due at once: each is timed from the first message that
            # arrived after it, not from when the gap before it was declared.
            while stream.pending and now - stream.since >= self.gap_timeout:
                self._skip_gap(symbol, stream, now)
            if not stream.pending:
                self.waiting.discard(symbol)

    def next_deadline(self) -> float | None:
        """The monotonic time at which the oldest held gap times out (``None``: none held)."""
        if not self.waiting:
            return None
        streams = self.streams
        since = [streams[s].since for s in self.waiting if s in streams]
        return min(since) + self.gap_timeout if since else None

    def forget_idle(self, now: float, ttl: float) -> int:
        """Drop the state of symbols silent for ``ttl`` seconds with nothing held."""
        idle = [s for s, st in self.streams.items()
                if not st.pending and now - st.touched > ttl]
        for symbol in idle:
            del self.streams[symbol]
        return len(idle)

    def forget(self, symbol: str) -> None:
        """Drop a symbol's state (and anything it held) without reporting gaps."""
        self.streams.pop(symbol, None)
        self.waiting.discard(symbol)

    def _skip_gap(self, symbol: str, stream: _Stream, now: float) -> None:
        first_held = min(stream.pending)
        self.on_gap(symbol, stream.next, first_held - 1)
        stream.next = first_held
        self._drain(symbol, stream, now)

    def _drain(self, symbol: str, stream: _Stream, now: float) -> None:
        pending = stream.pending
        while stream.next in pending:
            update = pending.pop(stream.next)[0]
            stream.next += 1
            self.deliver(update)
        for seq in [s for s in pending if s < stream.next]:
            del pending[seq]
            self.duplicates += 1
        if pending:
            # What is still held waits behind a new gap, which became known when the
            # earliest of them arrived: time it from then, not from now.
            stream.since = min(arrived for _, arrived in pending.values())
        else:
            self.waiting.discard(symbol)

    def _reset(self, symbol: str, stream: _Stream, update: MarketUpdate, now: float) -> None:
        while stream.pending:  # what the old run left held is delivered, its gaps reported
            self._skip_gap(symbol, stream, now)
        self.resets += 1
        self.on_reset(symbol, stream.next, update.sequence)
        stream.first = update.sequence
        stream.next = update.sequence + 1
        stream.started = now
        stream.links = self.links
        self.deliver(update)
