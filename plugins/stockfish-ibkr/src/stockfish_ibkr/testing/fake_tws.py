"""A fake TWS / IB Gateway: a loopback server speaking the real IB API wire protocol.

The unmodified ib_insync and ib_async clients connect to it. It lists stocks, forex,
indices and crypto, streams seeded random-walk quotes, depth and bars, accepts MKT / LMT /
STP / STP LMT orders and fills them (market at once, limit when the simulated price
crosses), keeps positions and executions, and injects faults: dropped connections,
refused connections, delayed replies, a stalled socket, error 1100 / 1101 / 1102, data-farm
outages (2103 / 2105, then 2104 / 2106 with or without the streams resuming), a restart that
rolls the next valid order id back, and fills made while the client is away.

Everything the fake receives and does is recorded (``orders_received``, ``executions``,
``stats()``) so that tests compare the client's view with the venue's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import math
import random
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs

from stockfish_ibkr.testing import protocol as p

__all__ = ["DEFAULT_INSTRUMENTS", "FakeOrder", "FakeTWS", "Instrument"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_MAX_MESSAGE = 1 << 20
NO_SECURITY = "No security definition has been found for the request"


@attrs.define(slots=True)
class Instrument:
    """A listed contract and its simulated market."""

    symbol: str
    sec_type: str
    exchange: str
    currency: str
    con_id: int
    price: float
    min_tick: float = 0.01
    local_symbol: str = ""
    trading_class: str = ""
    long_name: str = ""
    primary_exchange: str = ""
    quotes: bool = True  # indices have no bid/ask: IB sends -1 for them
    tradable: bool = True
    bid: float = 0.0
    ask: float = 0.0
    last: float = 0.0
    bid_size: float = 0.0
    ask_size: float = 0.0
    last_size: float = 0.0
    volume: float = 0.0
    bar: list[float] | None = None  # open, high, low, close, volume, wap numerator, count
    sent_ask: float = 0.0  # the ask last streamed, to order updates so quotes never cross

    def __attrs_post_init__(self) -> None:
        self.local_symbol = self.local_symbol or self.symbol
        self.trading_class = self.trading_class or self.symbol
        self.long_name = self.long_name or self.symbol
        self.set_mid(self.price)

    @property
    def decimals(self) -> int:
        return max(0, -math.floor(math.log10(self.min_tick) + 1e-9)) + 1

    def round(self, value: float) -> float:
        return round(round(value / self.min_tick) * self.min_tick, self.decimals)

    def set_mid(self, mid: float) -> None:
        mid = max(mid, 10 * self.min_tick)
        self.bid = self.round(mid - self.min_tick)
        self.ask = self.round(self.bid + 2 * self.min_tick)
        self.last = self.round(mid)
        self.price = mid


def _stock(symbol: str, con_id: int, price: float, primary: str, name: str) -> Instrument:
    return Instrument(symbol, "STK", "SMART", "USD", con_id, price, 0.01, long_name=name,
                      primary_exchange=primary)


DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    _stock("SPY", 756733, 450.0, "ARCA", "SPDR S&P 500 ETF TRUST"),
    _stock("QQQ", 320227571, 380.0, "NASDAQ", "INVESCO QQQ TRUST SERIES 1"),
    _stock("IWM", 9579970, 200.0, "ARCA", "ISHARES RUSSELL 2000 ETF"),
    Instrument("EUR", "CASH", "IDEALPRO", "USD", 12087792, 1.085, 0.00005,
               local_symbol="EUR.USD", trading_class="EUR.USD",
               long_name="European Monetary Union Euro"),
    Instrument("SPX", "IND", "CBOE", "USD", 416904, 5000.0, 0.01, long_name="S&P 500 Stock Index",
               quotes=False, tradable=False),
    Instrument("NDX", "IND", "NASDAQ", "USD", 416843, 18000.0, 0.01,
               long_name="NASDAQ 100 Stock Index", quotes=False, tradable=False),
    Instrument("RUT", "IND", "RUSSELL", "USD", 416888, 2000.0, 0.01,
               long_name="Russell 2000 Stock Index", quotes=False, tradable=False),
    Instrument("BTC", "CRYPTO", "PAXOS", "USD", 479624278, 60000.0, 0.25,
               local_symbol="BTC.USD", long_name="Bitcoin"),
    Instrument("ETH", "CRYPTO", "PAXOS", "USD", 495759171, 3000.0, 0.05,
               local_symbol="ETH.USD", long_name="Ethereum"),
)

WORKING = ("PreSubmitted", "Submitted")


@attrs.define(slots=True, eq=False)
class FakeOrder:
    """An order as the fake TWS holds it."""

    order_id: int
    client_id: int
    perm_id: int
    instrument: Instrument
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str
    status: str = "PreSubmitted"
    filled: float = 0.0
    avg_price: float = 0.0
    last_fill_price: float = 0.0
    triggered: bool = False
    executions: int = 0
    completed_time: str = ""

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled, 0.0)

    @property
    def working(self) -> bool:
        return self.status in WORKING

    def to_dict(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "client_id": self.client_id, "perm_id": self.perm_id,
                "symbol": self.instrument.symbol, "action": self.action,
                "quantity": self.quantity, "order_type": self.order_type,
                "limit_price": self.limit_price, "aux_price": self.aux_price, "tif": self.tif,
                "order_ref": self.order_ref, "status": self.status, "filled": self.filled,
                "avg_price": self.avg_price}


@attrs.define(slots=True, eq=False)
class _Sub:
    instrument: Instrument
    kind: str  # "mkt", "depth", "bars"
    rows: int = 0
    smart: bool = False
    dead: bool = False  # stays subscribed but silent (a feed that never resumed)
    top: tuple[float, float] = (0.0, 0.0)  # last bid / ask sent in a depth update


class _Session:
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
        self.subs: dict[int, _Sub] = {}
        self.bulletins = False
        self.account_updates = False
        self.recv_times: collections.deque[float] = collections.deque()
        self._delayed: asyncio.Queue[tuple[float, bytes]] | None = None
        self._delay_task: asyncio.Task[None] | None = None
        self.burst_tasks: list[asyncio.Task[None]] = []

    def send(self, *fields: Any) -> None:
        self.write(p.encode(*fields))

    def write(self, data: bytes) -> None:
        server = self.server
        if self.closed or self.writer.transport.is_closing():
            return  # the client is gone; its socket closes when the read loop sees it
        if server._stalled:
            server._counters["stalled_dropped"] += 1
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
            if not self.closed and not self.server._stalled:
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


class FakeTWS:
    """A fake TWS / IB Gateway on 127.0.0.1 (port 0 = an ephemeral port).

    ``start()`` returns the connector configuration entry; ``port`` holds the bound port.
    All fault-injection methods are thread-safe and return once the fault is in place.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, accounts: Iterable[str] = ("DU1234567",),
        server_version: int = p.SERVER_VERSION, tick_interval: float = 0.05,
        bar_interval: float = 5.0, seed: int = 7,
        instruments: Iterable[Instrument] | None = None, next_valid_id: int = 1,
        burst_ticks: int = 0, max_fill_size: float = 100.0,
        commission_per_share: float = 0.005, min_commission: float = 1.0,
        max_order_quantity: float = 1_000_000.0, bulletin_interval: float = 0.0,
        historical_max_requests: int = 60, historical_window: float = 600.0,
        historical_identical_interval: float = 15.0, max_messages_per_second: int = 50,
        client_id: int = 1,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fake TWS listens on loopback only")
        self.host = host
        self.port = port
        self.accounts = tuple(accounts)
        self.server_version = server_version
        self.tick_interval = tick_interval
        self.bar_interval = bar_interval
        self.burst_ticks = burst_ticks
        self.max_fill_size = max_fill_size
        self.commission_per_share = commission_per_share
        self.min_commission = min_commission
        self.max_order_quantity = max_order_quantity
        self.bulletin_interval = bulletin_interval
        self.hist_max = historical_max_requests
        self.hist_window = historical_window
        self.hist_identical = historical_identical_interval
        self.max_messages_per_second = max_messages_per_second
        self.default_client_id = client_id
        self.reply_delay = 0.0
        self.rng = random.Random(seed)
        source = instruments if instruments is not None else DEFAULT_INSTRUMENTS
        self.instruments: list[Instrument] = [attrs.evolve(i) for i in source]
        self._by_con_id = {i.con_id: i for i in self.instruments}
        self._next_id = next_valid_id
        self._perm_ids = itertools.count(self.rng.randrange(1_000_000, 2_000_000_000))
        self._exec_seq = itertools.count(1)
        self._bulletin_ids = itertools.count(1)
        self._orders: dict[tuple[int, int], FakeOrder] = {}
        self._positions: dict[tuple[str, int], list[float]] = {}  # (account, conId) -> qty, cost
        self._cash = 1_000_000.0
        self._hist_times: collections.deque[float] = collections.deque()
        self._hist_last: dict[tuple[Any, ...], float] = {}
        self._sessions: set[_Session] = set()
        self._stalled = False
        self._md_paused = False
        self._refuse_until = 0.0
        self._reject_next: str | None = None
        self._lock = threading.Lock()
        self._orders_received: list[dict[str, Any]] = []
        self._executions: list[dict[str, Any]] = []
        self._counters: collections.Counter[str] = collections.Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: dict[int, Callable[[_Session, list[str]], None]] = {
            p.IN_START_API: self._on_start_api,
            p.IN_REQ_CURRENT_TIME: self._on_current_time,
            p.IN_REQ_IDS: self._on_req_ids,
            p.IN_REQ_MANAGED_ACCTS: self._on_managed_accounts,
            p.IN_REQ_CONTRACT_DETAILS: self._on_contract_details,
            p.IN_REQ_MKT_DATA: self._on_mkt_data,
            p.IN_CANCEL_MKT_DATA: self._on_cancel_sub,
            p.IN_REQ_MKT_DEPTH: self._on_mkt_depth,
            p.IN_CANCEL_MKT_DEPTH: self._on_cancel_sub,
            p.IN_REQ_REAL_TIME_BARS: self._on_real_time_bars,
            p.IN_CANCEL_REAL_TIME_BARS: self._on_cancel_sub,
            p.IN_REQ_HISTORICAL_DATA: self._on_historical_data,
            p.IN_CANCEL_HISTORICAL_DATA: self._ignore,
            p.IN_REQ_MARKET_DATA_TYPE: self._on_market_data_type,
            p.IN_REQ_NEWS_BULLETINS: self._on_news_bulletins,
            p.IN_CANCEL_NEWS_BULLETINS: self._on_cancel_news,
            p.IN_PLACE_ORDER: self._on_place_order,
            p.IN_CANCEL_ORDER: self._on_cancel_order,
            p.IN_REQ_GLOBAL_CANCEL: self._on_global_cancel,
            p.IN_REQ_OPEN_ORDERS: self._on_open_orders,
            p.IN_REQ_ALL_OPEN_ORDERS: self._on_all_open_orders,
            p.IN_REQ_AUTO_OPEN_ORDERS: self._ignore,
            p.IN_REQ_COMPLETED_ORDERS: self._on_completed_orders,
            p.IN_REQ_EXECUTIONS: self._on_executions,
            p.IN_REQ_POSITIONS: self._on_positions,
            p.IN_CANCEL_POSITIONS: self._ignore,
            p.IN_REQ_ACCOUNT_UPDATES: self._on_account_updates,
            p.IN_REQ_ACCOUNT_UPDATES_MULTI: self._on_account_updates_multi,
            p.IN_CANCEL_ACCOUNT_UPDATES_MULTI: self._ignore,
            p.IN_REQ_ACCOUNT_SUMMARY: self._on_account_summary,
            p.IN_CANCEL_ACCOUNT_SUMMARY: self._ignore,
        }

    # ================================================================== lifecycle
    def start(self) -> dict[str, Any]:
        """Start listening; return the ``ibkr`` connector entry that connects here."""
        if self._thread is None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            self._thread = threading.Thread(target=run, name="fake-tws", daemon=True)
            self._thread.start()
            if not ready.wait(5.0):
                raise RuntimeError("fake TWS loop did not start")
            self._run(self._start_async())
        return {"type": "ibkr", "host": self.host, "port": self.port,
                "client_id": self.default_client_id}

    async def _start_async(self) -> None:
        await self._listen()
        self._tasks.append(asyncio.ensure_future(self._market_loop()))
        self._tasks.append(asyncio.ensure_future(self._bar_loop()))
        if self.bulletin_interval > 0:
            self._tasks.append(asyncio.ensure_future(self._bulletin_loop()))

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Close every connection and the listener; stop the loop thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self._run(self._stop_async(), timeout=5.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)
        if not thread.is_alive():
            loop.close()
        self._loop = None
        self._thread = None

    async def _stop_async(self) -> None:
        for task in self._tasks:
            task.cancel()
        for session in list(self._sessions):
            session.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    def __enter__(self) -> FakeTWS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, coro: Any, timeout: float = 10.0) -> Any:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the fake TWS is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        async def call() -> T:
            return fn(*args)

        return self._run(call())  # type: ignore[no-any-return]

    # ================================================================== records
    @property
    def orders_received(self) -> list[dict[str, Any]]:
        """Every placeOrder the fake received (modifications included), in order."""
        with self._lock:
            return list(self._orders_received)

    @property
    def executions(self) -> list[dict[str, Any]]:
        """Every execution the fake made, in order."""
        with self._lock:
            return list(self._executions)

    def orders(self) -> list[dict[str, Any]]:
        """The current state of every order the fake holds."""
        return self._call(lambda: [o.to_dict() for o in self._orders.values()])

    def positions(self) -> dict[tuple[str, str], float]:
        return self._call(lambda: {(acct, self._by_con_id[cid].symbol): v[0]
                                   for (acct, cid), v in self._positions.items()})

    def stats(self) -> dict[str, int]:
        """Counters: connections, messages, pacing violations, id reuse, ..."""
        with self._lock:
            return dict(self._counters)

    def subscription_count(self, kind: str = "mkt") -> int:
        """Live subscriptions of ``kind`` (mkt, depth, bars, bulletins) over all clients."""
        sessions = self._live_sessions()
        if kind == "bulletins":
            return sum(1 for s in sessions if s.bulletins)
        return sum(1 for s in sessions for sub in list(s.subs.values())
                   if sub.kind == kind and not sub.dead)

    @property
    def connected_clients(self) -> int:
        return sum(1 for s in self._sessions if s.api_started and not s.closed)

    def instrument(self, symbol: str) -> Instrument:
        for inst in self.instruments:
            if symbol in (inst.symbol, inst.local_symbol):
                return inst
        raise KeyError(symbol)

    # ================================================================== fault injection
    def drop_connections(self) -> None:
        """Cut every client connection now (the clients see a peer close)."""
        self._call(self._drop_all)

    def _drop_all(self) -> None:
        for session in list(self._sessions):
            self._counters["dropped"] += 1
            with contextlib.suppress(Exception):
                session.writer.transport.abort()
            session.close()
            self._sessions.discard(session)

    def refuse_connections(self, seconds: float) -> None:
        """Stop listening for ``seconds`` (connects are refused), then listen again."""
        self._run(self._refuse(seconds))

    async def _refuse(self, seconds: float) -> None:
        self._refuse_until = time.monotonic() + seconds
        if self._server is not None:
            self._server.close()
            self._server = None

        async def reopen() -> None:
            await asyncio.sleep(seconds)
            if self._server is None:
                await self._listen()

        self._tasks.append(asyncio.ensure_future(reopen()))

    def restart(self, next_valid_id: int, downtime: float = 0.0) -> None:
        """Simulate the nightly restart: drop everyone, refuse for ``downtime`` seconds,
        and hand out ``next_valid_id`` (possibly lower than ids already used) next."""

        async def go() -> None:
            self._drop_all()
            self._next_id = next_valid_id
            if downtime > 0:
                await self._refuse(downtime)

        self._run(go())

    def set_reply_delay(self, seconds: float) -> None:
        """Delay every message the fake sends by ``seconds`` (0 = none)."""
        self.reply_delay = max(0.0, seconds)

    def stall(self, stalled: bool = True) -> None:
        """Stop (or resume) sending anything while keeping every socket open."""
        self._stalled = stalled

    def send_error(self, code: int, message: str = "", req_id: int = -1) -> None:
        """Send error ``code`` to every connected client."""
        self._call(self._broadcast_error, req_id, code, message or f"error {code}")

    def _broadcast_error(self, req_id: int, code: int, message: str) -> None:
        for session in self._live_sessions():
            self._error(session, req_id, code, message)

    def connectivity_lost(self) -> None:
        """Error 1100: TWS lost its link to IB; market data stops."""
        def go() -> None:
            self._md_paused = True
            self._broadcast_error(-1, 1100, "Connectivity between IB and Trader Workstation "
                                            "has been lost.")
        self._call(go)

    def connectivity_restored(self, data_lost: bool) -> None:
        """Error 1101 (data lost: subscriptions are gone) or 1102 (data maintained)."""
        def go() -> None:
            self._md_paused = False
            if data_lost:
                for session in self._live_sessions():
                    session.subs.clear()
                self._broadcast_error(-1, 1101, "Connectivity between IB and TWS has been "
                                                "restored- data lost.")
            else:
                self._broadcast_error(-1, 1102, "Connectivity between IB and TWS has been "
                                                "restored- data maintained.")
        self._call(go)

    def farm_lost(self) -> None:
        """2103 / 2105: the market and historical data farms dropped; ticks stop."""
        def go() -> None:
            self._md_paused = True
            self._broadcast_error(-1, 2103, "Market data farm connection is broken:usfarm")
            self._broadcast_error(-1, 2105, "HMDS data farm connection is broken:ushmds")
        self._call(go)

    def farm_restored(self, resume_streams: bool = True) -> None:
        """2104 / 2106. With ``resume_streams=False`` the existing subscriptions stay dead
        until the client requests them again (the feed that stays silent for hours)."""
        def go() -> None:
            self._md_paused = False
            if not resume_streams:
                for session in self._live_sessions():
                    for sub in session.subs.values():
                        sub.dead = True
            self._broadcast_error(-1, 2104, "Market data farm connection is OK:usfarm")
            self._broadcast_error(-1, 2106, "HMDS data farm connection is OK:ushmds")
        self._call(go)

    def reject_next_order(self, reason: str) -> None:
        """The next placeOrder is rejected with error 201 and ``reason``."""
        self._reject_next = reason

    def set_price(self, symbol: str, price: float) -> None:
        """Move ``symbol``'s market to ``price`` now (resting orders that cross fill)."""
        def go() -> None:
            inst = self.instrument(symbol)
            inst.set_mid(price)
            self._publish_quote(inst)
            self._match(inst)
        self._call(go)

    def fill_working_orders(self, symbol: str | None = None) -> int:
        """Fill every working order (of ``symbol``) in full at its limit or the touch,
        whether or not its client is connected. Returns how many orders were filled."""
        def go() -> int:
            done = 0
            for order in list(self._orders.values()):
                if not order.working or (symbol and order.instrument.symbol != symbol):
                    continue
                inst = order.instrument
                price = order.limit_price or (inst.ask if order.action == "BUY" else inst.bid)
                self._execute(order, order.remaining, price)
                done += 1
            return done
        return self._call(go)

    def cancel_working_orders(self, reason: str = "cancelled by TWS") -> int:
        """Cancel every working order at the venue (like TWS expiring DAY orders), whether
        or not its client is connected. Returns how many were cancelled."""
        def go() -> int:
            working = [o for o in self._orders.values() if o.working]
            for order in working:
                self._cancel(order, reason)
            return len(working)
        return self._call(go)

    def publish_bulletin(self, message: str, msg_type: int = 1, exchange: str = "") -> None:
        """Send a news bulletin to every client subscribed to bulletins."""
        self._call(self._bulletin, message, msg_type, exchange)

    def send_garbage(self) -> None:
        """Send malformed market data: an undecodable tick and out-of-range prices."""
        def go() -> None:
            for session in self._live_sessions():
                for req_id, sub in list(session.subs.items()):
                    if sub.kind != "mkt":
                        continue
                    session.send(p.TICK_PRICE, 6, req_id, p.TT_BID, "abc", "x", 0)
                    session.send(p.TICK_PRICE, 6, req_id, p.TT_BID, -99.0, 5, 0)
                    session.send(p.TICK_PRICE, 6, req_id, p.TT_ASK, -98.0, 5, 0)
                    session.send(p.TICK_PRICE, 6, req_id, p.TT_LAST, "nan", 5, 0)
        self._call(go)

    # ================================================================== connections
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer)
        self._counters["connections"] += 1
        self._sessions.add(session)
        try:
            if await reader.readexactly(4) != b"API\0":
                self._counters["bad_greeting"] += 1
                return
            size = struct.unpack(">I", await reader.readexactly(4))[0]
            low, high = p.parse_version_range((await reader.readexactly(size)).decode())
            if not low <= self.server_version <= high:
                self._counters["version_mismatch"] += 1
                return
            session.send(self.server_version, time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime()))
            while not session.closed:
                size = struct.unpack(">I", await reader.readexactly(4))[0]
                if size > _MAX_MESSAGE:
                    self._counters["oversized"] += 1
                    return
                fields = p.split_fields(await reader.readexactly(size))
                self._dispatch(session, fields)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, OSError):
            pass
        finally:
            session.close()
            self._sessions.discard(session)

    def _live_sessions(self) -> list[_Session]:
        return [s for s in self._sessions if s.api_started and not s.closed]

    def _owner(self, client_id: int) -> _Session | None:
        for session in self._sessions:
            if session.client_id == client_id and session.api_started and not session.closed:
                return session
        return None

    def _dispatch(self, session: _Session, fields: list[str]) -> None:
        self._counters["messages"] += 1
        now = time.monotonic()
        times = session.recv_times
        times.append(now)
        while times and now - times[0] > 1.0:
            times.popleft()
        if len(times) > self.max_messages_per_second:
            self._counters["pacing_violations"] += 1
            self._error(session, -1, 100, "Max rate of messages per second has been exceeded:"
                                          f"max={self.max_messages_per_second} rec={len(times)}")
        try:
            msg_id = int(fields[0])
        except (IndexError, ValueError):
            self._counters["malformed"] += 1
            return
        handler = self._handlers.get(msg_id)
        if handler is None:
            self._counters["unhandled"] += 1
            return
        try:
            handler(session, fields)
        except (IndexError, ValueError) as exc:
            self._counters["malformed"] += 1
            self._error(session, -1, 320, f"Error reading request: {exc}")

    @staticmethod
    def _error(session: _Session, req_id: int, code: int, message: str) -> None:
        session.send(p.ERR_MSG, 2, req_id, code, message, "")

    def _ignore(self, session: _Session, fields: list[str]) -> None:
        return None

    def _on_start_api(self, session: _Session, fields: list[str]) -> None:
        client_id = int(fields[2])
        if self._owner(client_id) is not None:
            self._counters["client_id_in_use"] += 1
            self._error(session, -1, 326, "Unable to connect as the client id is already in "
                                          "use. Retry with a unique client id.")
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, session.close)
            return
        session.client_id = client_id
        session.api_started = True
        self._counters["api_starts"] += 1
        session.send(p.MANAGED_ACCTS, 1, ",".join(self.accounts))
        session.send(p.NEXT_VALID_ID, 1, self._next_id)
        for code, text in ((2104, "Market data farm connection is OK:usfarm"),
                           (2106, "HMDS data farm connection is OK:ushmds"),
                           (2158, "Sec-def data farm connection is OK:secdefnj")):
            self._error(session, -1, code, text)

    def _on_current_time(self, session: _Session, fields: list[str]) -> None:
        self._counters["current_time"] += 1
        session.send(p.CURRENT_TIME, 1, int(time.time()))

    def _on_req_ids(self, session: _Session, fields: list[str]) -> None:
        session.send(p.NEXT_VALID_ID, 1, self._next_id)

    def _on_managed_accounts(self, session: _Session, fields: list[str]) -> None:
        session.send(p.MANAGED_ACCTS, 1, ",".join(self.accounts))

    # ================================================================== contracts
    def _match_contract(self, f: list[str]) -> Instrument | None:
        """Match a client's contract block: conId, symbol, secType, ..., exchange (7),
        currency (9), localSymbol (10)."""
        con_id, symbol, sec_type, exchange, currency, local_symbol = (
            f[0], f[1], f[2], f[7], f[9], f[10])
        if con_id and con_id != "0":
            return self._by_con_id.get(int(con_id))
        symbol, sec_type = symbol.upper(), sec_type.upper()
        for inst in self.instruments:
            if symbol and symbol != inst.symbol:
                continue
            if not symbol and (not local_symbol or local_symbol != inst.local_symbol):
                continue
            if sec_type and sec_type != inst.sec_type:
                continue
            if currency and currency.upper() != inst.currency:
                continue
            if exchange and exchange.upper() not in (inst.exchange, inst.primary_exchange,
                                                     "SMART"):
                continue
            return inst
        return None

    def _contract_at(self, fields: list[str], start: int) -> Instrument | None:
        """The 12-field contract block a client writes (conId .. tradingClass)."""
        return self._match_contract(fields[start:start + 12])

    def _on_contract_details(self, session: _Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        inst = self._contract_at(fields, 3)
        if inst is None:
            self._counters["unknown_contract"] += 1
            self._error(session, req_id, 200, NO_SECURITY)
            return
        i = inst
        valid = "SMART,ARCA,NASDAQ,NYSE,BATS,IEX" if i.sec_type == "STK" else i.exchange
        session.send(
            p.CONTRACT_DATA, req_id, i.symbol, i.sec_type, "", "0", "", i.exchange, i.currency,
            i.local_symbol, i.trading_class, i.trading_class, i.con_id, p.num(i.min_tick), "",
            "ACTVTIME,LMT,MKT,STP,STPLMT,GTC,IOC,FOK,DAY", valid, 1, 0, i.long_name,
            i.primary_exchange, "", "", "", "", "US/Eastern", "", "", "", "", 0, 1, "", "",
            "26", "", "COMMON" if i.sec_type == "STK" else "", "0.0001", "0.0001", "100")
        session.send(p.CONTRACT_DATA_END, 1, req_id)

    # ================================================================== market data
    def _tick_types(self, session: _Session) -> tuple[int, int, int, int]:
        if session.md_type in (3, 4):
            return p.TT_DELAYED_BID, p.TT_DELAYED_ASK, p.TT_DELAYED_LAST, p.TT_DELAYED_VOLUME
        return p.TT_BID, p.TT_ASK, p.TT_LAST, p.TT_VOLUME

    def _on_mkt_data(self, session: _Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        inst = self._contract_at(fields, 3)
        if inst is None:
            self._counters["unknown_contract"] += 1
            self._error(session, req_id, 200, NO_SECURITY)
            return
        self._counters["mkt_data_requests"] += 1
        # A burst subscription gets its burst and nothing else (kind "burst" never streams).
        session.subs[req_id] = _Sub(inst, "burst" if self.burst_ticks else "mkt")
        if session.md_type != 1:
            session.send(p.MARKET_DATA_TYPE, 1, req_id, session.md_type)
        if self.burst_ticks:
            session.burst_tasks.append(asyncio.ensure_future(
                self._burst(session, req_id, inst, self.burst_ticks)))
            return
        self._send_quote(session, req_id, inst)

    def _send_quote(self, session: _Session, req_id: int, inst: Instrument) -> None:
        bid_t, ask_t, last_t, vol_t = self._tick_types(session)
        d = inst.decimals
        if inst.quotes:
            session.send(p.TICK_PRICE, 6, req_id, bid_t, p.num(inst.bid, d),
                         p.num(inst.bid_size or 100), 0)
            session.send(p.TICK_PRICE, 6, req_id, ask_t, p.num(inst.ask, d),
                         p.num(inst.ask_size or 100), 0)
        else:
            session.send(p.TICK_PRICE, 6, req_id, bid_t, "-1.0", "0", 0)
            session.send(p.TICK_PRICE, 6, req_id, ask_t, "-1.0", "0", 0)
        session.send(p.TICK_PRICE, 6, req_id, last_t, p.num(inst.last, d),
                     p.num(inst.last_size or 1), 0)
        session.send(p.TICK_SIZE, 6, req_id, vol_t, p.num(inst.volume))

    async def _burst(self, session: _Session, req_id: int, inst: Instrument, n: int) -> None:
        """``n`` wire ticks as fast as the client drains them; the last is volume = n."""
        tick = inst.min_tick
        d = inst.decimals
        base = inst.bid
        kinds = (p.TT_BID, p.TT_ASK, p.TT_LAST)
        chunk: list[bytes] = []
        writer = session.writer
        for i in range(n - 1):
            k = (i // 3) % 97
            kind = kinds[i % 3]
            price = base + k * tick + (2 * tick if kind == p.TT_ASK else
                                       tick if kind == p.TT_LAST else 0.0)
            chunk.append(p.encode(p.TICK_PRICE, 6, req_id, kind, p.num(price, d),
                                  100 + (i % 7), 0))
            if len(chunk) >= 512:
                if session.closed:
                    return
                writer.write(b"".join(chunk))
                chunk.clear()
                await writer.drain()
        chunk.append(p.encode(p.TICK_SIZE, 6, req_id, p.TT_VOLUME, n))
        if not session.closed:
            writer.write(b"".join(chunk))
            await writer.drain()
        self._counters["burst_ticks"] += n

    def _on_cancel_sub(self, session: _Session, fields: list[str]) -> None:
        session.subs.pop(int(fields[2]), None)

    def _on_market_data_type(self, session: _Session, fields: list[str]) -> None:
        session.md_type = int(fields[2])

    def _on_mkt_depth(self, session: _Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        inst = self._match_contract(fields[3:15])
        if inst is None:
            self._error(session, req_id, 200, NO_SECURITY)
            return
        if not inst.quotes:
            self._error(session, req_id, 10092, "Deep market data is not supported for this "
                                                "combination of security type/exchange")
            return
        rows = max(1, min(int(fields[15] or 5), 20))
        smart = fields[16] == "1"
        session.subs[req_id] = _Sub(inst, "depth", rows, smart)
        self._send_depth(session, req_id, session.subs[req_id], insert=True)

    def _send_depth(self, session: _Session, req_id: int, sub: _Sub, insert: bool) -> None:
        inst = sub.instrument
        op = 0 if insert else 1
        d = inst.decimals
        sides = [(1, inst.bid, -inst.min_tick), (0, inst.ask, inst.min_tick)]
        if inst.bid >= sub.top[1] > 0:
            sides.reverse()  # the market moved up: move the asks first so it never crosses
        sub.top = (inst.bid, inst.ask)
        for side, top, step in sides:
            for pos in range(sub.rows):
                price = p.num(inst.round(top + pos * step), d)
                size = 100 * (pos + 1) + self.rng.randrange(0, 5) * 100
                if sub.smart:
                    session.send(p.MARKET_DEPTH_L2, 1, req_id, pos, "NSDQ", op, side, price,
                                 size, 1)
                else:
                    session.send(p.MARKET_DEPTH, 1, req_id, pos, op, side, price, size)

    def _on_real_time_bars(self, session: _Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        inst = self._contract_at(fields, 3)
        if inst is None:
            self._error(session, req_id, 200, NO_SECURITY)
            return
        session.subs[req_id] = _Sub(inst, "bars")

    def _on_news_bulletins(self, session: _Session, fields: list[str]) -> None:
        session.bulletins = True

    def _on_cancel_news(self, session: _Session, fields: list[str]) -> None:
        session.bulletins = False

    def _bulletin(self, message: str, msg_type: int, exchange: str) -> None:
        msg_id = next(self._bulletin_ids)
        for session in self._live_sessions():
            if session.bulletins:
                session.send(p.NEWS_BULLETINS, 1, msg_id, msg_type, message, exchange)

    def _on_historical_data(self, session: _Session, fields: list[str]) -> None:
        req_id = int(fields[1])
        inst = self._contract_at(fields, 2)
        end, bar_size, duration, use_rth, what, fmt = fields[15:21]
        now = time.monotonic()
        self._counters["historical_requests"] += 1
        key = (session.client_id, inst.con_id if inst else None, end, bar_size, duration,
               what, use_rth)
        while self._hist_times and now - self._hist_times[0] > self.hist_window:
            self._hist_times.popleft()
        last = self._hist_last.get(key)
        self._hist_last[key] = now
        self._hist_times.append(now)
        if len(self._hist_times) > self.hist_max or (
                last is not None and now - last < self.hist_identical):
            self._counters["pacing_violations"] += 1
            self._counters["historical_pacing_violations"] += 1
            self._error(session, req_id, 162, "Historical Market Data Service error message:"
                                              "API historical data query cancelled: pacing "
                                              "violation")
            return
        if inst is None:
            self._error(session, req_id, 200, NO_SECURITY)
            return
        step = _bar_seconds(bar_size)
        span = _duration_seconds(duration)
        if step <= 0 or span <= 0:
            self._error(session, req_id, 321, f"Error validating request: bar size "
                                              f"{bar_size!r} duration {duration!r}")
            return
        count = max(1, min(int(span // step), 2000))
        rng = random.Random(inst.con_id * 7919 + count)
        end_ts = int(time.time()) // step * step
        price = inst.price
        bars: list[Any] = []
        for n in range(count):
            ts = end_ts - (count - n) * step
            o = inst.round(price)
            c = inst.round(max(o * (1 + rng.gauss(0, 0.001)), inst.min_tick))
            h = max(o, c) + inst.min_tick * rng.randrange(0, 4)
            low = max(min(o, c) - inst.min_tick * rng.randrange(0, 4), inst.min_tick)
            vol = rng.randrange(100, 10_000)
            if fmt == "2":
                date = str(ts)
            elif step >= 86400:
                date = time.strftime("%Y%m%d", time.gmtime(ts))
            else:
                date = time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime(ts))
            d = inst.decimals
            bars += [date, p.num(o, d), p.num(inst.round(h), d), p.num(inst.round(low), d),
                     p.num(c, d), vol, p.num(inst.round((o + c) / 2), d), rng.randrange(1, 50)]
            price = c
        start_text = time.strftime("%Y%m%d %H:%M:%S", time.gmtime(end_ts - count * step))
        end_text = time.strftime("%Y%m%d %H:%M:%S", time.gmtime(end_ts))
        session.send(p.HISTORICAL_DATA, req_id, start_text, end_text, count, *bars)

    # ================================================================== market simulation
    async def _market_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            if self._md_paused:
                continue
            wanted = {s.instrument.con_id for sess in self._sessions for s in sess.subs.values()}
            has_orders = {o.instrument.con_id for o in self._orders.values() if o.working}
            for inst in self.instruments:
                if inst.con_id in wanted or inst.con_id in has_orders:
                    self._step(inst)
                    self._publish_quote(inst)
                    self._match(inst)

    def _step(self, inst: Instrument) -> None:
        rng = self.rng
        mid = inst.price * math.exp(rng.gauss(0.0, 0.0004))
        spread = inst.min_tick * rng.choice((1, 2, 2, 3))
        inst.price = mid
        inst.bid = inst.round(mid - spread / 2)
        inst.ask = inst.round(inst.bid + spread)
        inst.bid_size = 100.0 * rng.randrange(1, 20)
        inst.ask_size = 100.0 * rng.randrange(1, 20)
        trade = rng.random() < 0.6 or not inst.quotes
        if trade:
            inst.last = inst.ask if rng.random() < 0.5 and inst.quotes else inst.bid
            if not inst.quotes:
                inst.last = inst.round(mid)
            inst.last_size = float(rng.randrange(1, 10) * 100)
            inst.volume += inst.last_size
            bar = inst.bar
            if bar is None:
                inst.bar = [inst.last, inst.last, inst.last, inst.last, inst.last_size,
                            inst.last * inst.last_size, 1]
            else:
                bar[1] = max(bar[1], inst.last)
                bar[2] = min(bar[2], inst.last)
                bar[3] = inst.last
                bar[4] += inst.last_size
                bar[5] += inst.last * inst.last_size
                bar[6] += 1

    def _publish_quote(self, inst: Instrument) -> None:
        d = inst.decimals
        bid, ask, last = p.num(inst.bid, d), p.num(inst.ask, d), p.num(inst.last, d)
        for session in self._sessions:
            if session.closed or not session.subs:
                continue
            bid_t, ask_t, last_t, vol_t = self._tick_types(session)
            for req_id, sub in session.subs.items():
                if sub.instrument is not inst or sub.dead:
                    continue
                if sub.kind == "mkt":
                    if inst.quotes:
                        quote = [(bid_t, bid, inst.bid_size), (ask_t, ask, inst.ask_size)]
                        if inst.bid >= inst.sent_ask:
                            quote.reverse()
                        for tick_type, price, size in quote:
                            session.send(p.TICK_PRICE, 6, req_id, tick_type, price, p.num(size), 0)
                    session.send(p.TICK_PRICE, 6, req_id, last_t, last, p.num(inst.last_size), 0)
                    session.send(p.TICK_SIZE, 6, req_id, vol_t, p.num(inst.volume))
                elif sub.kind == "depth":
                    self._send_depth(session, req_id, sub, insert=False)
        inst.sent_ask = inst.ask

    async def _bar_loop(self) -> None:
        while True:
            await asyncio.sleep(self.bar_interval)
            now = int(time.time())
            for inst in self.instruments:
                bar, inst.bar = inst.bar, None
                if bar is None:
                    bar = [inst.last, inst.last, inst.last, inst.last, 0.0, 0.0, 0]
                wap = bar[5] / bar[4] if bar[4] else bar[3]
                d = inst.decimals
                for session in self._live_sessions():
                    for req_id, sub in session.subs.items():
                        if sub.kind == "bars" and sub.instrument is inst and not sub.dead:
                            session.send(p.REAL_TIME_BARS, 3, req_id, now, p.num(bar[0], d),
                                         p.num(bar[1], d), p.num(bar[2], d), p.num(bar[3], d),
                                         p.num(bar[4]), p.num(inst.round(wap), d), int(bar[6]))

    async def _bulletin_loop(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(self.bulletin_interval)
            n += 1
            self._bulletin(f"Fake TWS bulletin #{n}: exchange notice", 1, "NYSE")

    # ================================================================== orders
    def _on_place_order(self, session: _Session, fields: list[str]) -> None:
        order_id = int(fields[1])
        inst = self._contract_at(fields, 2)
        action, qty_text, order_type, lmt, aux, tif = fields[16:22]
        account, order_ref = fields[23], fields[26]
        client_id = session.client_id or 0
        received = {"order_id": order_id, "client_id": client_id, "order_ref": order_ref,
                    "symbol": inst.symbol if inst else fields[3], "action": action,
                    "quantity": float(qty_text or 0), "order_type": order_type,
                    "limit_price": float(lmt) if lmt else None,
                    "aux_price": float(aux) if aux else None, "tif": tif, "account": account,
                    "ts": time.time()}
        with self._lock:
            self._orders_received.append(received)
            self._counters["orders_received"] += 1
        key = (client_id, order_id)
        existing = self._orders.get(key)
        if existing is not None:
            with self._lock:
                self._counters["order_id_reuse"] += 1
            if not existing.working:
                self._error(session, order_id, 103, f"Duplicate order id: {order_id}")
                return
            # TWS treats a known working order id as a modification of that order.
            existing.quantity = float(qty_text or existing.quantity)
            existing.limit_price = float(lmt) if lmt else existing.limit_price
            existing.aux_price = float(aux) if aux else existing.aux_price
            self._send_order_state(session, existing)
            self._match(existing.instrument)
            return
        self._next_id = max(self._next_id, order_id + 1)
        reason = self._validate(inst, fields[16:22])
        if reason is None and self._reject_next is not None:
            reason, self._reject_next = self._reject_next, None
        if inst is None:
            self._error(session, order_id, 200, NO_SECURITY)
            return
        if reason is not None:
            self._counters["orders_rejected"] += 1
            self._error(session, order_id, 201, f"Order rejected - reason:{reason}")
            return
        order = FakeOrder(order_id, client_id, next(self._perm_ids), inst, action,
                          float(qty_text), order_type, float(lmt) if lmt else None,
                          float(aux) if aux else None, tif or "DAY",
                          account or self.accounts[0], order_ref)
        order.status = "PreSubmitted" if order_type in ("STP", "STP LMT") else "Submitted"
        self._orders[key] = order
        self._send_order_state(session, order)
        self._match(inst, only=order)
        if order.working and tif in ("IOC", "FOK"):
            self._cancel(order, "IOC/FOK order not filled at once")

    def _validate(self, inst: Instrument | None, order_fields: list[str]) -> str | None:
        action, qty_text, order_type, lmt, aux, tif = order_fields
        if inst is None:
            return None
        if not inst.tradable:
            return f"{inst.symbol} {inst.sec_type} is not tradable"
        if action not in ("BUY", "SELL"):
            return f"invalid action {action!r}"
        try:
            qty = float(qty_text)
        except ValueError:
            return f"invalid quantity {qty_text!r}"
        if not math.isfinite(qty) or qty <= 0:
            return "The order size must be positive"
        if qty > self.max_order_quantity:
            return f"order size {qty:g} exceeds the limit {self.max_order_quantity:g}"
        if order_type not in ("MKT", "LMT", "STP", "STP LMT"):
            return f"order type {order_type!r} is not supported"
        if order_type in ("LMT", "STP LMT") and not lmt:
            return "a limit price is required"
        if order_type in ("STP", "STP LMT") and not aux:
            return "a stop price is required"
        if tif not in ("", "DAY", "GTC", "IOC", "FOK"):
            return f"time in force {tif!r} is not supported"
        return None

    def _send_order_state(self, session: _Session | None, order: FakeOrder) -> None:
        if session is None:
            return
        session.send(*_open_order_fields(order))
        self._send_status(session, order)

    @staticmethod
    def _send_status(session: _Session, order: FakeOrder) -> None:
        session.send(p.ORDER_STATUS, order.order_id, order.status, p.num(order.filled),
                     p.num(order.remaining), p.num(order.avg_price), order.perm_id, 0,
                     p.num(order.last_fill_price), order.client_id, "", 0)

    def _match(self, inst: Instrument, only: FakeOrder | None = None) -> None:
        orders = [only] if only is not None else [
            o for o in self._orders.values() if o.instrument is inst and o.working]
        for order in orders:
            if not order.working:
                continue
            buy = order.action == "BUY"
            if order.order_type in ("STP", "STP LMT") and not order.triggered:
                stop = order.aux_price or 0.0
                if (buy and inst.ask >= stop) or (not buy and inst.bid <= stop):
                    order.triggered = True
                    order.status = "Submitted"
                    self._send_status_to_owner(order)
                else:
                    continue
            touch = inst.ask if buy else inst.bid
            limit = order.limit_price if order.order_type in ("LMT", "STP LMT") else None
            if limit is not None and ((buy and touch > limit) or (not buy and touch < limit)):
                continue
            self._execute(order, min(order.remaining, self.max_fill_size), touch)

    def _execute(self, order: FakeOrder, qty: float, price: float) -> None:
        if qty <= 0:
            return
        inst = order.instrument
        order.executions += 1
        new_filled = order.filled + qty
        order.avg_price = (order.avg_price * order.filled + price * qty) / new_filled
        order.filled = new_filled
        order.last_fill_price = price
        if order.remaining <= 1e-9:
            order.status = "Filled"
            order.completed_time = time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime())
        exec_id = f"{order.perm_id:08x}.{next(self._exec_seq):08x}.01.01"
        ts = time.time()
        side = "BOT" if order.action == "BUY" else "SLD"
        signed = qty if order.action == "BUY" else -qty
        pos = self._positions.setdefault((order.account, inst.con_id), [0.0, 0.0])
        pos[1] = (pos[1] * pos[0] + price * signed) / (pos[0] + signed) \
            if pos[0] + signed else 0.0
        pos[0] += signed
        self._cash -= signed * price
        commission = max(self.min_commission, self.commission_per_share * qty)
        record = {"exec_id": exec_id, "order_id": order.order_id, "perm_id": order.perm_id,
                  "client_id": order.client_id, "order_ref": order.order_ref,
                  "symbol": inst.symbol, "con_id": inst.con_id, "side": side, "shares": qty,
                  "price": price, "cum_qty": order.filled, "avg_price": order.avg_price,
                  "account": order.account, "ts": ts, "commission": commission}
        with self._lock:
            self._executions.append(record)
            self._counters["executions"] += 1
        session = self._owner(order.client_id)
        if session is not None:
            session.send(*_exec_fields(-1, record, inst))
            self._send_status(session, order)
            session.send(*_commission_fields(record))

    def _send_status_to_owner(self, order: FakeOrder) -> None:
        session = self._owner(order.client_id)
        if session is not None:
            self._send_status(session, order)

    def _cancel(self, order: FakeOrder, reason: str = "") -> None:
        order.status = "Cancelled"
        order.completed_time = time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime())
        self._counters["orders_cancelled"] += 1
        session = self._owner(order.client_id)
        if session is not None:
            self._send_status(session, order)
            self._error(session, order.order_id, 202, f"Order Canceled - reason:{reason}")

    def _on_cancel_order(self, session: _Session, fields: list[str]) -> None:
        order_id = int(fields[2])
        order = self._orders.get((session.client_id or 0, order_id))
        if order is None:
            self._error(session, order_id, 135, f"Can't find order with id ={order_id}")
            return
        if not order.working:
            self._error(session, order_id, 10148, f"OrderId {order_id} that needs to be "
                                                  f"cancelled cannot be cancelled, state: "
                                                  f"{order.status}.")
            return
        self._cancel(order)

    def _on_global_cancel(self, session: _Session, fields: list[str]) -> None:
        for order in list(self._orders.values()):
            if order.working:
                self._cancel(order, "global cancel")

    def _on_open_orders(self, session: _Session, fields: list[str]) -> None:
        for order in self._orders.values():
            if order.working and order.client_id == session.client_id:
                self._send_order_state(session, order)
        session.send(p.OPEN_ORDER_END, 1)

    def _on_all_open_orders(self, session: _Session, fields: list[str]) -> None:
        for order in self._orders.values():
            if order.working:
                self._send_order_state(session, order)
        session.send(p.OPEN_ORDER_END, 1)

    def _on_completed_orders(self, session: _Session, fields: list[str]) -> None:
        for order in self._orders.values():
            if not order.working:
                session.send(*_completed_order_fields(order))
        session.send(p.COMPLETED_ORDERS_END)

    def _on_executions(self, session: _Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        client_id, account, since, symbol, sec_type, _exchange, side = (fields + [""] * 10)[3:10]
        since_ts = _parse_exec_time(since)
        with self._lock:
            records = list(self._executions)
        for record in records:
            if client_id and client_id != "0" and int(client_id) != record["client_id"]:
                continue
            if account and account != record["account"]:
                continue
            if since_ts is not None and record["ts"] < since_ts:
                continue
            if symbol and symbol.upper() != record["symbol"]:
                continue
            if side and side.upper()[:1] != record["side"][:1].replace("S", "S"):
                want = "BOT" if side.upper().startswith("B") else "SLD"
                if want != record["side"]:
                    continue
            inst = self._by_con_id[record["con_id"]]
            if sec_type and sec_type.upper() != inst.sec_type:
                continue
            session.send(*_exec_fields(req_id, record, inst))
            session.send(*_commission_fields(record))
        session.send(p.EXECUTION_DATA_END, 1, req_id)

    # ================================================================== account
    def _position_rows(self, account: str | None = None) -> list[tuple[str, Instrument,
                                                                       float, float]]:
        return [(acct, self._by_con_id[cid], v[0], v[1]) for (acct, cid), v in
                self._positions.items() if account in (None, "", acct)]

    def _on_positions(self, session: _Session, fields: list[str]) -> None:
        for acct, i, qty, cost in self._position_rows():
            session.send(p.POSITION_DATA, 3, acct, i.con_id, i.symbol, i.sec_type, "", "0", "",
                         "", i.exchange, i.currency, i.local_symbol, i.trading_class,
                         p.num(qty), p.num(cost))
        session.send(p.POSITION_END, 1)

    def _account_values(self) -> list[tuple[str, str, str]]:
        value = sum(q * self._by_con_id[cid].last for (_, cid), (q, _c) in self._positions.items())
        net = self._cash + value
        return [("NetLiquidation", f"{net:.2f}", "USD"), ("TotalCashValue", f"{self._cash:.2f}",
                "USD"), ("GrossPositionValue", f"{value:.2f}", "USD"),
                ("BuyingPower", f"{4 * net:.2f}", "USD"), ("AccountType", "INDIVIDUAL", "")]

    def _on_account_updates(self, session: _Session, fields: list[str]) -> None:
        subscribe, account = fields[2] == "1", fields[3] if len(fields) > 3 else ""
        session.account_updates = subscribe
        if not subscribe:
            return
        account = account or self.accounts[0]
        for tag, val, cur in self._account_values():
            session.send(p.ACCT_VALUE, 2, tag, val, cur, account)
        for _acct, i, qty, cost in self._position_rows(account):
            market_value = qty * i.last
            session.send(p.PORTFOLIO_VALUE, 8, i.con_id, i.symbol, i.sec_type, "", "0", "", "",
                         i.primary_exchange, i.currency, i.local_symbol, i.trading_class,
                         p.num(qty), p.num(i.last), p.num(market_value), p.num(cost),
                         p.num(market_value - qty * cost), "0", account)
        session.send(p.ACCT_UPDATE_TIME, 1, time.strftime("%H:%M", time.gmtime()))
        session.send(p.ACCT_DOWNLOAD_END, 1, account)

    def _on_account_updates_multi(self, session: _Session, fields: list[str]) -> None:
        req_id, account, model = int(fields[2]), fields[3], fields[4]
        for tag, val, cur in self._account_values():
            session.send(p.ACCOUNT_UPDATE_MULTI, 1, req_id, account, model, tag, val, cur)
        session.send(p.ACCOUNT_UPDATE_MULTI_END, 1, req_id)

    def _on_account_summary(self, session: _Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        for account in self.accounts:
            for tag, val, cur in self._account_values():
                session.send(p.ACCOUNT_SUMMARY, 1, req_id, account, tag, val, cur)
        session.send(p.ACCOUNT_SUMMARY_END, 1, req_id)


# ====================================================================== message builders
def _contract_11(i: Instrument) -> list[Any]:
    return [i.con_id, i.symbol, i.sec_type, "", "0", "", "", i.exchange, i.currency,
            i.local_symbol, i.trading_class]


def _open_order_fields(o: FakeOrder) -> list[Any]:
    """openOrder (5) at server version 176, field for field as the decoders read it."""
    e = ""
    return [
        p.OPEN_ORDER, o.order_id, *_contract_11(o.instrument),
        o.action, p.num(o.quantity), o.order_type, p.num(o.limit_price),
        p.num(o.aux_price), o.tif, e, o.account, "O", 0, o.order_ref, o.client_id,
        o.perm_id, 0, 0, 0, e, e,
        e, e, e, e, e, e, e, e, e, 0, e, -1, 0, e, e, e, e, e, e, 0, 0, 0, e, 0, 0, 0, e, 0,
        0, e, 0, e, e,
        0, 0, e, e, e, e, e,
        0, 0, 0,
        e, e, e,
        e,
        0, e, e, 0, 0,
        e,
        0, 0, o.status, e, e, e, e, e, e, e, e, e, e, e, e, e, e, 0, 0,
        0,
        e, e, e, e, e, e, e, 0, e, e, e, e, 0, 0, 0, 0,
        e, e, 0,
        e, e, e, e, e,
    ]


def _completed_order_fields(o: FakeOrder) -> list[Any]:
    """completedOrder (101) at server version 176."""
    e = ""
    return [
        p.COMPLETED_ORDER, *_contract_11(o.instrument),
        o.action, p.num(o.quantity), o.order_type, p.num(o.limit_price), p.num(o.aux_price),
        o.tif, e, o.account, "O", 0, o.order_ref, o.perm_id, 0, 0, 0, e,
        e, e, e, e, e, e, e, e, e, 0, e, -1, e, e, e, e, e, e, 0, 0, e, 0, 0, e, 0, e, e,
        0, 0, e, e, e,
        0, 0, 0,
        e, e, e,
        e,
        e, e, 0, 0,
        e,
        0, o.status, 0, 0,
        0,
        e, e, e, 0, 0, e, p.num(o.filled), 0, 0, e, 0, 0, e, o.completed_time, o.status,
        e, e, e, e, e,
    ]


def _exec_fields(req_id: int, r: dict[str, Any], i: Instrument) -> list[Any]:
    """execDetails (11): exactly the 31 fields ib_insync unpacks."""
    when = time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime(r["ts"]))
    return [p.EXECUTION_DATA, req_id, r["order_id"], i.con_id, i.symbol, i.sec_type, "", "0",
            "", "", i.exchange, i.currency, i.local_symbol, i.trading_class, r["exec_id"], when,
            r["account"], i.primary_exchange or i.exchange, r["side"], p.num(r["shares"]),
            p.num(r["price"]), r["perm_id"], r["client_id"], 0, p.num(r["cum_qty"]),
            p.num(r["avg_price"]), r["order_ref"], "", "", "", 1]


def _commission_fields(r: dict[str, Any]) -> list[Any]:
    return [p.COMMISSION_REPORT, 1, r["exec_id"], p.num(r["commission"]), "USD",
            p.UNSET_DOUBLE_TEXT, "", ""]


def _parse_exec_time(text: str) -> float | None:
    """reqExecutions' time filter: ``yyyymmdd hh:mm:ss`` or ``yyyymmdd-hh:mm:ss`` (UTC)."""
    text = text.strip()
    if not text:
        return None
    import calendar

    try:
        parsed = time.strptime(text[:17].replace("-", " "), "%Y%m%d %H:%M:%S")
    except ValueError:
        return None
    return float(calendar.timegm(parsed))


_UNITS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}


def _duration_seconds(text: str) -> int:
    try:
        count, unit = text.split()
        return int(count) * _UNITS[unit.upper()[0]]
    except (ValueError, KeyError):
        return 0


def _bar_seconds(text: str) -> int:
    try:
        count, unit = text.split()
        n = int(count)
    except ValueError:
        return 0
    unit = unit.lower()
    for prefix, seconds in (("sec", 1), ("min", 60), ("hour", 3600), ("day", 86400),
                            ("week", 7 * 86400), ("month", 30 * 86400)):
        if unit.startswith(prefix):
            return n * seconds
    return 0
