"""A fake TWS / IB Gateway: a loopback server speaking the real IB API wire protocol.

The unmodified ib_insync and ib_async clients connect to it. It lists stocks, forex, indices,
crypto and a future, streams seeded random-walk quotes, depth and bars, accepts MKT / LMT /
STP / STP LMT orders and fills them (market at once, limit when the simulated price crosses),
keeps positions and executions, and behaves like TWS on a bad day when asked:

- error injection per request kind, with TWS's side effects (:meth:`FakeTWS.inject_error`);
- pacing counted on arrival: more than ``max_messages_per_second`` in any second are dropped
  with error 100;
- orders off the minimum tick refused with 110 (``reject_off_tick``);
- per-farm data outages (:meth:`FakeTWS.farm_lost` / :meth:`FakeTWS.farm_restored`);
- a restart that rolls the next valid id back and may forget working orders;
- orders and fills from TWS's own window or other clients (:meth:`FakeTWS.add_external_order`);
- historical data with IB's pacing rules and 162 answers (forex TRADES, no data);
- dropped / refused / stalled / delayed connections, 1100 / 1101 / 1102.

Everything the fake receives and does is recorded (``orders_received``, ``executions``,
``errors_sent``, ``requests_received``, ``stats()``) so that tests compare the client's view
with the venue's.
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

from stockfish_ibkr.testing import messages as m
from stockfish_ibkr.testing import protocol as p
from stockfish_ibkr.testing.book import (
    DEFAULT_INSTRUMENTS,
    FakeOrder,
    Instrument,
    history_types,
)
from stockfish_ibkr.testing.errors import (
    CANCEL,
    INFORM,
    KIND_BY_MESSAGE,
    ErrorInjector,
    Injection,
    effect_of,
    error_text,
    request_id,
)
from stockfish_ibkr.testing.farms import FARM_CODES, MARKET, FarmBoard
from stockfish_ibkr.testing.history import (
    HistoricalPacing,
    bar_seconds,
    duration_seconds,
    make_bars,
    parse_end_time,
    parse_exec_time,
    what_words,
)
from stockfish_ibkr.testing.session import Session, Subscription

__all__ = ["DEFAULT_INSTRUMENTS", "FakeOrder", "FakeTWS", "Instrument"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_MAX_MESSAGE = 1 << 20
_REQUEST_LOG = 100_000  # requests_received keeps the last this many
NO_SECURITY = "No security definition has been found for the request"
# Options that configure() may change while the fake runs.
RUNTIME_OPTIONS = ("max_messages_per_second", "pacing_disconnect_after", "pacing_warning_at",
                   "reject_off_tick", "reply_delay", "max_fill_size", "max_order_quantity",
                   "open_order_on_fill")


class FakeTWS:
    """A fake TWS / IB Gateway on 127.0.0.1 (port 0 = an ephemeral port).

    ``start()`` returns the connector configuration entry; ``port`` holds the bound port.
    All fault-injection methods are thread-safe and return once the fault is in place.
    Control methods take and return JSON-able values (see ``testing.control``).
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
        pacing_disconnect_after: int = 0, pacing_warning_at: int = 0,
        reject_off_tick: bool = True, secdef_farm: str = "secdefil", client_id: int = 1,
        open_order_on_fill: bool = False,
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
        self.max_messages_per_second = max_messages_per_second  # 0 = no limit
        self.pacing_disconnect_after = pacing_disconnect_after  # close after N 100s; 0 = never
        self.pacing_warning_at = pacing_warning_at  # code 0 "Approaching max rate"; 0 = never
        self.reject_off_tick = reject_off_tick
        # Send openOrder between a fill's execDetails and its orderStatus (TWS re-sends
        # openOrder when an order changes):
        # ib_insync then reports the order with the status it had before the fill.
        self.open_order_on_fill = open_order_on_fill
        self.default_client_id = client_id
        self.reply_delay = 0.0
        self.stalled = False
        self.rng = random.Random(seed)
        source = instruments if instruments is not None else DEFAULT_INSTRUMENTS
        self.instruments: list[Instrument] = [attrs.evolve(i) for i in source]
        self._by_con_id = {i.con_id: i for i in self.instruments}
        self._farms = FarmBoard({i.md_farm for i in self.instruments},
                                {i.hmds_farm for i in self.instruments}, {secdef_farm})
        self._secdef_farm = secdef_farm
        self._hist = HistoricalPacing(historical_max_requests, historical_window,
                                      historical_identical_interval)
        self._next_id = next_valid_id
        self._perm_ids = itertools.count(self.rng.randrange(1_000_000, 2_000_000_000))
        self._manual_ids = itertools.count(-1, -1)
        self._exec_seq = itertools.count(1)
        self._bulletin_ids = itertools.count(1)
        self._orders: dict[tuple[int, int], FakeOrder] = {}
        self._positions: dict[tuple[str, int], list[float]] = {}  # (account, conId) -> qty, cost
        self._cash = 1_000_000.0
        self._sessions: set[Session] = set()
        self._md_paused = False
        self._deferred: list[tuple[str, Session, list[str]]] = []  # (farm, session, request)
        self._reject_next: str | None = None
        self._cancel_on_accept: str | None = None
        self._injector = ErrorInjector()
        self._lock = threading.Lock()
        self._clients_changed = threading.Condition()
        self._orders_received: list[dict[str, Any]] = []
        self._executions: list[dict[str, Any]] = []
        self._errors_sent: list[dict[str, Any]] = []
        self._forgotten: list[dict[str, Any]] = []
        self._requests: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=_REQUEST_LOG)
        self._counters: collections.Counter[str] = collections.Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: dict[int, Callable[[Session, list[str]], None]] = {
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
            p.IN_REQ_AUTO_OPEN_ORDERS: self._on_auto_open_orders,
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

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name`` in :meth:`stats`."""
        with self._lock:
            self._counters[name] += n

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change run-time options (``RUNTIME_OPTIONS``); returns their values now."""
        for name, value in options.items():
            if name not in RUNTIME_OPTIONS:
                raise ValueError(f"unknown option {name!r}; one of {', '.join(RUNTIME_OPTIONS)}")
            current = getattr(self, name)
            if isinstance(current, bool) != isinstance(value, bool) or not isinstance(
                    value, (int, float)):
                raise ValueError(f"{name}: expected {type(current).__name__}, got {value!r}")
            setattr(self, name, type(current)(value))
        return {name: getattr(self, name) for name in RUNTIME_OPTIONS}

    # ================================================================== records
    @property
    def orders_received(self) -> list[dict[str, Any]]:
        """Every placeOrder the fake received (modifications and refused ones included), in
        order, each with its ``outcome``: accepted, modified, rejected <code>, dropped 100,
        cancelled 202."""
        with self._lock:
            return [dict(r) for r in self._orders_received]

    @property
    def executions(self) -> list[dict[str, Any]]:
        """Every execution the fake made, in order."""
        with self._lock:
            return [dict(r) for r in self._executions]

    @property
    def errors_sent(self) -> list[dict[str, Any]]:
        """Every error / notice message sent: client_id, id, code, message, ts."""
        with self._lock:
            return [dict(r) for r in self._errors_sent]

    @property
    def requests_received(self) -> list[dict[str, Any]]:
        """The last 100,000 requests: client_id, request (EClient method), id, outcome, ts."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def orders(self) -> list[dict[str, Any]]:
        """The current state of every order the fake holds."""
        return self._call(lambda: [o.to_dict() for o in self._orders.values()])

    def forgotten_orders(self) -> list[dict[str, Any]]:
        """Working orders a ``restart(forget=True)`` dropped, as they were then."""
        with self._lock:
            return [dict(r) for r in self._forgotten]

    def positions(self) -> list[dict[str, Any]]:
        """account, symbol, position, avg_cost of every position."""
        return self._call(lambda: [
            {"account": acct, "symbol": self._by_con_id[cid].symbol, "position": v[0],
             "avg_cost": v[1]} for (acct, cid), v in self._positions.items()])

    def stats(self) -> dict[str, int]:
        """Counters: connections, messages, error_<code> sent, pacing, id reuse, peaks, ..."""
        with self._lock:
            return dict(self._counters)

    def pacing(self) -> dict[str, int]:
        """Message pacing as TWS counted it on arrival: the limit, the 100s sent for it, the
        peak count of messages from one client in any second and in any 100 ms."""
        with self._lock:
            c = self._counters
            return {"max_messages_per_second": self.max_messages_per_second,
                    "refused": c["message_pacing_violations"], "errors_100": c["error_100"],
                    "peak_per_second": c["peak_messages_per_second"],
                    "peak_per_100ms": c["peak_messages_per_100ms"],
                    "disconnects": c["pacing_disconnects"]}

    def subscription_count(self, kind: str = "mkt") -> int:
        """Live subscriptions of ``kind`` (mkt, depth, bars, bulletins) over all clients."""
        sessions = self._live_sessions()
        if kind == "bulletins":
            return sum(1 for s in sessions if s.bulletins)
        return sum(1 for s in sessions for sub in list(s.subs.values())
                   if sub.kind == kind and not sub.dead)

    @property
    def connected_clients(self) -> int:
        return sum(1 for s in list(self._sessions) if s.live)

    def wait_connected_clients(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until exactly ``count`` clients are connected (False after ``timeout``):
        e.g. until TWS has noticed that a killed client is gone."""
        with self._clients_changed:
            return self._clients_changed.wait_for(lambda: self.connected_clients == count,
                                                  timeout)

    def _clients_changed_now(self) -> None:
        with self._clients_changed:
            self._clients_changed.notify_all()

    @property
    def next_valid_id(self) -> int:
        """The id nextValidId hands out now."""
        return self._next_id

    def instrument(self, symbol: str) -> Instrument:
        for inst in self.instruments:
            if symbol in (inst.symbol, inst.local_symbol):
                return inst
        raise KeyError(symbol)

    def farms(self) -> dict[str, dict[str, Any]]:
        """Every farm: its kind (market, hmds, secdef), whether it is up or inactive."""
        return self._call(self._farms.snapshot)

    # ================================================================== fault injection
    def inject_error(self, request: str, code: int, count: int = 1, *,
                     message: str | None = None, variant: str | None = None,
                     reason: str = "") -> dict[str, Any]:
        """Answer the next ``count`` requests of kind ``request`` (the EClient method name:
        placeOrder, cancelOrder, reqMktData, reqHistoricalData, ...) with error ``code``, its
        real text (or ``message``) and TWS's side effect: 100 drops the request, order and
        request errors refuse it (a modification leaves the order as it was), 202 accepts the
        order and cancels it, 21xx notices are sent and the request still served. ``variant``
        picks 162's text (pacing, no_data, no_permissions, not_available); ``reason`` fills
        201 / 202 / 321. Raises ValueError for a code TWS never sends for that request."""
        return self._injector.arm(request, code, count, message=message, variant=variant,
                                  reason=reason).to_dict()

    def pending_errors(self) -> list[dict[str, Any]]:
        """Injected errors not used yet."""
        return self._injector.pending()

    def clear_errors(self) -> None:
        """Disarm every injected error."""
        self._injector.clear()

    def drop_connections(self) -> None:
        """Cut every client connection now (the clients see a peer close)."""
        self._call(self._drop_all)

    def _drop_all(self) -> None:
        for session in list(self._sessions):
            self.count("dropped")
            with contextlib.suppress(Exception):
                session.writer.transport.abort()
            session.close()
            self._sessions.discard(session)
        self._clients_changed_now()

    def refuse_connections(self, seconds: float) -> None:
        """Stop listening for ``seconds`` (connects are refused), then listen again."""
        self._run(self._refuse(seconds))

    async def _refuse(self, seconds: float) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

        async def reopen() -> None:
            await asyncio.sleep(seconds)
            if self._server is None:
                await self._listen()

        self._tasks.append(asyncio.ensure_future(reopen()))

    def restart(self, next_valid_id: int, downtime: float = 0.0,
                forget: bool = False) -> list[dict[str, Any]]:
        """Simulate the nightly restart: drop everyone, refuse for ``downtime`` seconds, and
        hand out ``next_valid_id`` (possibly lower than ids already used) next, to this and
        any later client process. With ``forget`` TWS comes back without the working orders
        it had acknowledged (they never fill or show again); returns those orders."""

        async def go() -> list[dict[str, Any]]:
            self._drop_all()
            self._next_id = next_valid_id
            lost: list[dict[str, Any]] = []
            if forget:
                for key, order in list(self._orders.items()):
                    if order.working:
                        del self._orders[key]
                        lost.append(order.to_dict())
                with self._lock:
                    self._forgotten.extend(lost)
                    self._counters["orders_forgotten"] += len(lost)
            self.count("restarts")
            if downtime > 0:
                await self._refuse(downtime)
            return lost

        return self._run(go())  # type: ignore[no-any-return]

    def set_reply_delay(self, seconds: float) -> None:
        """Delay every message the fake sends by ``seconds`` (0 = none)."""
        self.reply_delay = max(0.0, seconds)

    def stall(self, stalled: bool = True) -> None:
        """Stop (or resume) sending anything while keeping every socket open."""
        self.stalled = stalled

    def send_error(self, code: int, message: str = "", req_id: int = -1) -> None:
        """Send error ``code`` (its known text unless ``message``) to every client."""
        if not message:
            try:
                message = error_text(code)
            except KeyError:
                message = f"error {code}"
        self._call(self._broadcast_error, req_id, code, message)

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

    def farm_lost(self, farm: str | None = None) -> list[str]:
        """A farm's connection breaks (every farm when None): 2103 market data, 2105 HMDS,
        2157 sec-def, naming the farm. Streams of instruments on a lost market-data farm stop
        (orders still trade); historical / contract requests wait for their farm. Returns the
        farms that went down."""
        def go() -> list[str]:
            lost = []
            for name in self._farms.select(farm):
                if name in self._farms.down:
                    continue
                self._farms.down.add(name)
                self._farms.inactive.discard(name)
                lost.append(name)
                self.count("farm_outages")
                self._broadcast_farm(name)
            return lost
        return self._call(go)

    def farm_restored(self, farm: str | None = None, resume_streams: bool = True) -> list[str]:
        """The farm (every lost farm when None) is back: 2104 / 2106 / 2158. With
        ``resume_streams=False`` the streams it served stay silent until requested again (the
        feed that stays dead for hours). Requests that waited for it are answered now."""
        def go() -> list[str]:
            back = []
            for name in self._farms.select(farm):
                if name not in self._farms.down:
                    continue
                self._farms.down.discard(name)
                back.append(name)
                if not resume_streams and self._farms.kind(name) == MARKET:
                    for session in self._live_sessions():
                        for sub in session.subs.values():
                            if sub.instrument.md_farm == name:
                                sub.dead = True
                self._broadcast_farm(name)
                self._replay_deferred(name)
            return back
        return self._call(go)

    def kill_streams(self, symbol: str) -> int:
        """``symbol``'s market data streams go silent with no notice at all (a feed TWS
        keeps subscribed and never serves again until it is requested anew); returns how
        many streams died."""
        def go() -> int:
            inst = self.instrument(symbol)
            dead = 0
            for session in self._live_sessions():
                for sub in session.subs.values():
                    if sub.instrument is inst and sub.kind in ("mkt", "depth") \
                            and not sub.dead:
                        sub.dead = True
                        dead += 1
            self.count("streams_killed", dead)
            return dead
        return self._call(go)

    def farm_inactive(self, farm: str) -> None:
        """2108 / 2107: the farm is idle but comes up on demand (data still flows)."""
        def go() -> None:
            if FARM_CODES[self._farms.kind(farm)][2] is None:
                raise ValueError(f"{farm} is a sec-def farm: TWS sends no 'inactive' for it")
            self._farms.inactive.add(farm)
            self._broadcast_farm(farm)
        self._call(go)

    def _broadcast_farm(self, farm: str) -> None:
        code = self._farms.status_code(farm)
        self._broadcast_error(-1, code, error_text(code, {"farm": farm}))

    def _replay_deferred(self, farm: str) -> None:
        waiting, self._deferred = self._deferred, []
        for waited_for, session, fields in waiting:
            if waited_for != farm:
                self._deferred.append((waited_for, session, fields))
            elif session.live:
                self.count("deferred_answered")
                with contextlib.suppress(IndexError, ValueError):
                    self._handlers[int(fields[0])](session, fields)

    def _defer_if_down(self, farm: str, session: Session, fields: list[str]) -> bool:
        if farm not in self._farms.down:
            return False
        self.count("deferred_requests")
        self._deferred.append((farm, session, fields))
        return True

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
                self._execute(order, order.remaining, self._fill_price(order))
                done += 1
            return done
        return self._call(go)

    def fill_order(self, perm_id: int, quantity: float | None = None,
                   price: float | None = None) -> dict[str, Any]:
        """Fill ``quantity`` (default: the rest) of the working order ``perm_id`` at ``price``
        (default: its limit or the touch); returns the execution."""
        def go() -> dict[str, Any]:
            order = self._by_perm_id(perm_id)
            if not order.working:
                raise ValueError(f"order {perm_id} is {order.status}, not working")
            qty = order.remaining if quantity is None else min(float(quantity), order.remaining)
            if qty <= 0:
                raise ValueError(f"nothing to fill: quantity {quantity!r}")
            record = self._execute(order, qty, self._fill_price(order) if price is None
                                   else float(price))
            assert record is not None
            return record
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

    def cancel_order_by_tws(self, perm_id: int, reason: str = "") -> dict[str, Any]:
        """TWS cancels one working order itself (202 to its owner); returns the order."""
        def go() -> dict[str, Any]:
            order = self._by_perm_id(perm_id)
            if not order.working:
                raise ValueError(f"order {perm_id} is {order.status}, not working")
            self._cancel(order, reason)
            return order.to_dict()
        return self._call(go)

    def add_external_order(self, symbol: str, action: str, quantity: float, *,
                           order_type: str = "LMT", limit_price: float | None = None,
                           aux_price: float | None = None, client_id: int = 0,
                           order_id: int | None = None, order_ref: str = "",
                           tif: str = "DAY", account: str | None = None,
                           fill: float = 0.0) -> dict[str, Any]:
        """An order placed by hand in TWS (``client_id`` 0) or by another API client, with a
        permId, as TWS then holds it: reported to its owner now (client 0 only if it bound
        TWS's orders), in open orders (reqOpenOrders of its client, reqAllOpenOrders), then
        completed orders and executions. ``fill`` fills that much at once. Returns the order
        (a manual order's ``order_id`` is 0 until client 0 binds it)."""
        def go() -> dict[str, Any]:
            inst = self.instrument(symbol)
            if action not in ("BUY", "SELL") or not quantity > 0:
                raise ValueError(f"bad order: {action} {quantity}")
            manual = client_id == 0
            if manual:
                oid = next(self._manual_ids)
            else:
                oid = order_id if order_id is not None else self._next_id
                if (client_id, oid) in self._orders:
                    raise ValueError(f"client {client_id} already has order id {oid}")
                self._next_id = max(self._next_id, oid + 1)
            order = FakeOrder(oid, client_id, next(self._perm_ids), inst, action,
                              float(quantity), order_type, limit_price, aux_price, tif,
                              account or self.accounts[0], order_ref, status="Submitted",
                              manual=manual)
            owner = self._owner(0) if manual else self._owner(client_id)
            if manual and owner is not None and owner.auto_bind:
                order.bound = True
            self._orders[(client_id, oid)] = order
            self.count("external_orders")
            self._send_order_state(self._order_session(order), order)
            if fill > 0:
                self._execute(order, min(float(fill), order.remaining), self._fill_price(order))
            return order.to_dict()
        return self._call(go)

    def _by_perm_id(self, perm_id: int) -> FakeOrder:
        for order in self._orders.values():
            if order.perm_id == perm_id:
                return order
        raise KeyError(f"no order with permId {perm_id}")

    @staticmethod
    def _fill_price(order: FakeOrder) -> float:
        inst = order.instrument
        return order.limit_price or (inst.ask if order.action == "BUY" else inst.bid)

    def publish_bulletin(self, message: str, msg_type: int = 1, exchange: str = "") -> None:
        """Send a news bulletin to every client subscribed to bulletins."""
        self._call(self._bulletin, message, msg_type, exchange)

    def send_garbage(self, then_quote: bool = False) -> None:
        """Send malformed market data: an undecodable tick and out-of-range prices. With
        ``then_quote`` a good quote follows in the same write, so that the client reads
        both in one packet (the bad prices are overwritten before it looks)."""
        def go() -> None:
            for session in self._live_sessions():
                for req_id, sub in list(session.subs.items()):
                    if sub.kind != "mkt":
                        continue
                    inst = sub.instrument
                    messages = [
                        (p.TICK_PRICE, 6, req_id, p.TT_BID, "abc", "x", 0),
                        (p.TICK_PRICE, 6, req_id, p.TT_BID, -99.0, 5, 0),
                        (p.TICK_PRICE, 6, req_id, p.TT_ASK, -98.0, 5, 0),
                        (p.TICK_PRICE, 6, req_id, p.TT_LAST, "nan", 5, 0),
                    ]
                    if then_quote:
                        d = inst.decimals
                        messages += [
                            (p.TICK_PRICE, 6, req_id, p.TT_BID, p.num(inst.bid, d), 100, 0),
                            (p.TICK_PRICE, 6, req_id, p.TT_ASK, p.num(inst.ask, d), 100, 0),
                            (p.TICK_PRICE, 6, req_id, p.TT_LAST, p.num(inst.last, d), 100, 0),
                        ]
                    session.write(b"".join(p.encode(*fields) for fields in messages))
        self._call(go)

    # ================================================================== connections
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self.count("connections")
        self._sessions.add(session)
        try:
            if await reader.readexactly(4) != b"API\0":
                self.count("bad_greeting")
                return
            size = struct.unpack(">I", await reader.readexactly(4))[0]
            low, high = p.parse_version_range((await reader.readexactly(size)).decode())
            if not low <= self.server_version <= high:
                self.count("version_mismatch")
                return
            session.send(self.server_version, time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime()))
            while not session.closed:
                size = struct.unpack(">I", await reader.readexactly(4))[0]
                if size > _MAX_MESSAGE:
                    self.count("oversized")
                    return
                fields = p.split_fields(await reader.readexactly(size))
                self._dispatch(session, fields)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, OSError):
            pass
        finally:
            session.close()
            self._sessions.discard(session)
            self._clients_changed_now()

    def _live_sessions(self) -> list[Session]:
        return [s for s in self._sessions if s.live]

    def _owner(self, client_id: int) -> Session | None:
        for session in self._sessions:
            if session.client_id == client_id and session.live:
                return session
        return None

    def _order_session(self, order: FakeOrder) -> Session | None:
        """Where TWS reports ``order``'s changes: its client (client 0 for a manual order
        only once bound)."""
        if order.manual and not order.bound:
            return None
        return self._owner(order.client_id)

    def _dispatch(self, session: Session, fields: list[str]) -> None:
        try:
            msg_id = int(fields[0])
        except (IndexError, ValueError):
            self.count("malformed")
            return
        kind = KIND_BY_MESSAGE.get(msg_id, f"message {msg_id}")
        arrivals = session.arrivals
        rec = arrivals.arrive(time.monotonic())
        with self._lock:
            counters = self._counters
            counters["messages"] += 1
            counters["peak_messages_per_second"] = max(counters["peak_messages_per_second"],
                                                       arrivals.peak_per_second)
            counters["peak_messages_per_100ms"] = max(counters["peak_messages_per_100ms"],
                                                      arrivals.peak_per_100ms)
        limit = self.max_messages_per_second
        if limit and rec > limit:
            self._refuse_paced(session, msg_id, kind, fields, rec)
            return
        if self.pacing_warning_at and rec == self.pacing_warning_at:
            self._error(session, -1, 0, f"Warning: Approaching max rate of {limit} messages per "
                                        f"second ({rec})")
        handler = self._handlers.get(msg_id)
        if handler is None:
            self.count("unhandled")
            self._log_request(session, kind, fields, "unhandled")
            return
        if self._injector.armed:
            injection = self._injector.take(kind)
            if injection is not None and self._inject(session, kind, msg_id, fields, injection):
                return
        try:
            handler(session, fields)
        except (IndexError, ValueError) as exc:
            self.count("malformed")
            self._log_request(session, kind, fields, "malformed")
            self._error(session, -1, 320, f"Error reading request: {exc}")
            return
        self._log_request(session, kind, fields, "handled")

    def _log_request(self, session: Session, kind: str, fields: list[str], outcome: str) -> None:
        record = {"ts": time.time(), "client_id": session.client_id, "request": kind,
                  "id": request_id(int(fields[0]), fields), "outcome": outcome}
        with self._lock:
            self._requests.append(record)

    def _refuse_paced(self, session: Session, msg_id: int, kind: str, fields: list[str],
                      rec: int) -> None:
        """Over the message limit: TWS drops the request and answers 100 with its id."""
        req_id = request_id(msg_id, fields)
        session.arrivals.refused += 1
        with self._lock:
            self._counters["pacing_violations"] += 1
            self._counters["message_pacing_violations"] += 1
        if msg_id == p.IN_PLACE_ORDER:
            self._log_order(session, fields, "dropped 100")
        self._log_request(session, kind, fields, "dropped 100")
        self._error(session, req_id, 100, error_text(
            100, {"max": self.max_messages_per_second, "rec": rec, "id": req_id}))
        if self.pacing_disconnect_after and \
                session.arrivals.refused >= self.pacing_disconnect_after:
            self.count("pacing_disconnects")
            session.close()  # what is buffered (the 100s) is still flushed

    def _inject(self, session: Session, kind: str, msg_id: int, fields: list[str],
                injection: Injection) -> bool:
        """Answer one request with an injected error; True when the request is consumed."""
        code = injection.code
        req_id = request_id(msg_id, fields)
        effect = effect_of(code)
        self.count("errors_injected")
        text = injection.message or error_text(
            code, self._error_context(session, msg_id, fields, req_id, injection),
            injection.variant)
        if effect == INFORM:
            self._error(session, -1, code, text)
            return False
        if effect == CANCEL:
            self._cancel_on_accept = injection.reason
            try:
                self._on_place_order(session, fields)
            except (IndexError, ValueError):
                self.count("malformed")
            finally:
                self._cancel_on_accept = None
            self._log_request(session, kind, fields, f"injected {code}")
            return True
        verb = "dropped" if code == 100 else "rejected"
        if msg_id == p.IN_PLACE_ORDER:
            self._log_order(session, fields, f"{verb} {code}")
            if code != 100:
                self.count("orders_rejected")
        self._log_request(session, kind, fields, f"{verb} {code}")
        self._error(session, req_id, code, text)
        return True

    def _error_context(self, session: Session, msg_id: int, fields: list[str], req_id: int,
                       injection: Injection) -> dict[str, Any]:
        """What the text of an injected error names: ids, the order's state, the contract."""
        context: dict[str, Any] = {"id": req_id, "reason": injection.reason,
                                   "max": self.max_messages_per_second,
                                   "rec": session.arrivals.in_last_second}
        order = self._orders.get((session.client_id or 0, req_id))
        if order is not None:
            context.update(perm_id=order.perm_id, state=order.status)
        inst = None
        with contextlib.suppress(IndexError, ValueError):
            if msg_id in (p.IN_PLACE_ORDER, p.IN_REQ_HISTORICAL_DATA):
                inst = self._contract_at(fields, 2)
            elif msg_id in (p.IN_REQ_MKT_DATA, p.IN_REQ_MKT_DEPTH, p.IN_REQ_REAL_TIME_BARS,
                            p.IN_REQ_CONTRACT_DETAILS):
                inst = self._contract_at(fields, 3)
        if inst is not None:
            context.update(symbol=inst.symbol, sec_type=inst.sec_type,
                           local_symbol=inst.local_symbol, exchange=inst.exchange,
                           hmds_exchange="FXSUBPIP" if inst.sec_type == "CASH" else inst.exchange,
                           farm=inst.md_farm)
        if msg_id == p.IN_REQ_HISTORICAL_DATA and len(fields) > 19:
            context.update(self._history_words(fields[19], fields[16]))
            if inst is not None:
                context["farm"] = inst.hmds_farm
        return context

    @staticmethod
    def _history_words(what: str, bar_size: str) -> dict[str, Any]:
        word, short = what_words(what)
        return {"what_word": word, "what_short": short, "bar_seconds": bar_seconds(bar_size)}

    def _error(self, session: Session, req_id: int, code: int, message: str) -> None:
        record = {"ts": time.time(), "client_id": session.client_id, "id": req_id,
                  "code": code, "message": message}
        with self._lock:
            self._errors_sent.append(record)
            self._counters[f"error_{code}"] += 1
        session.send(p.ERR_MSG, 2, req_id, code, message, "")

    def _ignore(self, session: Session, fields: list[str]) -> None:
        return None

    def _on_start_api(self, session: Session, fields: list[str]) -> None:
        client_id = int(fields[2])
        if self._owner(client_id) is not None:
            self.count("client_id_in_use")
            self._error(session, -1, 326, "Unable to connect as the client id is already in "
                                          "use. Retry with a unique client id.")
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, session.close)
            return
        session.client_id = client_id
        session.api_started = True
        self._clients_changed_now()
        self.count("api_starts")
        session.send(p.MANAGED_ACCTS, 1, ",".join(self.accounts))
        session.send(p.NEXT_VALID_ID, 1, self._next_id)
        for farm in self._farms.select(None):
            code = self._farms.status_code(farm)
            self._error(session, -1, code, error_text(code, {"farm": farm}))

    def _on_current_time(self, session: Session, fields: list[str]) -> None:
        self.count("current_time")
        session.send(p.CURRENT_TIME, 1, int(time.time()))

    def _on_req_ids(self, session: Session, fields: list[str]) -> None:
        session.send(p.NEXT_VALID_ID, 1, self._next_id)

    def _on_managed_accounts(self, session: Session, fields: list[str]) -> None:
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

    def _on_contract_details(self, session: Session, fields: list[str]) -> None:
        if self._defer_if_down(self._secdef_farm, session, fields):
            return
        req_id = int(fields[2])
        inst = self._contract_at(fields, 3)
        if inst is None:
            self.count("unknown_contract")
            self._error(session, req_id, 200, NO_SECURITY)
            return
        session.send(*m.contract_details_fields(req_id, inst))
        session.send(p.CONTRACT_DATA_END, 1, req_id)

    # ================================================================== market data
    def _tick_types(self, session: Session) -> tuple[int, int, int, int]:
        if session.md_type in (3, 4):
            return p.TT_DELAYED_BID, p.TT_DELAYED_ASK, p.TT_DELAYED_LAST, p.TT_DELAYED_VOLUME
        return p.TT_BID, p.TT_ASK, p.TT_LAST, p.TT_VOLUME

    def _streaming(self, inst: Instrument) -> bool:
        return not self._md_paused and inst.md_farm not in self._farms.down

    def _on_mkt_data(self, session: Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        inst = self._contract_at(fields, 3)
        if inst is None:
            self.count("unknown_contract")
            self._error(session, req_id, 200, NO_SECURITY)
            return
        self.count("mkt_data_requests")
        # A burst subscription gets its burst and nothing else (kind "burst" never streams).
        session.subs[req_id] = Subscription(inst, "burst" if self.burst_ticks else "mkt")
        if session.md_type != 1:
            session.send(p.MARKET_DATA_TYPE, 1, req_id, session.md_type)
        if self.burst_ticks:
            session.burst_tasks.append(asyncio.ensure_future(
                self._burst(session, req_id, inst, self.burst_ticks)))
            return
        if self._streaming(inst):
            self._send_quote(session, req_id, inst)

    def _send_quote(self, session: Session, req_id: int, inst: Instrument) -> None:
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

    async def _burst(self, session: Session, req_id: int, inst: Instrument, n: int) -> None:
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
        self.count("burst_ticks", n)

    def _on_cancel_sub(self, session: Session, fields: list[str]) -> None:
        session.subs.pop(int(fields[2]), None)

    def _on_market_data_type(self, session: Session, fields: list[str]) -> None:
        session.md_type = int(fields[2])

    def _on_mkt_depth(self, session: Session, fields: list[str]) -> None:
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
        session.subs[req_id] = Subscription(inst, "depth", rows, smart)
        if self._streaming(inst):
            self._send_depth(session, req_id, session.subs[req_id], insert=True)

    def _send_depth(self, session: Session, req_id: int, sub: Subscription,
                    insert: bool) -> None:
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

    def _on_real_time_bars(self, session: Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        inst = self._contract_at(fields, 3)
        if inst is None:
            self._error(session, req_id, 200, NO_SECURITY)
            return
        session.subs[req_id] = Subscription(inst, "bars")

    def _on_news_bulletins(self, session: Session, fields: list[str]) -> None:
        session.bulletins = True

    def _on_cancel_news(self, session: Session, fields: list[str]) -> None:
        session.bulletins = False

    def _bulletin(self, message: str, msg_type: int, exchange: str) -> None:
        msg_id = next(self._bulletin_ids)
        for session in self._live_sessions():
            if session.bulletins:
                session.send(p.NEWS_BULLETINS, 1, msg_id, msg_type, message, exchange)

    def _on_historical_data(self, session: Session, fields: list[str]) -> None:
        req_id = int(fields[1])
        inst = self._contract_at(fields, 2)
        if inst is not None and self._defer_if_down(inst.hmds_farm, session, fields):
            return
        end, bar_size, duration, use_rth, what, fmt = fields[15:21]
        self.count("historical_requests")
        con_id = inst.con_id if inst else None
        identical = (session.client_id, con_id, end, bar_size, duration, what, use_rth)
        if self._hist.violates(identical, (con_id, what), 2 if what == "BID_ASK" else 1,
                               time.monotonic()):
            with self._lock:
                self._counters["pacing_violations"] += 1
                self._counters["historical_pacing_violations"] += 1
            self._error(session, req_id, 162, error_text(162, variant="pacing"))
            return
        if inst is None:
            self._error(session, req_id, 200, NO_SECURITY)
            return
        step, span = bar_seconds(bar_size), duration_seconds(duration)
        if step <= 0 or span <= 0:
            self._error(session, req_id, 321, error_text(
                321, {"tag": "bS", "reason": f"Invalid bar size {bar_size!r} or duration "
                                             f"{duration!r}"}))
            return
        context = {"symbol": inst.symbol, "sec_type": inst.sec_type,
                   "local_symbol": inst.local_symbol, "exchange": inst.exchange,
                   "hmds_exchange": "FXSUBPIP" if inst.sec_type == "CASH" else inst.exchange,
                   **self._history_words(what, bar_size)}
        if what.upper() not in history_types(inst):
            self.count("historical_not_available")
            self._error(session, req_id, 162, error_text(162, context, "not_available"))
            return
        start_text, end_text, count, bars = make_bars(
            inst, step, span, parse_end_time(end, time.time()), fmt)
        if count == 0:
            self.count("historical_no_data")
            self._error(session, req_id, 162, error_text(162, context, "no_data"))
            return
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
        if not self._streaming(inst):
            return
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
                if not self._streaming(inst):
                    continue
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
    def _parse_order(self, session: Session, fields: list[str]) -> dict[str, Any]:
        inst = self._contract_at(fields, 2)
        action, qty_text, order_type, lmt, aux, tif = fields[16:22]
        return {"order_id": int(fields[1]), "client_id": session.client_id or 0,
                "order_ref": fields[26], "symbol": inst.symbol if inst else fields[3],
                "action": action, "quantity": float(qty_text or 0), "order_type": order_type,
                "limit_price": float(lmt) if lmt else None,
                "aux_price": float(aux) if aux else None, "tif": tif, "account": fields[23],
                "ts": time.time()}

    def _log_order(self, session: Session, fields: list[str] | dict[str, Any],
                   outcome: str) -> None:
        if isinstance(fields, dict):
            received = fields
        else:
            try:
                received = self._parse_order(session, fields)
            except (IndexError, ValueError):
                received = {"order_id": request_id(p.IN_PLACE_ORDER, fields),
                            "client_id": session.client_id or 0, "malformed": True,
                            "ts": time.time()}
        received["outcome"] = outcome
        with self._lock:
            self._orders_received.append(received)
            self._counters["orders_received"] += 1

    def _on_place_order(self, session: Session, fields: list[str]) -> None:
        received = self._parse_order(session, fields)
        order_id, client_id = received["order_id"], received["client_id"]
        inst = self._contract_at(fields, 2)
        action, qty_text, order_type, lmt, aux, tif = fields[16:22]
        existing = self._orders.get((client_id, order_id))
        if existing is not None:
            self.count("order_id_reuse")
            if not existing.working:
                code = 104 if existing.status == "Filled" else 103
                self._log_order(session, received, f"rejected {code}")
                self._error(session, order_id, code, error_text(code))
                return
            # TWS treats a known working order id as a modification of that order.
            if self._off_tick(existing.instrument, lmt, aux):
                self._log_order(session, received, "rejected 110")
                self._error(session, order_id, 110, error_text(110))
                return
            existing.quantity = float(qty_text or existing.quantity)
            existing.limit_price = float(lmt) if lmt else existing.limit_price
            existing.aux_price = float(aux) if aux else existing.aux_price
            self._log_order(session, received, "modified")
            self._send_order_state(session, existing)
            self._match(existing.instrument)
            return
        self._next_id = max(self._next_id, order_id + 1)
        if inst is None:
            self._log_order(session, received, "rejected 200")
            self._error(session, order_id, 200, NO_SECURITY)
            return
        reason = self._validate(inst, fields[16:22])
        if reason is None and self._off_tick(inst, lmt, aux):
            self.count("orders_rejected")
            self._log_order(session, received, "rejected 110")
            self._error(session, order_id, 110, error_text(110))
            return
        if reason is None and self._reject_next is not None:
            reason, self._reject_next = self._reject_next, None
        if reason is not None:
            self.count("orders_rejected")
            self._log_order(session, received, "rejected 201")
            self._error(session, order_id, 201, error_text(201, {"reason": reason}))
            return
        order = FakeOrder(order_id, client_id, next(self._perm_ids), inst, action,
                          float(qty_text), order_type, float(lmt) if lmt else None,
                          float(aux) if aux else None, tif or "DAY",
                          received["account"] or self.accounts[0], received["order_ref"])
        order.status = "PreSubmitted" if order_type in ("STP", "STP LMT") else "Submitted"
        self._orders[(client_id, order_id)] = order
        # Recorded before the client hears of it: a test that saw the order acknowledged
        # finds it in orders_received.
        if self._cancel_on_accept is not None:
            self._log_order(session, received, "cancelled 202")
            self._send_order_state(session, order)
            self._cancel(order, self._cancel_on_accept)
            return
        self._log_order(session, received, "accepted")
        self._send_order_state(session, order)
        self._match(inst, only=order)
        if order.working and tif in ("IOC", "FOK"):
            self._cancel(order, "IOC/FOK order not filled at once")

    def _off_tick(self, inst: Instrument, lmt: str, aux: str) -> bool:
        if not self.reject_off_tick:
            return False
        try:
            prices = [float(text) for text in (lmt, aux) if text]
        except ValueError:
            return False
        return any(math.isfinite(price) and not inst.on_tick(price) for price in prices)

    def _validate(self, inst: Instrument, order_fields: list[str]) -> str | None:
        action, qty_text, order_type, lmt, aux, tif = order_fields
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

    def _send_order_state(self, session: Session | None, order: FakeOrder) -> None:
        if session is None:
            return
        session.send(*m.open_order_fields(order))
        session.send(*m.order_status_fields(order))

    def _send_status_to_owner(self, order: FakeOrder) -> None:
        session = self._order_session(order)
        if session is not None:
            session.send(*m.order_status_fields(order))

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

    def _execute(self, order: FakeOrder, qty: float, price: float) -> dict[str, Any] | None:
        if qty <= 0:
            return None
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
        side = "BOT" if order.action == "BUY" else "SLD"
        signed = qty if order.action == "BUY" else -qty
        pos = self._positions.setdefault((order.account, inst.con_id), [0.0, 0.0])
        pos[1] = (pos[1] * pos[0] + price * signed) / (pos[0] + signed) \
            if pos[0] + signed else 0.0
        pos[0] += signed
        self._cash -= signed * price
        commission = max(self.min_commission, self.commission_per_share * qty)
        record = {"exec_id": exec_id, "order_id": order.reported_id, "perm_id": order.perm_id,
                  "client_id": order.client_id, "order_ref": order.order_ref,
                  "symbol": inst.symbol, "con_id": inst.con_id, "side": side, "shares": qty,
                  "price": price, "cum_qty": order.filled, "avg_price": order.avg_price,
                  "account": order.account, "ts": time.time(), "commission": commission,
                  "manual": order.manual}
        with self._lock:
            self._executions.append(record)
            self._counters["executions"] += 1
        session = self._order_session(order)
        if session is not None:
            session.send(*m.exec_fields(-1, record, inst))
            if self.open_order_on_fill:
                session.send(*m.open_order_fields(order))
            session.send(*m.order_status_fields(order))
            session.send(*m.commission_fields(record))
        return dict(record)

    def _cancel(self, order: FakeOrder, reason: str = "") -> None:
        order.status = "Cancelled"
        order.completed_time = time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime())
        self.count("orders_cancelled")
        session = self._order_session(order)
        if session is not None:
            session.send(*m.order_status_fields(order))
            self._error(session, order.reported_id, 202, error_text(202, {"reason": reason}))

    def _on_cancel_order(self, session: Session, fields: list[str]) -> None:
        order_id = int(fields[2])
        order = self._orders.get((session.client_id or 0, order_id))
        if order is None:
            self._error(session, order_id, 10147, error_text(10147, {"id": order_id}))
            return
        if not order.working:
            self._error(session, order_id, 10148, error_text(10148, {"id": order_id,
                                                                     "state": order.status}))
            return
        self._cancel(order)

    def _on_global_cancel(self, session: Session, fields: list[str]) -> None:
        for order in list(self._orders.values()):
            if order.working:
                self._cancel(order, "global cancel")

    def _on_open_orders(self, session: Session, fields: list[str]) -> None:
        """This client's working orders (client 0: TWS's manual orders too)."""
        for order in self._orders.values():
            if order.working and order.client_id == session.client_id:
                self._send_order_state(session, order)
        session.send(p.OPEN_ORDER_END, 1)

    def _on_all_open_orders(self, session: Session, fields: list[str]) -> None:
        for order in self._orders.values():
            if order.working:
                self._send_order_state(session, order)
        session.send(p.OPEN_ORDER_END, 1)

    def _on_auto_open_orders(self, session: Session, fields: list[str]) -> None:
        """reqAutoOpenOrders: only client 0 may bind the orders placed in TWS from now on."""
        if session.client_id != 0:
            self.count("auto_open_orders_ignored")
            return
        session.auto_bind = fields[2] == "1"

    def _on_completed_orders(self, session: Session, fields: list[str]) -> None:
        api_only = len(fields) > 1 and fields[1] == "1"
        for order in self._orders.values():
            if not order.working and not (api_only and order.manual):
                session.send(*m.completed_order_fields(order))
        session.send(p.COMPLETED_ORDERS_END)

    def _on_executions(self, session: Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        client_id, account, since, symbol, sec_type, _exchange, side = (fields + [""] * 10)[3:10]
        since_ts = parse_exec_time(since)
        want_side = ("BOT" if side.upper().startswith("B") else "SLD") if side else ""
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
            if want_side and want_side != record["side"]:
                continue
            inst = self._by_con_id[record["con_id"]]
            if sec_type and sec_type.upper() != inst.sec_type:
                continue
            session.send(*m.exec_fields(req_id, record, inst))
            session.send(*m.commission_fields(record))
        session.send(p.EXECUTION_DATA_END, 1, req_id)

    # ================================================================== account
    def _position_rows(self, account: str | None = None) -> list[tuple[str, Instrument,
                                                                       float, float]]:
        return [(acct, self._by_con_id[cid], v[0], v[1]) for (acct, cid), v in
                self._positions.items() if account in (None, "", acct)]

    def _on_positions(self, session: Session, fields: list[str]) -> None:
        for acct, i, qty, cost in self._position_rows():
            session.send(p.POSITION_DATA, 3, acct, *m.contract_11(i), p.num(qty), p.num(cost))
        session.send(p.POSITION_END, 1)

    def _account_values(self) -> list[tuple[str, str, str]]:
        value = sum(q * self._by_con_id[cid].last for (_, cid), (q, _c) in self._positions.items())
        net = self._cash + value
        return [("NetLiquidation", f"{net:.2f}", "USD"), ("TotalCashValue", f"{self._cash:.2f}",
                "USD"), ("GrossPositionValue", f"{value:.2f}", "USD"),
                ("BuyingPower", f"{4 * net:.2f}", "USD"), ("AccountType", "INDIVIDUAL", "")]

    def _on_account_updates(self, session: Session, fields: list[str]) -> None:
        subscribe, account = fields[2] == "1", fields[3] if len(fields) > 3 else ""
        session.account_updates = subscribe
        if not subscribe:
            return
        account = account or self.accounts[0]
        for tag, val, cur in self._account_values():
            session.send(p.ACCT_VALUE, 2, tag, val, cur, account)
        for _acct, i, qty, cost in self._position_rows(account):
            market_value = qty * i.last
            session.send(p.PORTFOLIO_VALUE, 8, i.con_id, i.symbol, i.sec_type, i.expiry, "0", "",
                         i.multiplier, i.primary_exchange, i.currency, i.local_symbol,
                         i.trading_class, p.num(qty), p.num(i.last), p.num(market_value),
                         p.num(cost), p.num(market_value - qty * cost), "0", account)
        session.send(p.ACCT_UPDATE_TIME, 1, time.strftime("%H:%M", time.gmtime()))
        session.send(p.ACCT_DOWNLOAD_END, 1, account)

    def _on_account_updates_multi(self, session: Session, fields: list[str]) -> None:
        req_id, account, model = int(fields[2]), fields[3], fields[4]
        for tag, val, cur in self._account_values():
            session.send(p.ACCOUNT_UPDATE_MULTI, 1, req_id, account, model, tag, val, cur)
        session.send(p.ACCOUNT_UPDATE_MULTI_END, 1, req_id)

    def _on_account_summary(self, session: Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        for account in self.accounts:
            for tag, val, cur in self._account_values():
                session.send(p.ACCOUNT_SUMMARY, 1, req_id, account, tag, val, cur)
        session.send(p.ACCOUNT_SUMMARY_END, 1, req_id)

