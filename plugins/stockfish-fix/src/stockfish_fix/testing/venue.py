"""A simulated FIX venue on a real QuickFIX SocketAcceptor (127.0.0.1, ephemeral port).

It matches orders (D, F, G, H) in :class:`~stockfish_fix.testing.engine.Engine`, streams
market data (V -> W snapshot, then X increments with trades on a timer thread, Y for an
unknown symbol) in the book model chosen per symbol
(:mod:`~stockfish_fix.testing.md_publisher`), keeps its own record of the book a subscriber
must hold after every market-data message (:meth:`FIXVenue.md_history`), and injects
faults: drop every session, refuse logons, send malformed application messages, skip an
outgoing sequence number (forcing a resend), market-data inconsistencies
(:meth:`FIXVenue.inject_market_data`).

Threads: QuickFIX's acceptor thread calls the Application; a ticker thread moves the books;
one sender thread sends every outgoing message in the order the engine produced it (never
from a QuickFIX callback, where a send could hold the GIL while the peer in the same
process waits for it).
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import quickfix as fix

from stockfish_fix import messages as m
from stockfish_fix.lifetime import check_sessions_free, release
from stockfish_fix.session_config import build_config
from stockfish_fix.testing.engine import Engine, VenueOrder
from stockfish_fix.testing.md_publisher import MD_FAULTS, MODELS, MDOut, Publisher
from stockfish_fix.wire import plain_text

__all__ = ["BOOK_MODELS", "DEFAULT_SYMBOLS", "MD_FAULTS", "FIXVenue", "free_port"]

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS = ("AAA", "BBB")
#: Orders for these symbols draw the other reject paths.
BUSINESS_REJECT_SYMBOL = "JREJECT"
SESSION_REJECT_SYMBOL = "SREJECT"
_STOP = object()
BOOK_MODELS = MODELS
_HISTORY_LIMIT = 200_000  # market-data records kept (the oldest go first)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bind port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fmt(value: float) -> str:
    return plain_text(value)


class _VenueApplication(fix.Application):  # type: ignore[misc]
    def __init__(self, venue: FIXVenue) -> None:
        super().__init__()
        self.venue = venue

    def onCreate(self, session_id: Any) -> None:  # noqa: N802 - QuickFIX's names
        pass

    def onLogon(self, session_id: Any) -> None:  # noqa: N802
        self.venue._guard(self.venue._on_logon, session_id)

    def onLogout(self, session_id: Any) -> None:  # noqa: N802
        self.venue._guard(self.venue._on_logout, session_id)

    def toAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        reason = None
        try:
            if message.getHeader().getField(35) == "5":
                self.venue.logouts_received += 1
            reason = self.venue._check_logon(message)
        except Exception as exc:
            self.venue.errors.append(f"fromAdmin: {exc}")
        if reason is not None:
            raise fix.RejectLogon(reason)

    def toApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        self.venue._guard2(self.venue._on_app, message, session_id)


class FIXVenue:
    """The simulated FIX venue. ``start()`` returns the connector configuration entry."""

    def __init__(self, *, version: str = "FIX44", symbols: tuple[str, ...] = DEFAULT_SYMBOLS,
                 clients: tuple[str, ...] = ("CLIENT",), comp_id: str = "VENUE",
                 tick_interval: float = 0.02, levels: int = 5, top_size: float = 100.0,
                 seed: int = 0, username: str | None = None, password: str | None = None,
                 heartbeat_interval: float = 1.0, store_path: str = "",
                 max_runtime: float = 900.0, start_prices: dict[str, float] | None = None,
                 market_data: bool = True, data_dictionary: str = "",
                 status_repeats_fills: bool = True, burst: int = 0,
                 book_model: str | dict[str, str] = "price_level", depth: int = 10,
                 orders_per_level: int = 3, spread_symbols: tuple[str, ...] = (),
                 rpt_seq: bool | None = None, snapshot_requests: bool = True,
                 port: int = 0) -> None:
        self.requested_port = port  # 0: a free port at each start
        self.version = version
        self.symbols = tuple(symbols)
        self.clients = tuple(clients)
        self.comp_id = comp_id
        self.tick_interval = tick_interval
        self.username = username
        self.password = password
        self.heartbeat_interval = heartbeat_interval
        self.store_path = store_path
        self.max_runtime = max_runtime
        self.market_data = market_data
        self.data_dictionary = data_dictionary
        # True: an OrderStatusRequest is answered with every execution again, then the
        # status; False: with the status alone (CumQty/AvgPx), as many venues do.
        self.status_repeats_fills = status_repeats_fills
        # Benchmarks: after each snapshot, this many incremental refreshes (X) at once,
        # built before the first is sent so the venue's pace is the wire's.
        self.burst = burst
        # Market data: the book model per symbol, the depth a book is told to, and RptSeq
        # (83) on every entry: by default only in FIX 5.0 SP2, whose standard dictionary
        # has it in both W and X (4.2 / 4.4 need the extended dictionaries,
        # :func:`~stockfish_fix.testing.dictionaries.extend_dictionaries`).
        self.book_model = book_model
        self.depth = depth
        self.rpt_seq = version == "FIX50SP2" if rpt_seq is None else rpt_seq
        # False: a snapshot alone (263=0) is refused with a Y, as some venues do.
        self.snapshot_requests = snapshot_requests
        self.port = 0
        self.tag = f"{os.getpid() % 1000}{int(time.time() * 1000) % 100000}"
        self.engine = Engine(self.symbols, seed=seed, levels=levels, top_size=top_size,
                             start_prices=start_prices, tag=self.tag,
                             spread_symbols=spread_symbols)
        self.symbols = self.engine.symbols
        models = book_model if isinstance(book_model, dict) else {}
        self.publishers: dict[str, Publisher] = {}
        for index, symbol in enumerate(self.symbols):
            model = models.get(symbol, "price_level") if models else str(book_model)
            publisher = Publisher(model, depth=depth, orders_per_level=orders_per_level,
                                  seed=seed + index)
            publisher.start(*self.engine.books[symbol])
            self.publishers[symbol] = publisher
        self._history: collections.deque[dict[str, Any]] = \
            collections.deque(maxlen=_HISTORY_LIMIT)
        self._pending_gap: set[str] = set()  # symbols whose next X skips a RptSeq
        self._crossed_snapshots = 0  # snapshot-only requests (resyncs) answered crossed
        self._ignored_md_requests = 0  # subscriptions (263=1) left unanswered
        self.lock = threading.Lock()
        self.errors: list[str] = []
        self.logons = 0
        self.logouts_received = 0  # Logout (35=5) messages a client sent
        self.refused_logons = 0
        self.mass_status_requests = 0
        self.external_orders = 0
        self.messages_in: dict[str, int] = {}
        self._sessions: dict[str, Any] = {}  # str(session id) -> SessionID (logged on)
        self._subs: dict[str, tuple[str, Any]] = {}  # MDReqID -> (symbol, session id)
        self._order_session: dict[str, Any] = {}  # order id -> session id of its owner
        self._refuse_until = 0.0
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Work that must run on the acceptor's thread (see _on_poll_thread).
        self._poll_calls: queue.SimpleQueue[tuple[Callable[[], Any], threading.Event,
                                                  list[Any]]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor: Any = None
        self._keep: tuple[Any, ...] = ()
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> dict[str, Any]:
        """Start the acceptor on 127.0.0.1 (``port``, or a free port) and the ticker/sender
        threads."""
        self.port = self.requested_port or free_port()
        text = build_config(role="acceptor", version=self.version, sender_comp_id=self.comp_id,
                            target_comp_ids=self.clients, port=self.port,
                            heartbeat_interval=self.heartbeat_interval,
                            store_path=self.store_path,
                            data_dictionary=self.data_dictionary)
        settings = fix.SessionSettings()
        settings.setFromString(text)
        store = fix.FileStoreFactory(settings) if self.store_path else fix.MemoryStoreFactory()
        app = _VenueApplication(self)
        check_sessions_free(settings)
        acceptor = fix.SocketAcceptor(app, store, settings)
        self._keep = (app, store, settings)
        try:
            acceptor.poll()  # configures and binds the port now, on this thread
        except BaseException:
            acceptor.stop(True)
            release(acceptor)
            raise
        self._acceptor = acceptor
        for target, name in ((self._poll_loop, "acceptor"), (self._send_loop, "sender"),
                             (self._tick_loop, "ticker")):
            thread = threading.Thread(target=target, name=f"fix-venue-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.config_entry()

    def config_entry(self, client: str | None = None) -> dict[str, Any]:
        """The connector settings (``{"type": "fix", ...}``) that reach this venue."""
        entry: dict[str, Any] = {
            "type": "fix", "host": "127.0.0.1", "port": self.port, "version": self.version,
            "sender_comp_id": client or self.clients[0], "target_comp_id": self.comp_id,
            "store": "memory", "heartbeat_interval": self.heartbeat_interval,
            "connect_timeout": 5.0, "request_timeout": 5.0}
        if self.data_dictionary:
            entry["data_dictionary"] = self.data_dictionary
        if self.username is not None:
            entry["username"] = self.username
        if self.password is not None:
            entry["password"] = self.password
        return entry

    def stop(self) -> None:
        """Stop the threads and the acceptor (bounded)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._outbox.put(_STOP)
        for thread in self._threads:
            thread.join(5.0)
        acceptor, self._acceptor = self._acceptor, None
        if not any(thread.is_alive() for thread in self._threads):
            # Nothing can touch it now: free its sessions for the next venue in this process.
            release(acceptor)
        else:
            log.error("FIX venue threads did not stop in 5 s; the acceptor is left running")

    def _poll_loop(self) -> None:
        """Drive the acceptor from this thread, and stop it here too.

        QuickFIX 1.16's ``SocketAcceptor.stop()`` closes the server's sockets on the calling
        thread while the acceptor's own thread may be dropping a connection (a crash seen
        in about one stop in five); polling from one thread that also stops it has no
        such race.
        """
        acceptor = self._acceptor
        deadline = time.monotonic() + self.max_runtime + 10.0
        try:
            # poll() does not block; the short wait keeps an idle venue off the CPU at the
            # cost of at most half a millisecond before a message is read.
            while not self._stop.wait(0.0005) and time.monotonic() < deadline:
                acceptor.poll()
                self._run_poll_calls()
            self._logout_all()
            grace = time.monotonic() + 1.0
            while self._sessions and time.monotonic() < grace:
                acceptor.poll()
                threading.Event().wait(0.001)
        finally:
            acceptor.stop(True)
            self._run_poll_calls()  # answer callers waiting on a stopped venue

    def _run_poll_calls(self) -> None:
        while True:
            try:
                call, done, result = self._poll_calls.get_nowait()
            except queue.Empty:
                return
            try:
                result.append(call() if not self._stop.is_set() else 0)
            except Exception as exc:
                result.append(exc)
            done.set()

    def _on_poll_thread(self, call: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Run ``call`` on the acceptor's thread and return its result.

        ``Session.disconnect()`` takes the socket out of QuickFIX's socket monitor without
        a lock: from any other thread it races with the poll in progress."""
        done = threading.Event()
        result: list[Any] = []
        self._poll_calls.put((call, done, result))
        if not done.wait(timeout):
            raise TimeoutError(f"the FIX venue did not run a call within {timeout:g} s")
        if isinstance(result[0], Exception):
            raise result[0]
        return result[0]

    def _logout_all(self) -> None:
        with self.lock:
            sessions = list(self._sessions.values())
        for session_id in sessions:
            try:
                fix.Session.lookupSession(session_id).logout("venue shutting down")
            except Exception as exc:
                self.errors.append(f"logout: {exc}")

    # ------------------------------------------------------------------ faults
    def drop_connections(self, refuse_for: float = 0.0) -> int:
        """Cut every client session now; refuse logons for ``refuse_for`` seconds."""
        if refuse_for:
            self.refuse_logons(refuse_for)
        return int(self._on_poll_thread(self._drop_all))

    def _drop_all(self) -> int:
        with self.lock:
            sessions = list(self._sessions.values())
        for session_id in sessions:
            try:
                fix.Session.lookupSession(session_id).disconnect()
            except Exception as exc:
                self.errors.append(f"drop: {exc}")
        return len(sessions)

    def refuse_logons(self, seconds: float) -> None:
        """Reject every Logon for ``seconds`` (0 accepts again)."""
        self._refuse_until = time.monotonic() + seconds if seconds > 0 else 0.0

    def send_malformed(self) -> int:
        """Send malformed application messages to every session; returns how many: an
        execution for an unknown order, a fill without LastQty/LastPx, an X deleting a level
        (or entry) that does not exist, and a report with an OrdStatus outside the
        enumeration (which the client's QuickFIX rejects at session level)."""
        with self.lock:
            sessions = list(self._sessions.values())
            subs = dict(self._subs)
        sent = 0
        for session_id in sessions:
            bad = []
            report = self._report_base("NOSUCHORDER", "V0", self.engine.next_exec_id(), "0",
                                       "0", self.symbols[0], "1", 0.0, 0.0, 0.0)
            bad.append(report)
            no_fill = self._report_base("NOSUCHORDER2", "V0", self.engine.next_exec_id(),
                                        "F" if self.version != "FIX42" else "2", "2",
                                        self.symbols[0], "1", 0.0, 1.0, 1.0)
            bad.append(no_fill)
            odd = self._report_base("NOSUCHORDER3", "V0", self.engine.next_exec_id(), "0",
                                    "Z", self.symbols[0], "1", 0.0, 0.0, 0.0)
            bad.append(odd)
            for msg in bad:
                self._outbox.put((msg, session_id))
                sent += 1
            for req_id, (symbol, owner) in subs.items():
                if str(owner) == str(session_id) \
                        and self.publishers[symbol].model != "snapshot_only":
                    with self.lock:
                        self._send_fault(req_id, symbol, owner, "delete_unknown")
                    sent += 1
                    break
        return sent

    def inject_market_data(self, symbol: str, kind: str) -> int:
        """A market-data inconsistency to every subscriber of ``symbol``: one of
        :data:`MD_FAULTS` (``change_unknown``, ``delete_unknown``, ``crossed``: an entry the
        subscriber's book cannot take; ``rpt_seq_gap``: the next X skips a RptSeq). A
        snapshot-only feed gets a crossed snapshot for any kind. The venue's own book does
        not change; the record flags the message ``injected``. Returns how many."""
        if kind not in MD_FAULTS:
            raise ValueError(f"kind: expected one of {', '.join(MD_FAULTS)}, got {kind!r}")
        with self.lock:
            if symbol not in self.publishers:
                raise KeyError(symbol)
            if kind == "rpt_seq_gap":
                self._pending_gap.add(symbol)
                return 1
            targets = [(r, s) for r, (sym, s) in self._subs.items() if sym == symbol]
            for req_id, session_id in targets:
                self._send_fault(req_id, symbol, session_id, kind)
            return len(targets)

    def ignore_md_requests(self, count: int) -> None:
        """Leave the next ``count`` subscription requests (263=1) unanswered, as a venue
        busy or restarting does (the subscription is made; its snapshot does not come)."""
        with self.lock:
            self._ignored_md_requests = count

    def corrupt_snapshots(self, count: int) -> None:
        """Answer the next ``count`` snapshot requests (263=0, a client's resync) with a
        crossed book: the client must keep the book stale and ask again, with backoff."""
        with self.lock:
            self._crossed_snapshots = count

    def _send_fault(self, req_id: str, symbol: str, session_id: Any, kind: str) -> None:
        """One inconsistent message to one subscriber (caller holds the lock)."""
        publisher = self.publishers[symbol]
        if publisher.model == "snapshot_only":
            entries = [publisher.fault("crossed"), *publisher.snapshot(self._last(symbol))]
            msg = self._snapshot_message(req_id, symbol, entries, publisher)
            self._send_md(msg, "W", req_id, symbol, session_id, injected=kind)
            return
        entries = [publisher.fault(kind)]
        rpts = self._next_rpts(symbol, publisher, 1)
        msg = self._incremental(req_id, symbol, entries, rpts)
        self._send_md(msg, "X", req_id, symbol, session_id, injected=kind)

    def skip_sequence_number(self) -> int:
        """Skip one outgoing MsgSeqNum on every session: the client sees a gap and asks
        for a resend, which QuickFIX answers with a gap fill."""
        def skip() -> int:
            with self.lock:
                sessions = list(self._sessions.values())
            for session_id in sessions:
                session = fix.Session.lookupSession(session_id)
                session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + 1)
            return len(sessions)

        return int(self._on_poll_thread(skip))

    # ------------------------------------------------------------------ records
    def orders_received_count(self, client_order_id: str) -> int:
        """How many NewOrderSingles with this ClOrdID reached the venue."""
        with self.lock:
            return self.engine.orders_received[client_order_id]

    @property
    def fills(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.engine.fills)

    def fills_of(self, client_order_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [f for f in self.engine.fills if f["client_order_id"] == client_order_id]

    def order(self, client_order_id: str) -> VenueOrder | None:
        with self.lock:
            return self.engine.orders.get(client_order_id)

    def book_levels(self, symbol: str) -> tuple[list[tuple[float, float]],
                                                list[tuple[float, float]]]:
        """(bids high to low, asks low to high) of ``symbol`` as its book model tells it
        now (top of book: one level a side; others: ``depth`` levels)."""
        with self.lock:
            bids, asks = self.publishers[symbol].view
            return list(bids), list(asks)

    def md_history(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every market-data message the venue sent, in order, each with the book the
        subscriber must hold after it: comp_id, msg_type, symbol, md_req_id, rpt_seq,
        model, bids and asks (``[price, size]``, best first), last (the last trade,
        ``[price, size]``), entries (entry_id model: ``[id, 'bid'|'ask', price, size]``) and
        ``injected`` (the fault kind, or None). Burst messages are not recorded."""
        with self.lock:
            records = list(self._history)
        return records if symbol is None else [r for r in records if r["symbol"] == symbol]

    def fill(self, client_order_id: str, quantity: float | None = None,
             price: float | None = None) -> dict[str, Any] | None:
        """Execute an open order now (default: all that is left at its limit or the market),
        whether or not its owner is connected. Returns the venue's fill record."""
        with self.lock:
            order = self.engine.orders.get(client_order_id)
            if order is None:
                raise KeyError(client_order_id)
            bid, ask = self.engine.best(order.symbol)
            px = price or order.price or (ask if order.side == "1" else bid)
            events = self.engine.fill(order, quantity or order.qty - order.cum_qty, px)
            self._emit(events)
        return events[0]["fill"] if events else None

    @property
    def sessions_logged_on(self) -> int:
        with self.lock:
            return len(self._sessions)

    # ------------------------------------------------------------------ QuickFIX side
    def _guard(self, handler: Any, arg: Any) -> None:
        try:
            handler(arg)
        except Exception as exc:
            self.errors.append(f"{handler.__name__}: {type(exc).__name__}: {exc}")

    def _guard2(self, handler: Any, arg: Any, arg2: Any) -> None:
        try:
            handler(arg, arg2)
        except Exception as exc:
            self.errors.append(f"{handler.__name__}: {type(exc).__name__}: {exc}")

    def _check_logon(self, msg: Any) -> str | None:
        if msg.getHeader().getField(35) != "A":
            return None
        if time.monotonic() < self._refuse_until:
            self.refused_logons += 1
            return "logons refused (venue maintenance)"
        if self.username is not None or self.password is not None:
            user = msg.getField(553) if msg.isSetField(553) else None
            password = msg.getField(554) if msg.isSetField(554) else None
            if user != self.username or password != self.password:
                self.refused_logons += 1
                return "bad username or password"
        return None

    def _on_logon(self, session_id: Any) -> None:
        with self.lock:
            self._sessions[session_id.toString()] = session_id
            self.logons += 1

    def _on_logout(self, session_id: Any) -> None:
        key = session_id.toString()
        with self.lock:
            self._sessions.pop(key, None)
            for req_id in [r for r, (_, s) in self._subs.items() if s.toString() == key]:
                del self._subs[req_id]

    def _on_app(self, msg: Any, session_id: Any) -> None:
        msg_type = msg.getHeader().getField(35)
        self.messages_in[msg_type] = self.messages_in.get(msg_type, 0) + 1
        get = m._get
        if msg_type == "D":
            symbol = msg.getField(m.SYMBOL)
            if symbol == BUSINESS_REJECT_SYMBOL:
                self._outbox.put((self._business_reject(msg), session_id))
                with self.lock:
                    self.engine.orders_received[msg.getField(m.CL_ORD_ID)] += 1
                return
            if symbol == SESSION_REJECT_SYMBOL:
                self._outbox.put((self._session_reject(msg), session_id))
                with self.lock:
                    self.engine.orders_received[msg.getField(m.CL_ORD_ID)] += 1
                return
            with self.lock:
                events = self.engine.new_order(
                    msg.getField(m.CL_ORD_ID), symbol, msg.getField(m.SIDE),
                    float(get(msg, m.ORDER_QTY) or 0), msg.getField(m.ORD_TYPE),
                    _float(get(msg, m.PRICE)), _float(get(msg, m.STOP_PX)),
                    get(msg, m.TIME_IN_FORCE) or "0")
                for event in events:
                    order = event.get("order")
                    if order is not None:
                        self._order_session[order.order_id] = session_id
                self._emit(events, session_id)
        elif msg_type == "F":
            with self.lock:
                events = self.engine.cancel(msg.getField(m.ORIG_CL_ORD_ID),
                                            msg.getField(m.CL_ORD_ID), get(msg, m.ORDER_ID))
                self._emit(events, session_id)
        elif msg_type == "G":
            with self.lock:
                events = self.engine.replace(
                    msg.getField(m.ORIG_CL_ORD_ID), msg.getField(m.CL_ORD_ID),
                    get(msg, m.ORDER_ID), _float(get(msg, m.ORDER_QTY)),
                    _float(get(msg, m.PRICE)))
                self._emit(events, session_id)
        elif msg_type == "H":
            self._status(msg, session_id)
        elif msg_type == "AF":
            self._mass_status(msg, session_id)
        elif msg_type == "V":
            self._market_data_request(msg, session_id)

    # ------------------------------------------------------------------ outgoing
    def _emit(self, events: list[dict[str, Any]], session_id: Any = None) -> None:
        """Turn engine events into messages, queued in order (caller holds the lock)."""
        for event in events:
            kind = event["kind"]
            order: VenueOrder | None = event.get("order")
            target = session_id
            if order is not None:
                target = self._order_session.get(order.order_id, session_id)
            if target is None:
                continue
            if kind == "new":
                msg = self._report(order, "0", "0")
            elif kind == "fill":
                fill = event["fill"]
                msg = self._fill_report(order, fill)
            elif kind == "canceled":
                msg = self._report(order, "4", "4", orig=event["orig"], text=event["text"])
            elif kind == "replaced":
                msg = self._report(order, "5", order.status, orig=event["orig"])
            elif kind == "reject":
                msg = self._report_base(event["cl_ord_id"], "NONE", self.engine.next_exec_id(),
                                        "8", "8", event["symbol"], event["side"], 0.0, 0.0,
                                        0.0, text=event["text"])
                if event["reason"]:
                    msg.setField(m.ORD_REJ_REASON, event["reason"])
            elif kind == "cancel_reject":
                msg = self._cancel_reject(event)
            else:
                continue
            self._outbox.put((msg, target))
            if kind == "fill":
                self._trade_prints(order.symbol, event["fill"])

    def _trade_prints(self, symbol: str, fill: dict[str, Any]) -> None:
        """A trade to every subscriber: an X with the trade entry, or for a snapshot-only
        feed a new W whose trade entry is the new last trade (caller holds the lock)."""
        publisher = self.publishers[symbol]
        subs = [(r, s) for r, (sym, s) in self._subs.items() if sym == symbol]
        if publisher.model == "snapshot_only":
            for req_id, owner in subs:
                self._send_snapshot(req_id, symbol, owner)
            return
        entries = [MDOut("0", "2", fill["price"], fill["quantity"])]
        rpts = self._next_rpts(symbol, publisher, 1)
        for req_id, owner in subs:
            self._send_md(self._incremental(req_id, symbol, entries, rpts), "X", req_id,
                          symbol, owner)

    def _report_base(self, cl_ord_id: str,  # noqa: PLR0917 - the report's FIX fields
                     order_id: str, exec_id: str, exec_type: str,
                     ord_status: str, symbol: str, side: str, leaves: float, cum: float,
                     avg: float, text: str | None = None) -> Any:
        msg = fix.Message()
        msg.getHeader().setField(35, "8")
        msg.setField(m.ORDER_ID, order_id)
        msg.setField(m.CL_ORD_ID, cl_ord_id)
        msg.setField(m.EXEC_ID, exec_id)
        if self.version == "FIX42":
            msg.setField(m.EXEC_TRANS_TYPE, "0")
        msg.setField(m.EXEC_TYPE, exec_type)
        msg.setField(m.ORD_STATUS, ord_status)
        msg.setField(m.SYMBOL, symbol)
        msg.setField(m.SIDE, side)
        msg.setField(m.LEAVES_QTY, _fmt(leaves))
        msg.setField(m.CUM_QTY, _fmt(cum))
        msg.setField(m.AVG_PX, _fmt(avg))
        msg.setField(m.TRANSACT_TIME, m.transact_time())
        if text:
            msg.setField(m.TEXT, text)
        return msg

    def _report(self, order: VenueOrder, exec_type: str, ord_status: str, *,
                orig: str | None = None, text: str | None = None) -> Any:
        msg = self._report_base(order.cl_ord_id, order.order_id, self.engine.next_exec_id(),
                                exec_type, ord_status, order.symbol, order.side, order.leaves,
                                order.cum_qty, order.avg_px, text)
        msg.setField(m.ORDER_QTY, _fmt(order.qty))
        msg.setField(m.ORD_TYPE, order.ord_type)
        if order.price is not None:
            msg.setField(m.PRICE, _fmt(order.price))
        if orig:
            msg.setField(m.ORIG_CL_ORD_ID, orig)
        return msg

    def _fill_report(self, order: VenueOrder, fill: dict[str, Any], resend: bool = False) -> Any:
        status = fill["status"]
        exec_type = ("2" if status == "2" else "1") if self.version == "FIX42" else "F"
        leaves = 0.0 if status == "2" else max(order.qty - fill["cum_qty"], 0.0)
        msg = self._report_base(fill["cl_ord_id"], order.order_id, fill["exec_id"], exec_type,
                                status, order.symbol, order.side, leaves, fill["cum_qty"],
                                fill["avg_px"])
        msg.setField(m.ORDER_QTY, _fmt(order.qty))
        msg.setField(m.LAST_QTY, _fmt(fill["quantity"]))
        msg.setField(m.LAST_PX, _fmt(fill["price"]))
        if resend:
            msg.getHeader().setField(97, "Y")  # PossResend: an execution told again
        return msg

    def _cancel_reject(self, event: dict[str, Any]) -> Any:
        order: VenueOrder | None = event["order"]
        msg = fix.Message()
        msg.getHeader().setField(35, "9")
        msg.setField(m.ORDER_ID, order.order_id if order else "NONE")
        msg.setField(m.CL_ORD_ID, event["cl_ord_id"])
        msg.setField(m.ORIG_CL_ORD_ID, event["orig"])
        msg.setField(m.ORD_STATUS, order.status if order else "8")
        msg.setField(m.CXL_REJ_RESPONSE_TO, event["response_to"])
        msg.setField(m.CXL_REJ_REASON, "1" if order is None else "0")
        msg.setField(m.TEXT, event["text"])
        return msg

    def _business_reject(self, request: Any) -> Any:
        msg = fix.Message()
        msg.getHeader().setField(35, "j")
        msg.setField(m.REF_SEQ_NUM, request.getHeader().getField(34))
        msg.setField(m.REF_MSG_TYPE, "D")
        msg.setField(m.BUSINESS_REJECT_REF_ID, request.getField(m.CL_ORD_ID))
        msg.setField(m.BUSINESS_REJECT_REASON, "2")  # unknown security
        msg.setField(m.TEXT, "instrument not tradable here")
        return msg

    def _session_reject(self, request: Any) -> Any:
        msg = fix.Message()
        msg.getHeader().setField(35, "3")
        msg.setField(m.REF_SEQ_NUM, request.getHeader().getField(34))
        msg.setField(m.REF_TAG_ID, str(m.SYMBOL))
        msg.setField(m.REF_MSG_TYPE, "D")
        msg.setField(m.SESSION_REJECT_REASON, "5")  # value is incorrect
        msg.setField(m.TEXT, "symbol not accepted on this session")
        return msg

    def _status(self, msg: Any, session_id: Any) -> None:
        cl_ord_id = msg.getField(m.CL_ORD_ID)
        order_id = m._get(msg, m.ORDER_ID)
        with self.lock:
            order = self.engine.find(cl_ord_id, order_id)
            if order is None:
                report = self._report_base(cl_ord_id, "NONE", self.engine.next_exec_id(), "I",
                                           "8", msg.getField(m.SYMBOL), msg.getField(m.SIDE),
                                           0.0, 0.0, 0.0, text="no such order")
                report.setField(m.ORD_REJ_REASON, m.UNKNOWN_ORDER)
                self._status_marker(report)
                self._outbox.put((report, session_id))
                return
            # An order no session owns (placed elsewhere) reports to the one asking.
            self._order_session.setdefault(order.order_id, session_id)
            if self.status_repeats_fills:
                for fill in order.fills:  # every execution again, with its ExecID
                    self._outbox.put((self._fill_report(order, fill, resend=True),
                                      session_id))
            report = self._report(order, "I", order.status)
            self._status_marker(report)
            self._outbox.put((report, session_id))

    def _mass_status(self, msg: Any, session_id: Any) -> None:
        """OrderMassStatusRequest (AF): one ExecutionReport (ExecType I) per working order,
        the last with LastRptRequested=Y (none working: one report saying so, OrderID
        NONE). Working orders no session owns (placed elsewhere) are bound to this one:
        their later reports come here. With ``status_repeats_fills``, each order's
        executions are told again first, as for a status request."""
        req_id = msg.getField(m.MASS_STATUS_REQ_ID)
        with self.lock:
            working = [o for o in self.engine.working if o.is_open]
            reports = []
            for order in working:
                self._order_session.setdefault(order.order_id, session_id)
                if self.status_repeats_fills:
                    reports += [self._fill_report(order, fill, resend=True)
                                for fill in order.fills]
                report = self._report(order, "I", order.status)
                reports.append(report)
            if not working:
                report = self._report_base("NONE", "NONE", self.engine.next_exec_id(), "I",
                                           "8", self.symbols[0], "1", 0.0, 0.0, 0.0,
                                           text="no working orders")
                reports.append(report)
            status_reports = [r for r in reports if r.getField(m.EXEC_TYPE) == "I"]
            for index, report in enumerate(status_reports, 1):
                report.setField(m.MASS_STATUS_REQ_ID, req_id)
                report.setField(m.TOT_NUM_REPORTS, str(len(working)))
                report.setField(m.LAST_RPT_REQUESTED,
                                "Y" if index == len(status_reports) else "N")
            self.mass_status_requests += 1
            self._outbox.put((reports, session_id))

    def add_external_order(self, symbol: str, side: str, quantity: float,
                           price: float | None = None, *, cl_ord_id: str | None = None,
                           fill: float = 0.0) -> dict[str, Any]:
        """An order placed at the venue by someone else (another session, a trader's
        screen): no session owns it until one asks for a mass status. ``side`` ``BUY`` /
        ``SELL``; a limit order at ``price`` (market without), ``fill`` of it executed at
        once. Returns ``{"cl_ord_id", "order_id", "status", "cum_qty"}``."""
        with self.lock:
            cl_ord_id = cl_ord_id or f"EXT{self.tag}-{next(self._ids)}"
            events = self.engine.new_order(cl_ord_id, symbol, "1" if side == "BUY" else "2",
                                           quantity, "2" if price else "1", price, None, "1")
            order = self.engine.orders.get(cl_ord_id)
            if order is None:
                raise ValueError(f"external order refused: {events}")
            if fill:
                self.engine.fill(order, fill, price or self.engine.best(symbol)[1])
            self.external_orders += 1
            return {"cl_ord_id": cl_ord_id, "order_id": order.order_id,
                    "status": order.status, "cum_qty": order.cum_qty}

    def forget_orders(self) -> int:
        """Lose every order, as a venue restarting without persistence does (its fill
        record stays); returns how many were working."""
        with self.lock:
            self._order_session.clear()
            return self.engine.forget_orders()

    def order_state(self, client_order_id: str) -> dict[str, Any] | None:
        """The venue's record of an order (by any of its ClOrdIDs) as JSON-able values:
        cl_ord_id (current), first_cl_ord_id, order_id, status (OrdStatus), qty, cum_qty,
        fills (ExecIDs)."""
        with self.lock:
            order = self.engine.orders.get(client_order_id)
            if order is None:
                return None
            return {"cl_ord_id": order.cl_ord_id, "first_cl_ord_id": order.first_cl_ord_id,
                    "order_id": order.order_id, "status": order.status, "qty": order.qty,
                    "cum_qty": order.cum_qty, "symbol": order.symbol,
                    "fills": [f["exec_id"] for f in order.fills]}

    def working_orders(self) -> list[dict[str, Any]]:
        """Every working order: ``order_state`` of each."""
        with self.lock:
            ids = [o.first_cl_ord_id for o in self.engine.working if o.is_open]
        return [state for cid in ids if (state := self.order_state(cid)) is not None]

    @property
    def duplicate_cl_ord_ids(self) -> dict[str, int]:
        """ClOrdIDs a client sent more than once (D, F or G) -> times reused."""
        with self.lock:
            return dict(self.engine.duplicate_cl_ord_ids)

    def _status_marker(self, report: Any) -> None:
        if self.version == "FIX42":  # 4.2 has no ExecType I: ExecTransType 3 = status
            report.setField(m.EXEC_TRANS_TYPE, "3")
            report.setField(m.EXEC_TYPE, report.getField(m.ORD_STATUS))

    def _market_data_request(self, msg: Any, session_id: Any) -> None:
        req_id = msg.getField(m.MD_REQ_ID)
        kind = msg.getField(m.SUBSCRIPTION_REQUEST_TYPE)
        count = int(m._get(msg, m.NO_RELATED_SYM) or 0)
        group = fix.Group(m.NO_RELATED_SYM, m.SYMBOL)
        symbols = []
        for index in range(1, count + 1):
            msg.getGroup(index, group)
            symbols.append(group.getField(m.SYMBOL))
        with self.lock:
            if kind == "2":
                self._subs.pop(req_id, None)
                return
            for symbol in symbols:
                if symbol not in self.engine.books:
                    self._outbox.put((self._md_reject(req_id, f"unknown symbol {symbol}"),
                                      session_id))
                    continue
                if kind == "1" and self.burst:
                    self._reset_burst_level(symbol)
                if kind == "1" and self._ignored_md_requests > 0:
                    self._ignored_md_requests -= 1
                    self._subs[req_id] = (symbol, session_id)
                    continue
                if kind == "0" and not self.snapshot_requests:
                    self._outbox.put((self._md_reject(
                        req_id, "snapshot requests not supported", reason="5"), session_id))
                    continue
                if kind == "0" and self._crossed_snapshots > 0:
                    self._crossed_snapshots -= 1
                    publisher = self.publishers[symbol]
                    entries = [publisher.fault("crossed"),
                               *publisher.snapshot(self._last(symbol))]
                    self._send_md(self._snapshot_message(req_id, symbol, entries, publisher),
                                  "W", req_id, symbol, session_id, injected="crossed")
                    continue
                self._send_snapshot(req_id, symbol, session_id)
                if kind == "1":
                    self._subs[req_id] = (symbol, session_id)
                    if self.burst:
                        self._queue_burst(req_id, symbol, session_id)

    def _reset_burst_level(self, symbol: str) -> None:
        """The best bid's size back to 0.5 before a snapshot, so that only the burst that
        follows can bring it to ``burst`` (caller holds the lock)."""
        bids, _ = self.engine.books[symbol]
        bids[max(bids)] = 0.5
        self._publish_book(symbol)

    def _queue_burst(self, req_id: str, symbol: str, session_id: Any) -> None:
        """``burst`` market-data messages for one subscription: each changes the best bid's
        size (the last one to ``burst``, so a reader knows when it has them all), told in
        the symbol's book model (a W each for ``snapshot_only``). Caller holds the lock. Not
        recorded in :meth:`md_history`."""
        bids, _ = self.engine.books[symbol]
        best = max(bids)
        publisher = self.publishers[symbol]
        burst = []
        for i in range(1, self.burst + 1):
            bids[best] = float(i)
            entries = publisher.update(*self.engine.books[symbol])
            if not entries:  # snapshot_only: the whole book again
                burst.append(self._snapshot_message(
                    req_id, symbol, publisher.snapshot(self._last(symbol)), publisher))
                continue
            rpts = self._next_rpts(symbol, publisher, len(entries))
            burst.append(self._incremental(req_id, symbol, entries, rpts))
        self._outbox.put((burst, session_id))

    def _md_reject(self, req_id: str, text: str, reason: str = "0") -> Any:
        msg = fix.Message()
        msg.getHeader().setField(35, "Y")
        msg.setField(m.MD_REQ_ID, req_id)
        msg.setField(m.MD_REQ_REJ_REASON, reason)
        msg.setField(m.TEXT, text)
        return msg

    # ------------------------------------------------------------------ market data out
    def _last(self, symbol: str) -> tuple[float, float] | None:
        last = self.engine.last.get(symbol)
        return None if last is None else (last, self.engine.last_qty.get(symbol) or 1.0)

    def _next_rpts(self, symbol: str, publisher: Publisher, count: int) -> list[int | None]:
        """RptSeq for ``count`` entries (a pending injected gap skips one number)."""
        if not self.rpt_seq:
            return [None] * count
        if symbol in self._pending_gap:
            self._pending_gap.discard(symbol)
            publisher.rpt_seq += 1  # a number never sent
        first = publisher.rpt_seq + 1
        publisher.rpt_seq += count
        return list(range(first, first + count))

    def _publish_book(self, symbol: str) -> None:
        """Tell every subscriber of ``symbol`` what changed since its view (caller holds
        the lock): one X, or for a snapshot-only feed one W."""
        publisher = self.publishers[symbol]
        entries = publisher.update(*self.engine.books[symbol])
        if entries is None:
            return
        subs = [(r, s) for r, (sym, s) in self._subs.items() if sym == symbol]
        if publisher.model == "snapshot_only":
            for req_id, session_id in subs:
                self._send_snapshot(req_id, symbol, session_id)
            return
        rpts = self._next_rpts(symbol, publisher, len(entries))
        for req_id, session_id in subs:
            self._send_md(self._incremental(req_id, symbol, entries, rpts), "X", req_id,
                          symbol, session_id)

    def _send_snapshot(self, req_id: str, symbol: str, session_id: Any) -> None:
        publisher = self.publishers[symbol]
        entries = publisher.snapshot(self._last(symbol))
        self._send_md(self._snapshot_message(req_id, symbol, entries, publisher), "W", req_id,
                      symbol, session_id)

    def _send_md(self, msg: Any, msg_type: str,  # noqa: PLR0917 - the record's keys
                 req_id: str, symbol: str, session_id: Any,
                 injected: str | None = None) -> None:
        """Queue one market-data message and record the book its subscriber must hold
        after it (caller holds the lock)."""
        publisher = self.publishers[symbol]
        bids, asks = publisher.view
        last = self._last(symbol)
        record: dict[str, Any] = {
            "comp_id": session_id.getTargetCompID().getValue(), "msg_seq_num": None,
            "msg_type": msg_type, "symbol": symbol, "md_req_id": req_id,
            "rpt_seq": publisher.rpt_seq if self.rpt_seq else None, "model": publisher.model,
            "bids": [[p, s] for p, s in bids], "asks": [[p, s] for p, s in asks],
            "last": list(last) if last else None, "injected": injected}
        if publisher.model == "entry_id":
            record["entries"] = publisher.entry_view()
        self._history.append(record)
        self._outbox.put((msg, session_id))

    def _snapshot_message(self, req_id: str, symbol: str, entries: list[MDOut],
                          publisher: Publisher) -> Any:
        msg = fix.Message()
        msg.getHeader().setField(35, "W")
        msg.setField(m.MD_REQ_ID, req_id)
        msg.setField(m.SYMBOL, symbol)
        if self.version == "FIX50SP2":
            msg.setField(m.LAST_UPDATE_TIME, m.transact_time())
            if publisher.model == "position":
                msg.setField(m.MARKET_DEPTH, str(publisher.depth))  # the book's depth
        group = m.new_group(self.version, "MarketDataSnapshotFullRefresh", "NoMDEntries")
        rpt = str(publisher.rpt_seq) if self.rpt_seq else None
        for entry in entries:
            group.clear()
            group.setField(m.MD_ENTRY_TYPE, entry.type)
            self._entry_fields(group, entry, rpt)
            msg.addGroup(group)
        return msg

    def _incremental(self, req_id: str, symbol: str, entries: list[MDOut],
                     rpts: list[int | None]) -> Any:
        msg = fix.Message()
        msg.getHeader().setField(35, "X")
        msg.setField(m.MD_REQ_ID, req_id)
        group = m.new_group(self.version, "MarketDataIncrementalRefresh", "NoMDEntries")
        for entry, rpt in zip(entries, rpts, strict=True):
            group.clear()
            group.setField(m.MD_UPDATE_ACTION, entry.action)
            group.setField(m.MD_ENTRY_TYPE, entry.type)
            group.setField(m.SYMBOL, symbol)
            self._entry_fields(group, entry, None if rpt is None else str(rpt))
            msg.addGroup(group)
        return msg

    @staticmethod
    def _entry_fields(group: Any, entry: MDOut, rpt: str | None) -> None:
        if entry.entry_id is not None:
            group.setField(m.MD_ENTRY_ID, entry.entry_id)
        if entry.ref_id is not None:
            group.setField(m.MD_ENTRY_REF_ID, entry.ref_id)
        if entry.price is not None:
            group.setField(m.MD_ENTRY_PX, f"{entry.price:.2f}" if entry.type != "2"
                           else _fmt(entry.price))
        if entry.size is not None:
            group.setField(m.MD_ENTRY_SIZE, _fmt(entry.size))
        if rpt is not None:
            group.setField(m.RPT_SEQ, rpt)
        if entry.level is not None:
            group.setField(m.MD_PRICE_LEVEL, str(entry.level))

    # ------------------------------------------------------------------ threads
    def _tick_loop(self) -> None:
        deadline = time.monotonic() + self.max_runtime
        while not self._stop.wait(self.tick_interval) and time.monotonic() < deadline:
            try:
                self._tick()
            except Exception as exc:  # keep ticking; the record says what happened
                self.errors.append(f"tick: {type(exc).__name__}: {exc}")

    def _tick(self) -> None:
        with self.lock:
            if self.market_data:
                self.engine.step()
                for symbol in self.symbols:
                    self._publish_book(symbol)
            self._emit(self.engine.tick_orders())

    def _send_loop(self) -> None:
        deadline = time.monotonic() + self.max_runtime + 10.0
        while time.monotonic() < deadline:
            try:
                item = self._outbox.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _STOP:
                return
            msgs, session_id = item
            for msg in msgs if isinstance(msgs, list) else (msgs,):
                try:
                    fix.Session.sendToTarget(msg, session_id)
                except Exception as exc:  # session gone: QuickFIX keeps nothing to send
                    self.errors.append(f"send: {type(exc).__name__}: {exc}")
                    break


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None
