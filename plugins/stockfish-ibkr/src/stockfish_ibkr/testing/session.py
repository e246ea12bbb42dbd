"""One client connection at the fake TWS: its socket, subscriptions and pacing window."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

import attrs

from stockfish_ibkr.testing import protocol as p
from stockfish_ibkr.testing.book import Instrument
from stockfish_ibkr.testing.pacing import ArrivalWindow

if TYPE_CHECKING:
    from stockfish_ibkr.testing.fake_tws import FakeTWS

__all__ = ["Session", "Subscription"]


@attrs.define(slots=True, eq=False)
class Subscription:
    instrument: Instrument
    kind: str  # "mkt", "depth", "bars", "burst"
    rows: int = 0
    smart: bool = False
    dead: bool = False  # stays subscribed but silent (a feed that never resumed)
    top: tuple[float, float] = (0.0, 0.0)  # last bid / ask sent in a depth update


class Session:
    """One client connection."""

    def __init__(self, server: FakeTWS, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.api_started = False
        self.closed = False
        self.md_type = 1
        self.subs: dict[int, Subscription] = {}
        self.bulletins = False
        self.account_updates = False
        self.auto_bind = False  # client 0 asked for TWS's manual orders (reqAutoOpenOrders)
        self.arrivals = ArrivalWindow()
        self._delayed: asyncio.Queue[tuple[float, bytes]] | None = None
        self._delay_task: asyncio.Task[None] | None = None
        self.burst_tasks: list[asyncio.Task[None]] = []

    @property
    def live(self) -> bool:
        return self.api_started and not self.closed

    def send(self, *fields: Any) -> None:
        self.write(p.encode(*fields))

    def write(self, data: bytes) -> None:
        server = self.server
        if self.closed or self.writer.transport.is_closing():
            return  # the client is gone; its socket closes when the read loop sees it
        if server.stalled:
            server.count("stalled_dropped")
            return
        if server.reply_delay > 0:
            if self._delayed is None:
                self._delayed = asyncio.Queue()
                self._delay_task = asyncio.ensure_future(self._send_delayed())
            self._delayed.put_nowait((time.monotonic() + server.reply_delay, data))
            return
        self.writer.write(data)

    async def _send_delayed(self) -> None:
        assert self._delayed is not None
        while not self.closed:
            due, data = await self._delayed.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not self.closed and not self.server.stalled:
                self.writer.write(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for task in [self._delay_task, *self.burst_tasks]:
            if task is not None:
                task.cancel()
        with contextlib.suppress(Exception):
            self.writer.close()
