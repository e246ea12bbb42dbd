"""The ``fix`` connector: a QuickFIX SocketInitiator mapped onto the core contract.

Threading: QuickFIX runs the session (socket, logon, heartbeats, test requests, sequence
numbers, resends, gap fills) in its own thread and calls our Application there. Every
callback is wrapped: nothing raised in it reaches QuickFIX, and nothing in it blocks (no
waits, no ``stop()``). Public methods run on the caller's thread; ``sendToTarget`` is
thread-safe.

Who owns reconnection: the core. A drop (``onLogout`` while connected) calls
``handle_connection_error``, whose ``reconnect()`` loop (backoff, attempts, then resubscribe
and reconcile) calls :meth:`FIXConnector.connect` again. The initiator is kept alive across
the drop, so QuickFIX re-opens the socket by its ``ReconnectInterval`` while ``connect()``
waits (bounded by ``connect_timeout``) for the Logon; an attempt that times out stops and
releases the initiator, and the next attempt builds a fresh one. ``connect()`` on a live
session returns at once; called from many threads it is serialized.

A stale order is never replayed: when the venue asks for a resend, old D/F/G messages are
gap-filled (``toApp`` raises DoNotSend on PossDup) unless ``resend_orders`` is set.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import quickfix as fix
from stockfish_core.connector import BaseConnector
from stockfish_core.enums import ConnectorStatus
from stockfish_core.errors import (
    NotConnectedError,
    OrderNotSentError,
    SubscriptionError,
)
from stockfish_core.models import DataType, MarketUpdate, NewsEvent, now_ns
from stockfish_core.orders import Fill, Order, OrderStatus

from stockfish_fix import messages as m
from stockfish_fix.book import BID, OFFER, Book, BookError
from stockfish_fix.lifetime import EngineGuard, check_sessions_free, owned_session_id, release
from stockfish_fix.plugin import CAPABILITIES
from stockfish_fix.session_config import (
    build_config,
    default_store_path,
    parse_first_session,
    wire_heartbeat,
)
from stockfish_fix.settings import FIXSettings

__all__ = ["FIXConnector"]

log = logging.getLogger(__name__)

_SENT_SEQ_KEPT = 20_000  # outgoing MsgSeqNum -> order, to attribute session Rejects
_RELEASE_WAIT = 5.0  # s a stopped session waits for calls still inside it
_T = TypeVar("_T")


class _Subscription:
    __slots__ = ("active", "depth", "error", "price", "ready", "req_id", "symbol")

    def __init__(self, symbol: str, req_id: str) -> None:
        self.symbol = symbol
        self.req_id = req_id
        self.price = False
        self.depth = 0  # 0: no book subscription
        self.ready = threading.Event()
        self.error: str | None = None
        self.active = True


def _make_application(connector: FIXConnector) -> Any:
    """The QuickFIX Application; every callback hands off to the connector, guarded."""

    class _Application(fix.Application):  # type: ignore[misc]
        def onCreate(self, session_id: Any) -> None:  # noqa: N802 - QuickFIX's names
            connector._guard(connector._on_create, session_id)

        def onLogon(self, session_id: Any) -> None:  # noqa: N802
            connector._guard(connector._on_logon, session_id)

        def onLogout(self, session_id: Any) -> None:  # noqa: N802
            connector._guard(connector._on_logout, session_id)

        def toAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
            connector._guard(connector._to_admin, message)

        def fromAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
            connector._guard(connector._from_admin, message)

        def toApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
            if connector._to_app(message):
                raise fix.DoNotSend()

        def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
            connector._guard(connector._from_app, message)

    return _Application()


class FIXConnector(BaseConnector):
    """Connector to a FIX 4.2 / 4.4 / 5.0 SP2 venue over QuickFIX."""

    connector_type = "fix"
    capabilities = CAPABILITIES
    settings_class = FIXSettings
    # The core's watchdog (see on_silence): QuickFIX alone drops a silent session only
    # after 2.4 HeartBtInt, past the two intervals a stall must be found in.
    #: An order the venue has no record of is declared never received only when it is
    #: still unknown this many seconds later: bytes written into a connection that stalled
    #: can reach the venue after the client has given that connection up and logged on again.
    unknown_order_grace: float = 2.0

    def __init__(self, router: Any = None, *, name: str | None = None, settings: Any = None,
                 **overrides: Any) -> None:
        super().__init__(name, router, settings=settings, **overrides)
        s: FIXSettings = self.settings
        self.version = s.version
        self.fix_counters: collections.Counter[str] = collections.Counter()
        self._connect_lock = threading.Lock()
        self._initiator: Any = None
        # QuickFIX keeps raw pointers to these: they must outlive the initiator.
        self._keep: tuple[Any, ...] = ()
        self._session_id: Any = None  # owned copy: outlives the session it names
        # Calls into the initiator's sessions from our threads; releasing waits for them.
        self._engine_guard = EngineGuard()
        self._unreleased: Any = None  # a stopped initiator a call still held at release
        self._qf_thread: int | None = None
        self._logged_on = threading.Event()
        self._logon_failed = threading.Event()
        # Ends a session exactly once when QuickFIX's onLogout and a stall race to it.
        self._session_end_lock = threading.Lock()
        self._sessions_ended = 0  # sessions ended while logged on
        # A stalled session was given up while QuickFIX still holds it: the next connect()
        # replaces the engine (see on_silence).
        self._retire_engine = False
        self._logout_reason: str | None = None
        self._stopping = False
        self._ids = itertools.count(1)
        self._tag = f"{os.getpid() % 1000:03d}{int(time.time()) % 100000:05d}"
        self._clordids: dict[str, str] = {}  # every ClOrdID we sent -> client order id
        self._current: dict[str, str] = {}  # client order id -> its current ClOrdID
        self._replaces: dict[str, tuple[float | None, float | None]] = {}
        self._sent_seq: collections.OrderedDict[int, tuple[str, str]] = \
            collections.OrderedDict()
        self._status_waits: dict[str, threading.Event] = {}
        self._status_answers: set[str] = set()  # ids answered since their request
        self._last_test_request = 0.0  # monotonic time of our last TestRequest
        # client order id -> monotonic time the venue first said it has no such order
        self._unseen_since: dict[str, float] = {}
        self._recheck_pending = threading.Event()
        self._subs: dict[str, _Subscription] = {}
        self._req_symbols: dict[str, str] = {}
        self._books: dict[str, Book] = {}
        self._seq = 0
        self._handlers: dict[str, Callable[[Any], None]] = {
            "8": self._on_execution_report, "W": self._on_snapshot, "X": self._on_incremental,
            "Y": self._on_md_reject, "9": self._on_cancel_reject,
            "j": self._on_business_reject,
        }
        log.info("%s: FIX connector %s %s->%s at %s:%d (store=%s)", self.name, s.version,
                 s.sender_comp_id, s.target_comp_id, s.host, s.port, s.store)

    # ================================================================== QuickFIX session
    def _config_text(self) -> str:
        s: FIXSettings = self.settings
        if s.session_config:
            return s.session_config
        store_path = ""
        if s.store == "file":
            store_path = s.store_path or default_store_path()
            os.makedirs(store_path, exist_ok=True)
        if s.log_path:
            os.makedirs(s.log_path, exist_ok=True)
        return build_config(
            role="initiator", version=s.version, sender_comp_id=s.sender_comp_id,
            target_comp_ids=[s.target_comp_id], host=s.host, port=s.port,
            heartbeat_interval=s.heartbeat_interval, reset_on_logon=s.resets_on_logon,
            store_path=store_path, log_path=s.log_path, data_dictionary=s.data_dictionary,
            reconnect_interval=s.reconnect_interval, sender_sub_id=s.sender_sub_id,
            target_sub_id=s.target_sub_id, extra=s.session_settings)

    def _start_initiator(self) -> None:
        s: FIXSettings = self.settings
        text = self._config_text()
        first = parse_first_session(text)
        self.version = next((v for v, b in (("FIX42", "FIX.4.2"), ("FIX44", "FIX.4.4"),
                                            ("FIX50SP2", "FIXT.1.1"))
                             if b == first["BeginString"]), s.version)
        qf_settings = fix.SessionSettings()
        qf_settings.setFromString(text)
        self._release_stopped()
        check_sessions_free(qf_settings)
        store = fix.FileStoreFactory(qf_settings) if "FileStorePath=" in text \
            else fix.MemoryStoreFactory()
        logs = fix.FileLogFactory(qf_settings) if "FileLogPath=" in text else None
        app = _make_application(self)
        initiator = fix.SocketInitiator(app, store, qf_settings, logs) if logs is not None \
            else fix.SocketInitiator(app, store, qf_settings)
        self._keep = (app, store, qf_settings, logs)
        self._logged_on.clear()
        self._logon_failed.clear()
        self._logout_reason = None
        self._stopping = False
        self._initiator = initiator
        self._engine_guard.open()
        initiator.start()
        log.debug("%s: QuickFIX initiator started", self.name)

    def _stop_initiator(self) -> None:
        """Log out (bounded), stop and release the initiator. Never on the QuickFIX thread."""
        initiator, self._initiator = self._initiator, None
        self._retire_engine = False
        if initiator is None:
            return
        self._stopping = True
        if self._logged_on.is_set():
            try:
                self._with_session(lambda session: session.logout("client disconnect"))
            except Exception:  # the session went away meanwhile
                pass
            deadline = time.monotonic() + self.settings.logout_timeout
            while self._logged_on.is_set() and time.monotonic() < deadline:
                self._logon_failed.wait(0.05)
        # force=True: the graceful stop polls for logouts once a second and, for an
        # acceptor, can crash; the Logout has been sent above.
        initiator.stop(True)
        log.debug("%s: QuickFIX initiator stopped", self.name)
        self._unreleased = initiator
        self._release_stopped()
        self._logged_on.clear()
        self._session_id = None

    def _release_stopped(self) -> None:
        """Delete the stopped initiator once no other thread is inside one of its sessions.
        Deleted now rather than whenever Python lets go of it: until then its session would
        shadow the next initiator's in QuickFIX's process-wide table."""
        initiator = self._unreleased
        if initiator is None:
            return
        if not self._engine_guard.close(_RELEASE_WAIT):
            log.error("%s: a call into the stopped FIX session did not return in %g s; "
                      "the session is released later", self.name, _RELEASE_WAIT)
            return
        self._unreleased = None
        release(initiator)

    def _with_session(self, call: Callable[[Any], _T]) -> _T | None:
        """``call(session)`` while the initiator cannot be released; None without one."""
        guard = self._engine_guard
        if not guard.enter():
            return None
        try:
            sid = self._session_id
            session = fix.Session.lookupSession(sid) if sid is not None else None
            return call(session) if session is not None else None
        finally:
            guard.leave()

    def connect(self) -> bool:
        """Log on (or wait for QuickFIX to log on again after a drop); True once CONNECTED.

        False (status ERROR, ``get_stats()['last_error']`` says why) when the Logon is
        refused or does not come within ``connect_timeout``.
        """
        if self._on_quickfix_thread():
            raise RuntimeError("connect() cannot run on the QuickFIX thread")
        with self._connect_lock:
            if self.is_connected and self._logged_on.is_set():
                return True
            s: FIXSettings = self.settings
            self.set_status(ConnectorStatus.CONNECTING)
            try:
                if self._retire_engine:
                    self._stop_initiator()
                if self._initiator is None:
                    self._start_initiator()
            except Exception as exc:
                self._initiator = None
                self.connect_failed(f"cannot start the FIX session: {exc}")
                return False
            if not self._logged_on.is_set():
                # What the last session said on its way out is not this attempt's story.
                self._logon_failed.clear()
                self._logout_reason = None
            deadline = time.monotonic() + s.connect_timeout
            while not self._logged_on.is_set() and time.monotonic() < deadline:
                if self.closing and self._stopping:
                    break
                if self._logon_failed.wait(min(0.05, max(deadline - time.monotonic(), 0))):
                    break
            ended = self._sessions_ended
            if self._logged_on.is_set():
                self.set_status(ConnectorStatus.CONNECTED)
                if self._sessions_ended != ended:
                    # It ended between its Logon and the line above; the loss is reported
                    # (RECONNECTING or ERROR), which CONNECTED must not overwrite.
                    self.set_status(ConnectorStatus.RECONNECTING if s.auto_reconnect
                                    else ConnectorStatus.ERROR, "FIX session lost on logon")
                    return False
                log.info("%s: logged on to %s:%d (%s)", self.name, s.host, s.port, self.version)
                return True
            if self._logout_reason:
                reason = self._logout_reason
            elif self._logon_failed.is_set():
                reason = f"no FIX Logon from {s.host}:{s.port}: the connection was refused " \
                         f"or closed before the Logon reply"
            else:
                reason = f"no FIX Logon from {s.host}:{s.port} within {s.connect_timeout:g}s"
            try:
                self._stop_initiator()
            except Exception:
                log.exception("%s: stopping the initiator failed", self.name)
            self.connect_failed(reason)
            return False

    def disconnect(self) -> None:
        """Log out, stop QuickFIX (bounded) and set DISCONNECTED."""
        if self._on_quickfix_thread():
            threading.Thread(target=self.disconnect, daemon=True,
                             name=f"{self.name}-disconnect").start()
            return
        with self._connect_lock:
            try:
                self._stop_initiator()
            finally:
                self._reset_market_data()
                self.set_status(ConnectorStatus.DISCONNECTED)

    def heartbeat_period(self) -> float:
        """HeartBtInt as sent on the wire (whole seconds, at least 1)."""
        return float(wire_heartbeat(self.settings.heartbeat_interval))

    def stale_after(self) -> float:
        """1.75 HeartBtInt: a live venue answers the TestRequest sent after one interval of
        quiet (:meth:`on_quiet`) within a round trip, so a stall is found inside two."""
        return 1.75 * self.heartbeat_period()

    def on_quiet(self, age: float) -> None:
        """No message for over one HeartBtInt: send a TestRequest (at most one per
        interval); the venue must answer it at once with a Heartbeat."""
        now = time.monotonic()
        if not self._logged_on.is_set() or now - self._last_test_request < \
                self.heartbeat_period():
            return
        self._last_test_request = now
        msg = fix.Message()
        msg.getHeader().setField(m.MSG_TYPE, "1")
        msg.setField(112, f"SF-{self._tag}-{next(self._ids)}")  # TestReqID
        if self._send(msg):
            self.fix_counters["test_requests_sent"] += 1

    def on_silence(self, age: float) -> None:
        """Nothing from the venue (not even a Heartbeat) for 1.75 HeartBtInt although a
        TestRequest went out: the link is stalled while QuickFIX still counts the session
        as logged on. Report it lost now; the reconnect replaces the engine.

        Not ``Session.disconnect()``: QuickFIX drops the socket from its monitor without a
        lock, safe only on its own thread, and would time the link out itself only after
        2.4 HeartBtInt. Stopping the engine closes the socket on QuickFIX's thread, and the
        message store keeps the sequence numbers for the next one."""
        reason = f"no message from the venue for {age:.1f} s (heartbeat " \
                 f"{self.heartbeat_period():g} s)"
        if not self._logged_on.is_set():
            super().on_silence(age)
            return
        if not self._end_session():
            return  # QuickFIX's onLogout got there first and reported it
        self.fix_counters["stalls_detected"] += 1
        log.warning("%s: %s; replacing the session", self.name, reason)
        self._retire_engine = True
        self._report_loss(reason)

    def is_connected_check(self) -> bool:
        """True when QuickFIX reports the session logged on."""
        if not self.is_connected:
            return False
        try:
            return bool(self._with_session(lambda session: session.isLoggedOn()))
        except Exception:
            return False

    def _on_quickfix_thread(self) -> bool:
        return self._qf_thread is not None and threading.get_ident() == self._qf_thread

    # ================================================================== callbacks
    def _guard(self, handler: Callable[[Any], None], arg: Any) -> None:
        try:
            handler(arg)
        except Exception as exc:  # never let anything reach QuickFIX's thread
            self.record_data_error("handler_error", f"{type(exc).__name__}: {exc}")

    def _on_create(self, session_id: Any) -> None:
        self._session_id = owned_session_id(session_id)

    def _on_logon(self, session_id: Any) -> None:
        self._qf_thread = threading.get_ident()
        self._session_id = owned_session_id(session_id)
        self._logout_reason = None
        self.fix_counters["logons"] += 1
        self.record_heartbeat()
        self._logged_on.set()
        log.debug("%s: onLogon", self.name)

    def _on_logout(self, session_id: Any) -> None:
        self.fix_counters["logouts"] += 1
        was_on = self._end_session()
        log.debug("%s: onLogout (was logged on: %s, stopping: %s)", self.name, was_on,
                  self._stopping)
        if not was_on or self._stopping:
            return
        self._report_loss(self._logout_reason or "FIX session lost")

    def _end_session(self) -> bool:
        """Mark the session ended; True if it was logged on (only one caller gets True)."""
        with self._session_end_lock:
            was_on = self._logged_on.is_set()
            self._logged_on.clear()
            self._sessions_ended += was_on
        self._logon_failed.set()
        # Nothing more will answer on this session: wake whoever waits for an answer.
        self._reset_market_data()
        for event in list(self._status_waits.values()):
            event.set()
        return was_on

    def _report_loss(self, reason: str) -> None:
        if not getattr(self.settings, "auto_reconnect", True):
            # Nobody will reconnect: stop QuickFIX's own retries (off this thread).
            threading.Thread(target=self._release_quietly, daemon=True,
                             name=f"{self.name}-release").start()
        self.handle_connection_error(reason)

    def _release_quietly(self) -> None:
        with self._connect_lock:
            try:
                self._stop_initiator()
            except Exception:
                log.exception("%s: stopping the initiator failed", self.name)

    def _to_admin(self, msg: Any) -> None:
        msg_type = msg.getHeader().getField(m.MSG_TYPE)
        if msg_type == "A":
            s: FIXSettings = self.settings
            if s.username is not None:
                msg.setField(553, s.username.reveal())
            if s.password is not None:
                msg.setField(554, s.password.reveal())
        elif msg_type == "3":
            # QuickFIX is rejecting a message the venue sent (bad field, enum, group...).
            text = msg.getField(m.TEXT) if msg.isSetField(m.TEXT) else "invalid message"
            self.record_data_error("invalid_message", text)

    def _from_admin(self, msg: Any) -> None:
        msg_type = msg.getHeader().getField(m.MSG_TYPE)
        self.record_heartbeat()
        if msg_type == "5":
            text = msg.getField(m.TEXT) if msg.isSetField(m.TEXT) else "logout"
            if not self._logged_on.is_set():
                self._logout_reason = f"logon refused by the venue: {text}"
                self._logon_failed.set()
            else:
                self._logout_reason = f"venue logged out: {text}"
        elif msg_type == "3":
            self._on_session_reject(msg)
        elif msg_type == "4" and msg.isSetField(123) and msg.getField(123) == "Y":
            self._on_gap_fill(msg)

    def _on_gap_fill(self, msg: Any) -> None:
        """The venue answered a resend with a gap fill: it chose not to resend those
        messages (session messages always, stale application messages by policy), and they
        may have held executions. Count it and reconcile open orders (off this thread).
        Not a sequence gap in the data sense: nothing was lost on the wire."""
        first = int(msg.getHeader().getField(34))
        new_seq = int(msg.getField(36))
        if new_seq <= first:
            return
        self.fix_counters["gap_fills"] += 1
        self.fix_counters["messages_gap_filled"] += new_seq - first
        if self.open_orders():
            threading.Thread(target=self._reconcile_quietly, daemon=True,
                             name=f"{self.name}-gap-reconcile").start()

    def _reconcile_quietly(self) -> None:
        try:
            self.reconcile_orders(self.settings.request_timeout)
        except Exception:
            log.exception("%s: reconciliation after a gap fill failed", self.name)

    def _to_app(self, msg: Any) -> bool:
        """True: do not send (a stale order/cancel/replace in a resend)."""
        try:
            header = msg.getHeader()
            msg_type = header.getField(m.MSG_TYPE)
            if msg_type not in ("D", "F", "G"):
                return False
            if header.isSetField(43) and header.getField(43) == "Y":
                if not self.settings.resend_orders:
                    self.fix_counters["stale_orders_gap_filled"] += 1
                    return True
                return False
            cl_ord_id = msg.getField(m.CL_ORD_ID)
            seq = int(header.getField(34))
            sent = self._sent_seq
            sent[seq] = (msg_type, cl_ord_id)
            if len(sent) > _SENT_SEQ_KEPT:
                sent.popitem(last=False)
        except Exception as exc:
            self.record_data_error("handler_error", f"toApp: {exc}")
        return False

    def _from_app(self, msg: Any) -> None:
        self.stats.updates_received += 1
        msg_type = msg.getHeader().getField(m.MSG_TYPE)
        handler = self._handlers.get(msg_type)
        if handler is None:
            self.record_data_error("unsupported_message", msg_type)
            return
        try:
            handler(msg)
        except m.DecodeError as exc:
            self.record_data_error(exc.kind, f"{msg_type}: {exc.detail}")
        except fix.FieldNotFound as exc:
            self.record_data_error("missing_field", f"{msg_type}: {exc}")

    # ================================================================== orders
    def _client_id(self, cl_ord_id: str | None, orig: str | None = None) -> str | None:
        ids = self._clordids
        cid = ids.get(cl_ord_id) if cl_ord_id else None
        if cid is None and orig:
            cid = ids.get(orig)
        return cid

    def _new_cl_ord_id(self, cid: str, kind: str) -> str:
        return f"{cid}-{kind}{next(self._ids)}"

    def _send(self, msg: Any) -> bool:
        if not self._logged_on.is_set():
            return False
        guard = self._engine_guard
        if not guard.enter():
            return False
        try:
            sid = self._session_id
            return sid is not None and bool(fix.Session.sendToTarget(msg, sid))
        except fix.SessionNotFound:
            return False
        finally:
            guard.leave()

    def _require_connected(self) -> None:
        if not self.is_connected or not self._logged_on.is_set():
            raise NotConnectedError(f"{self.name} is not connected ({self.status.value})")

    def submit_order(self, order: Order) -> None:
        """Send a NewOrderSingle; the client order id is the ClOrdID."""
        cid = order.client_order_id
        self._clordids[cid] = cid
        self._current[cid] = cid
        try:
            msg = m.encode_new_order(order, cid, self.version, self.settings.account)
        except (KeyError, ValueError) as exc:
            raise OrderNotSentError(str(exc), order) from exc
        if not self._send(msg):
            # Not on the wire (QuickFIX keeps it only to gap-fill a resend): definite.
            raise NotConnectedError(f"{self.name} session is not logged on")

    def submit_cancel(self, order: Order) -> bool:
        """Send an OrderCancelRequest."""
        self._require_connected()
        cid = order.client_order_id
        new_id = self._new_cl_ord_id(cid, "C")
        self._clordids[new_id] = cid
        msg = m.encode_cancel(order, new_id, self._current.get(cid, cid), self.version)
        return self._send(msg)

    def submit_replace(self, order: Order, quantity: float | None,
                       price: float | None) -> bool:
        """Send an OrderCancelReplaceRequest with a new quantity and/or price."""
        self._require_connected()
        cid = order.client_order_id
        new_id = self._new_cl_ord_id(cid, "R")
        self._clordids[new_id] = cid
        self._replaces[new_id] = (quantity, price)
        msg = m.encode_replace(order, new_id, self._current.get(cid, cid), self.version,
                               quantity=quantity, price=price, account=self.settings.account)
        return self._send(msg)

    def request_order_states(self, orders: list[Order], timeout: float) -> set[str]:
        """OrderStatusRequest (H) for each order; the venue's ExecutionReports (fills
        re-reported with their ExecIDs, then a status) go through the state machine, with
        fills de-duplicated by ExecID; a venue that answers with the totals alone has what
        its CumQty adds booked as one fill. Returns the ids the venue answered for; stops
        waiting when the session ends."""
        if not self._logged_on.is_set():
            return set()
        waits: dict[str, threading.Event] = {}
        for order in orders:
            cid = order.client_order_id
            self._status_answers.discard(cid)
            event = threading.Event()
            self._status_waits[cid] = event
            waits[cid] = event
            self._clordids.setdefault(cid, cid)
            msg = m.encode_status_request(order, self._current.get(cid, cid), self.version)
            if not self._send(msg):
                break
        deadline = time.monotonic() + timeout
        for event in waits.values():
            event.wait(max(deadline - time.monotonic(), 0.0))
        answered = {cid for cid in waits if cid in self._status_answers}
        for cid in waits:
            self._status_waits.pop(cid, None)
            self._status_answers.discard(cid)
        self.fix_counters["status_requests"] += len(waits)
        return answered

    # -- venue reports (QuickFIX thread) ---------------------------------------------------
    def _on_execution_report(self, msg: Any) -> None:
        report = m.decode_execution_report(msg)
        cid = self._client_id(report.cl_ord_id, report.orig_cl_ord_id)
        if cid is None:
            self.record_data_error("unknown_order", report.cl_ord_id[:60])
            return
        order = self.orders.get(cid)
        if order is None:
            self.record_data_error("unknown_order", cid)
            return
        if report.order_id:
            self.bind_venue_order_id(cid, report.order_id)
        exec_type = report.exec_type
        if report.is_trade:
            if self._counted_by_status(order, report):
                self.stats.duplicate_fills += 1
                self.fix_counters["fills_known_from_status"] += 1
            else:
                self.apply_execution(cid, Fill(report.exec_id, report.last_qty, report.last_px,
                                            venue_order_id=report.order_id))
        elif exec_type == "5" and report.cl_ord_id in self._replaces:
            self._apply_replace(order, report)
        elif exec_type == "I":
            self._apply_status_report(order, report)
        else:
            status, reason = m.exec_report_status(report)
            if status is not None and not (status is OrderStatus.SUBMITTED and order.fills):
                self.apply_order_status(cid, status, venue_order_id=report.order_id,
                                        reason=reason, cum_qty=report.cum_qty)
        if report.cl_ord_id != cid and exec_type in ("4", "5") \
                and self._clordids.get(report.cl_ord_id) == cid:
            self._current[cid] = report.cl_ord_id

    def _apply_replace(self, order: Order, report: m.ExecReport) -> None:
        quantity, price = self._replaces.pop(report.cl_ord_id, (None, None))
        new_qty = report.order_qty if report.order_qty else quantity
        new_px = report.price if report.price else price
        self._current[order.client_order_id] = report.cl_ord_id
        self.apply_replace(order.client_order_id, quantity=new_qty, price=new_px)

    @staticmethod
    def _counted_by_status(order: Order, report: m.ExecReport) -> bool:
        """True for a new ExecID whose CumQty the order's filled quantity already covers:
        its quantity was booked from a status answer while this report was away (it comes
        now as a resend), so applying it would count the same shares twice."""
        if report.cum_qty is None or order.filled_quantity < report.cum_qty - 1e-9:
            return False
        return not order.has_fill(report.exec_id)

    def _book_cumulative(self, order: Order, report: m.ExecReport) -> None:
        """Book what a status answer's CumQty says was filled beyond the executions we
        have (many venues answer an OrderStatusRequest with the totals alone), priced so
        that the order's average matches AvgPx."""
        cum = report.cum_qty
        if cum is None or cum <= order.filled_quantity + 1e-9:
            return
        missing = cum - order.filled_quantity
        seen = sum(f.quantity * f.price for f in order.fills)
        avg = report.avg_px or 0.0
        price = (avg * cum - seen) / missing if avg > 0 else 0.0
        if not (price > 0 and math.isfinite(price)):
            self.record_data_error("bad_status", f"{order.client_order_id}: CumQty {cum:g} "
                                   f"without a usable AvgPx ({report.avg_px})")
            return
        venue_id = report.order_id or order.client_order_id
        self.fix_counters["fills_from_status"] += 1
        self.apply_execution(order.client_order_id, Fill(f"{venue_id}:cum:{cum:g}", missing,
                                                      price, venue_order_id=report.order_id))

    def _apply_status_report(self, order: Order, report: m.ExecReport) -> None:
        cid = order.client_order_id
        self._book_cumulative(order, report)
        text = (report.text or "").lower()
        if report.ord_status == "8" and "unknown" in text and not order.fills:
            first = self._unseen_since.setdefault(cid, time.monotonic())
            if time.monotonic() - first < self.unknown_order_grace:
                # Not yet a verdict: the order may still be in bytes the venue has not read.
                self.fix_counters["unknown_order_rechecks"] += 1
                self._schedule_recheck()
                event = self._status_waits.get(cid)
                if event is not None:
                    event.set()  # answered, but not settled: stays of unknown outcome
                return
            self._unseen_since.pop(cid, None)
            self.apply_order_status(cid, OrderStatus.REJECTED,
                                    reason="the venue has no record of this order")
        else:
            self._unseen_since.pop(cid, None)
            status, reason = m.exec_report_status(report)
            if status is not None and status is not order.status \
                    and not (status is OrderStatus.SUBMITTED and order.fills):
                self.apply_order_status(cid, status, venue_order_id=report.order_id,
                                        reason=reason, cum_qty=report.cum_qty)
        event = self._status_waits.get(cid)
        if event is not None:
            self._status_answers.add(cid)
            event.set()

    def _schedule_recheck(self) -> None:
        """Reconcile again once ``unknown_order_grace`` has passed (one thread at a time,
        never on QuickFIX's thread)."""
        if self._recheck_pending.is_set():
            return
        self._recheck_pending.set()

        def recheck() -> None:
            try:
                if not self.wait_closing(self.unknown_order_grace) and self.is_connected:
                    self.reconcile_orders()
            except Exception as exc:  # the link went again: the next reconnect reconciles
                log.info("%s: recheck of unknown orders failed: %s", self.name, exc)
            finally:
                self._recheck_pending.clear()

        threading.Thread(target=recheck, daemon=True, name=f"{self.name}-recheck").start()

    def _on_cancel_reject(self, msg: Any) -> None:
        cl_ord_id, orig, _ord_status, reason = m.decode_cancel_reject(msg)
        cid = self._client_id(cl_ord_id, orig)
        if cid is None or cid not in self.orders:
            self.record_data_error("unknown_order", cl_ord_id[:60])
            return
        self._replaces.pop(cl_ord_id, None)
        self.fix_counters["cancel_rejects"] += 1
        self.reject_cancel(cid, reason)

    def _on_business_reject(self, msg: Any) -> None:
        ref_type, _ref_seq, ref_id, text = m.decode_business_reject(msg)
        cid = self._client_id(ref_id) if ref_id else None
        self.fix_counters["business_rejects"] += 1
        if cid is not None and ref_type == "D":
            self.apply_order_status(cid, OrderStatus.REJECTED,
                                    reason=f"business reject: {text}")
        elif cid is not None and ref_type in ("F", "G"):
            self.reject_cancel(cid, text)
        else:
            self.record_data_error("business_reject", f"{ref_type}: {text}")

    def _on_session_reject(self, msg: Any) -> None:
        seq, text = m.decode_session_reject(msg)
        self.fix_counters["session_rejects"] += 1
        sent = self._sent_seq.get(seq) if seq is not None else None
        cid = self._client_id(sent[1]) if sent else None
        if sent is not None and cid is not None and sent[0] == "D":
            self.apply_order_status(cid, OrderStatus.REJECTED,
                                    reason=f"session reject: {text}")
        elif sent is not None and cid is not None:
            self.reject_cancel(cid, text)
        else:
            self.record_data_error("session_reject", text)

    # ================================================================== market data
    def _reset_market_data(self) -> None:
        """The session is gone: every venue subscription with it (resubscribe restores)."""
        for sub in list(self._subs.values()):
            sub.active = False
            sub.ready.set()
        self._subs = {}
        self._req_symbols = {}
        self._books = {}

    def _subscribe(self, symbol: str, *, price: bool = False, depth: int = 0) -> bool:
        if not isinstance(symbol, str) or not symbol.strip():
            raise SubscriptionError(f"{self.name}: bad symbol {symbol!r}")
        self._require_connected()
        sub = self._subs.get(symbol)
        if sub is not None and sub.active:
            sub.price = sub.price or price
            sub.depth = max(sub.depth, depth)
            return True
        req_id = f"MD{self._tag}-{next(self._ids)}"
        sub = _Subscription(symbol, req_id)
        sub.price, sub.depth = price, depth
        self._req_symbols[req_id] = symbol
        self._subs[symbol] = sub
        msg = m.encode_md_request(req_id, symbol, self.version, subscribe=True,
                                  depth=self.settings.market_depth)
        if not self._send(msg):
            self._subs.pop(symbol, None)
            raise NotConnectedError(f"{self.name}: market data request for {symbol} not sent")
        if not sub.ready.wait(self.settings.request_timeout):
            self._subs.pop(symbol, None)
            raise SubscriptionError(f"{self.name}: no market data for {symbol} within "
                                    f"{self.settings.request_timeout:g}s")
        if sub.error is not None:
            self._subs.pop(symbol, None)
            self._req_symbols.pop(req_id, None)
            raise SubscriptionError(f"{self.name}: market data for {symbol} refused: "
                                    f"{sub.error}")
        if not sub.active:  # woken by the session's end
            raise NotConnectedError(f"{self.name}: the FIX session ended before market data "
                                    f"for {symbol} came")
        return True

    def subscribe_price(self, symbol: str) -> bool:
        """Snapshot + updates (V, 263=1) for ``symbol``: W/X build the book -> PriceTick."""
        self._subscribe(symbol, price=True)
        self.record_subscription(DataType.PRICE_TICK, symbol)
        return True

    def subscribe_orderbook(self, symbol: str, depth: int = 10) -> bool:
        """Book updates for ``symbol``: OrderBookSnapshot of the top ``depth`` levels."""
        depth = max(1, int(depth))
        self._subscribe(symbol, depth=depth)
        self.record_subscription(DataType.ORDERBOOK_SNAPSHOT, symbol, depth=depth)
        return True

    def subscribe_news(self) -> bool:
        """FIX market data here carries no news."""
        return False

    def subscribe_macro(self) -> bool:
        """FIX market data here carries no macro releases."""
        return False

    def unsubscribe(self, symbol: str) -> None:
        """Unsubscribe (V, 263=2) and forget the subscription."""
        sub = self._subs.pop(symbol, None)
        self.forget_subscriptions(symbol)
        if sub is None:
            return
        sub.active = False
        self._req_symbols.pop(sub.req_id, None)
        self._books.pop(symbol, None)
        if self._logged_on.is_set():
            self._send(m.encode_md_request(sub.req_id, symbol, self.version, subscribe=False,
                                           depth=self.settings.market_depth))

    def _publish(self, sub: _Subscription, book: Book, trades: list[Any], ts: int) -> None:
        symbol = sub.symbol
        name = self.name
        if sub.depth:
            self._seq += 1
            self.push_update(MarketUpdate(DataType.ORDERBOOK_SNAPSHOT, symbol, name,
                                          book.snapshot(sub.depth, ts), self._seq, ts, ts))
        if sub.price:
            tick = book.tick(ts)
            if tick is not None:
                self._seq += 1
                self.push_update(MarketUpdate(DataType.PRICE_TICK, symbol, name, tick,
                                              self._seq, ts, ts))
        for trade in trades:
            self._seq += 1
            self.push_update(MarketUpdate(DataType.TRADE, symbol, name, trade, self._seq,
                                          ts, ts))

    def _on_snapshot(self, msg: Any) -> None:
        symbol, _req_id, entries = m.decode_md_snapshot(msg)
        sub = self._subs.get(symbol)
        if sub is None or not sub.active:
            self.fix_counters["md_after_unsubscribe"] += 1
            return
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = Book(symbol)
        trades = book.apply_snapshot(entries)
        sub.ready.set()
        self._publish(sub, book, trades, now_ns())

    def _on_incremental(self, msg: Any) -> None:
        req_id, entries = m.decode_md_incremental(msg)
        default = self._req_symbols.get(req_id) if req_id else None
        by_symbol: dict[str, list[Any]] = {}
        for entry in entries:
            symbol = entry.symbol or default
            if symbol is None:
                raise m.DecodeError("missing_field", "Symbol (55) in an X entry")
            by_symbol.setdefault(symbol, []).append(entry)
        ts = now_ns()
        for symbol, items in by_symbol.items():
            sub = self._subs.get(symbol)
            book = self._books.get(symbol)
            if sub is None or book is None:
                self.fix_counters["md_after_unsubscribe"] += 1
                continue
            try:
                trades = book.apply(items)
            except BookError as exc:
                self.record_data_error(exc.kind, symbol)
                trades = []
            if book.is_crossed:
                self.record_data_error("crossed_book", symbol)
                continue
            self._publish(sub, book, trades, ts)

    def _on_md_reject(self, msg: Any) -> None:
        req_id, reason = m.decode_md_reject(msg)
        symbol = self._req_symbols.pop(req_id, None)
        sub = self._subs.get(symbol) if symbol else None
        self.fix_counters["md_rejects"] += 1
        if sub is None:
            self.record_data_error("md_reject", f"{req_id}: {reason}")
            return
        sub.error = reason
        sub.active = False
        sub.ready.set()

    # ================================================================== normalizers
    def on_price_tick(self, data: Any) -> MarketUpdate | None:
        """A PriceTick from a mapping (symbol, bid, ask, last, sizes) or a ``Book``."""
        ts = now_ns()
        if isinstance(data, Book):
            tick = data.tick(ts)
            if tick is None:
                self.record_data_error("empty_book", data.symbol)
                return None
            return self._next(DataType.PRICE_TICK, data.symbol, tick, ts)
        if not isinstance(data, dict) or not isinstance(data.get("symbol"), str) \
                or not data.get("symbol"):
            self.record_data_error("bad_quote", type(data).__name__)
            return None
        values: dict[str, float | None] = {}
        for key in ("bid", "ask", "last", "bid_size", "ask_size", "last_size", "volume"):
            value = data.get(key)
            if value is None:
                values[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0 \
                    or (value == 0 and key in ("bid", "ask", "last")):
                self.record_data_error("bad_quote", f"{key}={value!r}"[:80])
                return None
            values[key] = float(value)
        if values["bid"] is None and values["ask"] is None and values["last"] is None:
            self.record_data_error("bad_quote", "no price")
            return None
        bid, ask = values["bid"], values["ask"]
        if bid is not None and ask is not None and bid > ask:
            self.record_data_error("crossed_quote", data["symbol"])
            return None
        from stockfish_core.models import PriceTick

        tick = PriceTick(data["symbol"], ts_event=ts, **values)
        return self._next(DataType.PRICE_TICK, data["symbol"], tick, ts)

    def on_orderbook(self, data: Any) -> MarketUpdate | None:
        """An OrderBookSnapshot from a ``Book`` or a mapping symbol/bids/asks of
        (price, size) pairs."""
        ts = now_ns()
        if isinstance(data, Book):
            book = data
        elif isinstance(data, dict) and isinstance(data.get("symbol"), str) \
                and data.get("symbol") and isinstance(data.get("bids"), (list, tuple)) \
                and isinstance(data.get("asks"), (list, tuple)):
            book = Book(data["symbol"])
            try:
                for kind, levels in ((BID, data["bids"]), (OFFER, data["asks"])):
                    for price, size in levels:
                        p, q = float(price), float(size)
                        if not (p > 0 and q > 0 and p != float("inf") and q != float("inf")):
                            raise ValueError(f"level {price!r}/{size!r}")
                        book.set_level(kind, p, q)
            except (TypeError, ValueError) as exc:
                self.record_data_error("bad_book", str(exc)[:80])
                return None
        else:
            self.record_data_error("bad_book", type(data).__name__)
            return None
        if book.is_crossed:
            self.record_data_error("crossed_book", book.symbol)
            return None
        return self._next(DataType.ORDERBOOK_SNAPSHOT, book.symbol, book.snapshot(0, ts), ts)

    def on_news(self, data: Any) -> MarketUpdate | None:
        """A NewsEvent from a mapping with a headline (FIX News (B) is not subscribed)."""
        if not isinstance(data, dict) or not isinstance(data.get("headline"), str) \
                or not data["headline"].strip():
            self.record_data_error("bad_news", type(data).__name__)
            return None
        ts = now_ns()
        return self._next(DataType.NEWS, "", NewsEvent(headline=data["headline"].strip(),
                                                       source="FIX", ts_event=ts), ts)

    def on_macro(self, data: Any) -> MarketUpdate | None:
        """FIX has no macro feed here: counted and rejected."""
        self.record_data_error("macro_unsupported", type(data).__name__)
        return None

    def _next(self, data_type: DataType, symbol: str, payload: Any, ts: int) -> MarketUpdate:
        self._seq += 1
        return MarketUpdate(data_type, symbol, self.name, payload, self._seq, ts, ts)

    # ================================================================== views
    def book(self, symbol: str) -> Book | None:
        """The maintained book of ``symbol`` (read-only use; QuickFIX's thread writes it)."""
        return self._books.get(symbol)

    def sequence_numbers(self) -> tuple[int, int] | None:
        """(next sender, next target) MsgSeqNum of the session, or None without one."""
        try:
            return self._with_session(lambda session: (int(session.getExpectedSenderNum()),
                                                       int(session.getExpectedTargetNum())))
        except Exception:
            return None

    def get_stats(self) -> dict[str, Any]:
        stats = super().get_stats()
        stats["fix"] = {"version": self.version, **dict(self.fix_counters)}
        return stats
