"""The QuickFIX session of the ``fix`` connector: the engine's lifetime, logon and logout,
liveness (TestRequest, stall detection) and the Application callbacks.

Threading: QuickFIX runs the session (socket, logon, heartbeats, test requests, sequence
numbers, resends, gap fills) in its own thread and calls our Application there. Every
callback is wrapped: nothing raised in it reaches QuickFIX, and nothing in it blocks (no
waits, no ``stop()``). Public methods run on the caller's thread; ``sendToTarget`` is
thread-safe.

Who owns reconnection: the core. A drop (``onLogout`` while connected) calls
``handle_connection_error``, whose ``reconnect()`` loop (backoff, attempts, then resubscribe
and reconcile) calls :meth:`FIXSession.connect` again. The initiator is kept alive across
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
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import quickfix as fix
from stockfish_core.enums import ConnectorStatus
from stockfish_core.errors import NotConnectedError
from stockfish_core.models import now_ns

from stockfish_fix import messages as m
from stockfish_fix.lifetime import EngineGuard, check_sessions_free, owned_session_id, release
from stockfish_fix.session_config import (
    build_config,
    default_store_path,
    parse_first_session,
    wire_heartbeat,
)
from stockfish_fix.settings import FIXSettings
from stockfish_fix.storage import MaskedLogFactory, private_dir, privatize, session_prefix

if TYPE_CHECKING:
    from stockfish_core.connector_stats import ConnectorStats

__all__ = ["FIXSession"]

log = logging.getLogger(__name__)

_SENT_SEQ_KEPT = 20_000  # outgoing MsgSeqNum -> order, to attribute session Rejects
_RELEASE_WAIT = 5.0  # s a stopped session waits for calls still inside it
_REFUSED = "logon refused by the venue"
# QuickFIX's (and most engines') Logout text for a MsgSeqNum below the expected one.
_SEQ_TOO_LOW = re.compile(r"MsgSeqNum too low, expecting (\d+) but received (\d+)")
_T = TypeVar("_T")


def _make_application(connector: FIXSession) -> Any:
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


class FIXSession:
    """The session role of :class:`~stockfish_fix.connector.FIXConnector` (a mixin over
    ``BaseConnector``): everything between the socket and the application messages."""

    if TYPE_CHECKING:  # provided by BaseConnector and the other roles
        name: str
        settings: Any
        stats: ConnectorStats
        version: str
        fix_counters: collections.Counter[str]
        _status_waits: dict[str, threading.Event]
        _handlers: dict[str, Callable[[Any], None]]

        @property
        def is_connected(self) -> bool: ...
        @property
        def closing(self) -> bool: ...
        @property
        def status(self) -> ConnectorStatus: ...
        def set_status(self, status: ConnectorStatus, reason: str | None = None) -> bool: ...
        def stop_reconnecting(self, reason: str) -> None: ...
        def wait_closing(self, timeout: float) -> bool: ...
        def _mark_all_stale(self, cause: str) -> None: ...
        def connect_failed(self, reason: str) -> bool: ...
        def handle_connection_error(self, error: BaseException | str) -> None: ...
        def record_data_error(self, kind: str, detail: str | None = None) -> None: ...
        def record_heartbeat(self) -> None: ...
        def open_orders(self) -> list[Any]: ...
        def reconcile_orders(self, timeout: float = 5.0, orders: Any = None) -> Any: ...
        def _reset_market_data(self) -> None: ...
        def _on_session_reject(self, msg: Any) -> None: ...

    def _init_session(self) -> None:
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
        self._sent_seq: collections.OrderedDict[int, tuple[str, str]] = \
            collections.OrderedDict()
        self._last_test_request = 0.0  # monotonic time of our last TestRequest
        self._logon_refusals = 0  # Logons the venue refused in a row
        self._refused_at = 0.0  # monotonic time of the last refused Logon
        # ("venue" | "ours", expected, received) when a Logout said MsgSeqNum too low
        self._seq_mismatch: tuple[str, int, int] | None = None
        self._reset_next_logon = False  # on_seq_mismatch: reset -> the next Logon has 141=Y
        self._files: list[tuple[str, str]] = []  # (directory, session prefix) to keep private

    def _config_text(self) -> str:
        """The QuickFIX configuration; the directories it names exist and are private.
        Message bodies are kept in the file store only when ``resend_orders`` needs them:
        otherwise the Logon, with its password, would be on disk."""
        s: FIXSettings = self.settings
        if s.session_config:
            text = s.session_config
            first = parse_first_session(text)
            if first.get("FileStorePath") and first.get("PersistMessages", "Y") != "N" \
                    and (s.username or s.password):
                raise ValueError("session_config keeps message bodies in the file store "
                                 "(PersistMessages is not N), the Logon's credentials "
                                 "included: set PersistMessages=N")
            for key in ("FileStorePath", "FileLogPath"):
                if first.get(key):
                    private_dir(first[key])
            return text
        store_path = ""
        if s.store == "file":
            store_path = private_dir(s.store_path or default_store_path())
        log_path = private_dir(s.log_path) if s.log_path else ""
        return build_config(
            role="initiator", version=s.version, sender_comp_id=s.sender_comp_id,
            target_comp_ids=[s.target_comp_id], host=s.host, port=s.port,
            heartbeat_interval=s.heartbeat_interval, reset_on_logon=s.resets_on_logon,
            store_path=store_path, log_path=log_path, data_dictionary=s.data_dictionary,
            reconnect_interval=s.reconnect_interval, sender_sub_id=s.sender_sub_id,
            target_sub_id=s.target_sub_id, extra=s.session_settings,
            persist_messages=s.resend_orders)

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
        store = fix.FileStoreFactory(qf_settings) if first.get("FileStorePath") \
            else fix.MemoryStoreFactory()
        log_dir = first.get("FileLogPath")
        logs = MaskedLogFactory(log_dir) if log_dir else None
        prefix = session_prefix(first)
        self._files = [(d, prefix) for d in (first.get("FileStorePath"), log_dir) if d]
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
        self._privatize_files()
        log.debug("%s: QuickFIX initiator started", self.name)

    def _privatize_files(self) -> None:
        """Files QuickFIX made for the session (store, logs) to 0600: it creates them with
        the umask, at start and again when a sequence reset re-creates the store."""
        for directory, prefix in self._files:
            privatize(directory, prefix)

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
        # Its thread is gone, and the ident may be handed to the next thread made (a
        # caller of connect() among them): no longer QuickFIX's.
        self._qf_thread = None
        self._unreleased = (initiator, self._keep[3] if len(self._keep) > 3 else None)
        self._release_stopped()
        self._logged_on.clear()
        self._session_id = None

    def _release_stopped(self) -> None:
        """Delete the stopped initiator once no other thread is inside one of its sessions.
        Deleted now rather than whenever Python lets go of it: until then its session would
        shadow the next initiator's in QuickFIX's process-wide table."""
        if self._unreleased is None:
            return
        initiator, logs = self._unreleased
        if not self._engine_guard.close(_RELEASE_WAIT):
            log.error("%s: a call into the stopped FIX session did not return in %g s; "
                      "the session is released later", self.name, _RELEASE_WAIT)
            return
        self._unreleased = None
        release(initiator)
        if logs is not None:
            logs.close()

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
        refused or does not come within ``connect_timeout``. Refused Logons in a row
        (``max_logon_refusals``) and sequence numbers out of step (``on_seq_mismatch:
        fail``) also stop the reconnect loop: retrying cannot cure them.
        """
        if self._on_quickfix_thread():
            raise RuntimeError("connect() cannot run on the QuickFIX thread")
        with self._connect_lock:
            if self.is_connected and self._logged_on.is_set():
                return True
            self.set_status(ConnectorStatus.CONNECTING)
            outcome = self._attempt_logon()
            if outcome == "reset":  # on_seq_mismatch: reset -> log on again with 141=Y
                self.fix_counters["seq_resets"] += 1
                log.warning("%s: logging on again with ResetSeqNumFlag=Y (on_seq_mismatch: "
                            "reset)", self.name)
                outcome = self._attempt_logon()
            return outcome == "ok"

    def _attempt_logon(self) -> str:
        """One Logon: ``ok``, ``failed`` (reported) or ``reset`` (sequence numbers out of
        step and the policy is to reset them: the caller tries once more)."""
        s: FIXSettings = self.settings
        if self._logon_refusals and self._initiator is None:
            pause = self._refused_at + s.logon_refusal_delay - time.monotonic()
            if pause > 0 and self.wait_closing(pause):
                self.connect_failed("closed while waiting to log on again")
                return "failed"
        try:
            if self._retire_engine:
                self._stop_initiator()
            if self._initiator is None:
                self._start_initiator()
        except Exception as exc:
            self._initiator = None
            self.connect_failed(f"cannot start the FIX session: {exc}")
            return "failed"
        if not self._logged_on.is_set():
            # What the last session said on its way out is not this attempt's story.
            self._logon_failed.clear()
            self._logout_reason = None
            self._seq_mismatch = None
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
                return "failed"
            self._logon_refusals = 0
            self.stats.last_error = None  # recovered: the last failure is history
            log.info("%s: logged on to %s:%d (%s)", self.name, s.host, s.port, self.version)
            return "ok"
        numbers = self.sequence_numbers()
        mismatch = self._seq_mismatch
        if mismatch is not None:
            reason = self._mismatch_reason(*mismatch)
        elif self._logout_reason:
            reason = self._logout_reason
        elif self._logon_failed.is_set():
            reason = f"no FIX Logon from {s.host}:{s.port}: the connection was refused " \
                     f"or closed before the Logon reply"
            if numbers is not None:
                reason += f" (our Logon had MsgSeqNum {numbers[0] - 1}: a venue expecting " \
                          f"a higher one may drop it without a word)"
        else:
            reason = f"no FIX Logon from {s.host}:{s.port} within {s.connect_timeout:g}s"
        try:
            self._stop_initiator()
        except Exception:
            log.exception("%s: stopping the initiator failed", self.name)
        if mismatch is not None and s.on_seq_mismatch == "reset" and not self._reset_next_logon:
            self._reset_next_logon = True
            log.warning("%s: %s", self.name, reason)
            return "reset"
        if mismatch is not None:
            self.stop_reconnecting(reason)
        elif self._logout_reason and self._logout_reason.startswith(_REFUSED):
            self._logon_refusals += 1
            self._refused_at = time.monotonic()
            if self._logon_refusals >= s.max_logon_refusals:
                reason = f"{reason} ({self._logon_refusals} Logons refused in a row: not " \
                         f"retrying; connect() tries again)"
                self.stop_reconnecting(reason)
        self.connect_failed(reason)
        return "failed"

    def _mismatch_reason(self, side: str, expected: int, received: int) -> str:
        if side == "venue":  # the venue refused the MsgSeqNum of our Logon
            what = f"the venue expects MsgSeqNum {expected} from us but our Logon had " \
                   f"{received} (our sequence numbers were reset or our store lost)"
        else:  # our QuickFIX refused the venue's
            what = f"we expect MsgSeqNum {expected} from the venue but it sent {received} " \
                   f"(the venue reset its sequence numbers)"
        return f"FIX sequence numbers out of step: {what}. Remedy: agree a reset with the " \
               f"venue and log on once with reset_on_logon: true, or set on_seq_mismatch: " \
               f"reset to do it automatically"

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
        self._seq_mismatch = None
        self._reset_next_logon = False
        self._privatize_files()
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
            if self._reset_next_logon:
                msg.setField(141, "Y")  # QuickFIX resets our numbers to 1 on seeing it
        elif msg_type == "5":
            # Our own Logout: QuickFIX refusing the venue's MsgSeqNum says so in its Text.
            self._note_seq_mismatch("ours", msg)
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
                self._note_seq_mismatch("venue", msg)
                self._logout_reason = f"{_REFUSED}: {text}"
                self._logon_failed.set()
            else:
                self._logout_reason = f"venue logged out: {text}"
        elif msg_type == "3":
            self._on_session_reject(msg)
        elif msg_type == "4" and msg.isSetField(123) and msg.getField(123) == "Y":
            self._on_gap_fill(msg)

    def _note_seq_mismatch(self, side: str, msg: Any) -> None:
        """Remember a Logout that says a MsgSeqNum was too low (``side``: whose number was
        refused, the venue refusing ours or ours refusing the venue's)."""
        text = msg.getField(m.TEXT) if msg.isSetField(m.TEXT) else ""
        found = _SEQ_TOO_LOW.search(text)
        if found is not None:
            self._seq_mismatch = (side, int(found.group(1)), int(found.group(2)))
            self.fix_counters["seq_mismatches"] += 1

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
        # Market data may have been in the gap: every book is re-requested.
        self._mark_all_stale("gap_fill")
        if self.open_orders():
            threading.Thread(target=self._reconcile_quietly, daemon=True,
                             name=f"{self.name}-gap-reconcile").start()

    def _reconcile_quietly(self) -> None:
        try:
            self.reconcile_orders(self.settings.request_timeout)
        except Exception:
            log.exception("%s: reconciliation after a gap fill failed", self.name)

    def _to_app(self, msg: Any) -> bool:
        """True: do not send (a stale order/cancel/replace/status request in a resend)."""
        try:
            # One call into QuickFIX (the message as it goes out) rather than one per field.
            text = msg.toString()
            msg_type = m.msg_type_of(text)
            if msg_type not in ("D", "F", "G", "H"):
                return False
            if m.field_of(text, "43") == "Y":
                if not self.settings.resend_orders:
                    self.fix_counters["stale_orders_gap_filled"] += 1
                    return True
                return False
            cl_ord_id = m.field_of(text, "11")
            seq = int(m.field_of(text, "34") or "")
            sent = self._sent_seq
            sent[seq] = (msg_type, cl_ord_id)
            if len(sent) > _SENT_SEQ_KEPT:
                sent.popitem(last=False)
        except Exception as exc:
            self.record_data_error("handler_error", f"toApp: {exc}")
        return False

    def _from_app(self, msg: Any) -> None:
        stats = self.stats
        stats.updates_received += 1
        # Any message is a sign of life: a venue busy sending (a resend backlog, reports,
        # market data not published) sends no Heartbeat, and the watchdog must not take
        # that for a stalled link.
        stats.last_heartbeat_ns = now_ns()
        # One call into QuickFIX for the whole message: the type is read from the text and
        # the decoders parse the same text (see messages.Received).
        try:
            text = msg.toString()
        except UnicodeDecodeError:
            msg_type = msg.getHeader().getField(m.MSG_TYPE)
        else:
            msg_type = m.msg_type_of(text) or msg.getHeader().getField(m.MSG_TYPE)
            msg = m.Received(msg, text)
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


    def sequence_numbers(self) -> tuple[int, int] | None:
        """(next sender, next target) MsgSeqNum of the session, or None without one."""
        try:
            return self._with_session(lambda session: (int(session.getExpectedSenderNum()),
                                                       int(session.getExpectedTargetNum())))
        except Exception:
            return None

