"""The order journal: every order and what happened to it, in one SQLite file, so that a
process that dies (SIGKILL, an OOM kill, a crash) forgets nothing.

Guarantees (see ``docs/journal.md`` for the file format):

- An order's intent (client order id, connector, symbol, side, quantity, type, prices, time
  in force, account, tags, creation time) is written **before** the order reaches the
  wire (:meth:`OrderJournal.record_intent`, called by the core's order path, synchronously):
  appended to the intent log next to the database (``<journal>.intents``, one JSON line per
  order, with the same durability as a commit), then committed to the database by the
  background thread; a start-up replays into the database what the log holds. If it cannot
  be written the order is refused and nothing is sent.
- What follows (venue ids, status changes, fills by execution id, unknown-outcome flags,
  plugin references) is written by a background thread in batched transactions, in the
  order it happened. A record lost to a crash before its batch committed is recovered from
  the venue: restarts reconcile every order that was not terminal.
- Commits use SQLite's WAL with ``synchronous=NORMAL`` by default: a committed transaction
  survives the death of this process (it is in the operating system's hands). ``sync=
  "full"`` adds an fsync per commit so that it also survives a power cut or a kernel crash
  (about 1-2 ms per order on an SSD instead of about 10 µs).
- One process at a time: the journal holds an exclusive lock file; a second process
  opening it gets :class:`JournalError` naming the holder. A corrupt or unreadable file is
  a :class:`JournalError` too, never a silent fresh start.
- Terminal orders are compacted after ``retention`` seconds. Files are private to the user
  (0600, directory 0700).
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any

import orjson

from stockfish_core.errors import JournalError
from stockfish_core.models import now_ns
from stockfish_core.orders import Fill, Order, OrderEvent, OrderStatus

__all__ = ["INTENTS_SUFFIX", "MEMORY", "SCHEMA_VERSION", "OrderJournal",
           "default_journal_path"]

log = logging.getLogger(__name__)

#: ``path`` for a journal that lives in memory only (tests): no crash safety.
MEMORY = ":memory:"
SCHEMA_VERSION = 1
_BATCH = 512
#: Group commit: after the first record of a batch the writer waits this long for more
#: (unless a flush or close hurries it), so a burst of order events costs one transaction
#: and one wake-up instead of one each. Intents are durable in the intent log before this.
_GROUP_WINDOW_S = 0.002

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity REAL NOT NULL,
    order_type TEXT NOT NULL,
    price REAL,
    stop_price REAL,
    time_in_force TEXT NOT NULL,
    account TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    created_ns INTEGER NOT NULL,
    venue_order_id TEXT,
    status TEXT NOT NULL,
    filled_quantity REAL NOT NULL DEFAULT 0,
    avg_fill_price REAL,
    reject_reason TEXT,
    unknown_outcome INTEGER NOT NULL DEFAULT 0,
    external INTEGER NOT NULL DEFAULT 0,
    venue_refs TEXT NOT NULL DEFAULT '{}',
    updated_ns INTEGER NOT NULL,
    terminal_ns INTEGER
);
CREATE INDEX IF NOT EXISTS orders_open ON orders (connector) WHERE terminal_ns IS NULL;
CREATE INDEX IF NOT EXISTS orders_terminal ON orders (terminal_ns)
    WHERE terminal_ns IS NOT NULL;
CREATE INDEX IF NOT EXISTS orders_venue_id ON orders (venue_order_id)
    WHERE venue_order_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS fills (
    client_order_id TEXT NOT NULL,
    exec_id TEXT NOT NULL,
    quantity REAL NOT NULL,
    price REAL NOT NULL,
    ts_event INTEGER NOT NULL,
    commission REAL NOT NULL DEFAULT 0,
    venue_order_id TEXT,
    PRIMARY KEY (client_order_id, exec_id)
);
CREATE TABLE IF NOT EXISTS connector_state (
    connector TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_ns INTEGER NOT NULL,
    PRIMARY KEY (connector, key)
);
"""

_ORDER_COLUMNS = (
    "client_order_id", "connector", "symbol", "side", "quantity", "order_type", "price",
    "stop_price", "time_in_force", "account", "tags", "created_ns", "venue_order_id",
    "status", "filled_quantity", "avg_fill_price", "reject_reason", "unknown_outcome",
    "external", "venue_refs", "updated_ns", "terminal_ns",
)
#: Columns an update may change: the state, and what a replace amends (quantity, prices).
_UPDATED_COLUMNS = ("quantity", "price", "stop_price", *_ORDER_COLUMNS[12:])
_UPSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(_ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_ORDER_COLUMNS))}) "
    "ON CONFLICT (client_order_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _UPDATED_COLUMNS)
)
_INSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(_ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_ORDER_COLUMNS))})"
)
#: WAL pages after which the writer thread checkpoints (never an order's own commit).
_CHECKPOINT_PAGES = 2000
#: The intent log's suffix, and its size past which the writer empties it once every
#: intent in it is committed to the database.
INTENTS_SUFFIX = ".intents"
_INTENTS_TRUNCATE_BYTES = 256 * 1024
#: Up to this many client order ids, the journal keeps them all in memory and checks a new
#: intent's id there (no database lookup on the caller's thread); past it, it asks the
#: database (a few MB at most).
_KNOWN_IDS_MAX = 50_000
_REPLAY_ORDER = (
    f"INSERT OR IGNORE INTO orders ({', '.join(_ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_ORDER_COLUMNS))})"
)
_INSERT_FILL = (
    "INSERT OR IGNORE INTO fills (client_order_id, exec_id, quantity, price, ts_event, "
    "commission, venue_order_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def default_journal_path(name: str = "journal") -> str:
    """``$XDG_DATA_HOME/stockfish-rt/<name>.sqlite3`` (``~/.local/share`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                          "share")
    return os.path.join(base, "stockfish-rt", f"{name}.sqlite3")


def _json(mapping: dict[str, str]) -> str:
    return json.dumps(mapping, sort_keys=True) if mapping else "{}"


def _order_row(order: Order) -> tuple[Any, ...]:
    """The order's journaled state, read under its lock (one consistent snapshot)."""
    with order._lock:  # the state machine's own lock: a consistent row
        terminal = order.updated_ns if order.is_terminal else None
        return (
            order.client_order_id, order.connector or "", order.symbol, order.side.value,
            order.quantity, order.order_type.value, order.price, order.stop_price,
            order.time_in_force.value, order.account, _json(order.tags),
            order.created_ns, order.order_id, order.status.value, order.filled_quantity,
            order.avg_fill_price, order.reject_reason, int(order.unknown_outcome),
            int(order.external), _json(order.venue_refs),
            order.updated_ns, terminal,
        )


def _fill_row(client_order_id: str, fill: Fill) -> tuple[Any, ...]:
    return (client_order_id, fill.exec_id, fill.quantity, fill.price, fill.ts_event,
            fill.commission, fill.venue_order_id)


class OrderJournal:
    """One journal file (or :data:`MEMORY`) shared by the connectors of one process."""

    def __init__(self, path: str = MEMORY, *, sync: str = "normal",
                 retention: float = 7 * 86400.0) -> None:
        if sync not in ("normal", "full"):
            raise JournalError(f"journal sync must be 'normal' or 'full', got {sync!r}")
        self.path = path
        self.sync = sync
        self.retention = retention
        self.writes = 0  # records committed by the writer thread
        self.batches = 0
        self.intents = 0
        self.intents_replayed = 0  # intents found only in the log at open (a crash)
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        # The intent log (files only): appended under _intent_lock; the ids in it not yet
        # committed to the database are in _uncommitted.
        self._intent_lock = threading.Lock()
        self._intent_fd: int | None = None
        self._intent_bytes = 0
        self._uncommitted: set[str] = set()
        self._reader: sqlite3.Connection | None = None
        self._known_ids: set[str] | None = None  # every id in the journal, while few
        self._queue: queue.SimpleQueue[tuple[str, tuple[Any, ...]] | None] = \
            queue.SimpleQueue()
        self._pending = 0
        self._wal_pages = 0  # records committed since the last checkpoint (an estimate)
        self._drained = threading.Condition(threading.Lock())
        self._hurry = threading.Event()  # flush() / close(): commit now, no group window
        self._closed = False
        self._db = self._open()
        self._load_known_ids()
        self._writer = threading.Thread(target=self._write_loop, name="order-journal",
                                        daemon=True)
        self._writer.start()
        # The writer is a daemon thread: an exit that skips close() still commits its queue.
        atexit.register(self.close)

    # ------------------------------------------------------------------ open / close
    def _open(self) -> sqlite3.Connection:
        if self.path != MEMORY:
            self._take_lock()
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                 timeout=5.0)
            if self.path != MEMORY:
                os.chmod(self.path, 0o600)
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise JournalError(f"order journal {self.path} is corrupt ({check}); it "
                                   f"holds the orders of earlier runs: restore it or move it "
                                   f"away deliberately")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.sync.upper()}")
            # Checkpoints (which fsync the database file) run on the writer thread, not in
            # the commit of an order on its way to the wire.
            db.execute("PRAGMA wal_autocheckpoint=0")
            db.executescript(_SCHEMA)
            self._check_version(db)
        except sqlite3.DatabaseError as exc:
            self._release_lock()
            raise JournalError(f"order journal {self.path} cannot be used: {exc}") from exc
        except JournalError:
            self._release_lock()
            raise
        if self.path != MEMORY:
            for suffix in ("-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.chmod(self.path + suffix, 0o600)
            self._open_intent_log(db)
        self._compact(db)
        return db

    def _open_intent_log(self, db: sqlite3.Connection) -> None:
        """Commit what the intent log holds (intents of a run that died before its writer
        committed them), then empty it and keep it open for appending."""
        path = self.path + INTENTS_SUFFIX
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(fd, 0o600)
        except OSError as exc:
            self._release_lock()
            raise JournalError(f"order journal intent log {path} cannot be opened: "
                               f"{exc}") from exc
        try:
            with os.fdopen(os.dup(fd), "rb") as log_file:
                content = log_file.read()
            rows, torn = [], 0
            for line in content.splitlines():
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    torn += 1  # a line cut short by the crash: its order never left
                    continue
                if isinstance(row, list) and len(row) == len(_ORDER_COLUMNS):
                    rows.append(tuple(row))
                else:
                    torn += 1
            if rows:
                before = db.total_changes
                db.execute("BEGIN IMMEDIATE")
                db.executemany(_REPLAY_ORDER, rows)
                db.execute("COMMIT")
                self.intents_replayed = db.total_changes - before
            if torn:
                log.warning("order journal: %d unreadable line(s) in %s (cut short by a "
                            "crash before their order was sent)", torn, path)
            if self.intents_replayed:
                log.warning("order journal: %d order intent(s) of the last run were only in "
                            "%s; committed now (the venues will be asked about them)",
                            self.intents_replayed, path)
            os.ftruncate(fd, 0)
            self._reader = sqlite3.connect(self.path, isolation_level=None,
                                           check_same_thread=False, timeout=5.0)
        except (OSError, sqlite3.Error) as exc:
            os.close(fd)
            self._release_lock()
            raise JournalError(f"order journal intent log {path} cannot be replayed: "
                               f"{exc}") from exc
        self._intent_fd = fd

    def _take_lock(self) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(f"order journal {self.path} cannot be opened: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise JournalError(f"order journal {self.path} is in use by {holder}: one "
                               f"process at a time (stop the other one, or give this one "
                               f"its own manager.journal)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    @staticmethod
    def _check_version(db: sqlite3.Connection) -> None:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            db.execute("INSERT INTO meta VALUES ('schema_version', ?), ('created_ns', ?)",
                       (str(SCHEMA_VERSION), str(now_ns())))
        elif int(row[0]) > SCHEMA_VERSION:
            raise JournalError(f"order journal schema {row[0]} is newer than this version "
                               f"of stockfish-core understands ({SCHEMA_VERSION})")

    def _compact(self, db: sqlite3.Connection) -> int:
        cutoff = now_ns() - int(self.retention * 1e9)
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM fills WHERE client_order_id IN (SELECT client_order_id "
                       "FROM orders WHERE terminal_ns IS NOT NULL AND terminal_ns < ?)",
                       (cutoff,))
            removed = db.execute("DELETE FROM orders WHERE terminal_ns IS NOT NULL AND "
                                 "terminal_ns < ?", (cutoff,)).rowcount
            db.execute("COMMIT")
        if removed:
            log.info("order journal: compacted %d terminal order(s) older than %.0f s",
                     removed, self.retention)
        return removed

    def compact(self) -> int:
        """Delete terminal orders (and their fills) older than the retention; returns how
        many orders went."""
        self.flush()
        removed = self._compact(self._db)
        self._load_known_ids()
        return removed

    def _load_known_ids(self) -> None:
        """Every client order id the journal holds, in memory, if there are few enough."""
        if self._intent_fd is None:
            return  # a memory journal checks ids in its database
        with self._lock:
            count = self._db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
            known = None if count > _KNOWN_IDS_MAX else {
                row[0] for row in self._db.execute("SELECT client_order_id FROM orders")}
        with self._intent_lock:
            if known is not None:
                known |= self._uncommitted
            self._known_ids = known

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record handed to the writer is committed; False on timeout."""
        deadline = time.monotonic() + timeout
        self._hurry.set()
        with self._drained:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or not self._writer.is_alive():
                    return False
                self._drained.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, stop the writer and release the file. Idempotent."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        atexit.unregister(self.close)
        self._hurry.set()
        self._queue.put(None)
        self._writer.join(timeout)
        with self._intent_lock:
            fd, self._intent_fd = self._intent_fd, None
            if fd is not None:
                if not self._uncommitted:
                    os.ftruncate(fd, 0)
                os.close(fd)
            if self._reader is not None:
                self._reader.close()
        with self._lock:
            try:
                self._db.close()
            finally:
                self._release_lock()

    def __enter__(self) -> OrderJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def record_intent(self, order: Order) -> None:
        """Journal ``order`` before it is sent (raises :class:`JournalError` if it cannot):
        appended to the intent log (synchronously; fsynced with ``sync="full"``), then
        committed to the database by the writer thread."""
        if self._closed:
            raise JournalError("the order journal is closed")
        row = _order_row(order)
        if self._intent_fd is not None:
            self._append_intent(row)
            return
        try:
            with self._lock:  # one statement in autocommit mode: its own transaction
                self._db.execute(_INSERT_ORDER, row)
                self._wal_pages += 1
                checkpoint = self._wal_pages >= _CHECKPOINT_PAGES
        except sqlite3.IntegrityError as exc:
            raise JournalError(f"client order id {order.client_order_id!r} is already in "
                               f"the journal (used by an earlier run)") from exc
        except sqlite3.Error as exc:
            raise JournalError(f"order journal write failed: {exc}") from exc
        self.intents += 1
        if checkpoint:
            self._put("checkpoint", ())

    def _append_intent(self, row: tuple[Any, ...]) -> None:
        cid = row[0]
        line = orjson.dumps(row) + b"\n"
        with self._intent_lock:
            fd, reader = self._intent_fd, self._reader
            if fd is None or reader is None:
                raise JournalError("the order journal is closed")
            known = self._known_ids
            try:
                used = cid in known if known is not None else \
                    cid in self._uncommitted or reader.execute(
                        "SELECT 1 FROM orders WHERE client_order_id = ?", (cid,)).fetchone()
            except sqlite3.Error as exc:
                raise JournalError(f"order journal read failed: {exc}") from exc
            if used:
                raise JournalError(f"client order id {cid!r} is already in the journal "
                                   f"(used by an earlier run)")
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write ({written} of {len(line)} bytes)")
                if self.sync == "full":
                    os.fdatasync(fd)
            except OSError as exc:
                raise JournalError(f"order journal write failed: {exc}") from exc
            self._intent_bytes += written
            self._uncommitted.add(cid)
            if known is not None:
                known.add(cid)
                if len(known) > _KNOWN_IDS_MAX:
                    self._known_ids = None  # too many to keep: the database is asked
        self.intents += 1
        self._put("intent", row)

    def _intents_committed(self, ids: list[str]) -> None:
        """``ids``' intents are in the database: forget them, and empty the log once it
        is large and holds nothing uncommitted."""
        with self._intent_lock:
            self._uncommitted.difference_update(ids)
            fd = self._intent_fd
            if fd is not None and not self._uncommitted and \
                    self._intent_bytes >= _INTENTS_TRUNCATE_BYTES:
                try:
                    os.ftruncate(fd, 0)
                    self._intent_bytes = 0
                except OSError:
                    log.exception("order journal: the intent log could not be emptied")

    def record_event(self, order: Order, event: OrderEvent) -> None:
        """Journal the order's state after ``event`` (and its fill), in the background."""
        self._put("order", _order_row(order))
        if event.fill is not None:
            self._put("fill", _fill_row(order.client_order_id, event.fill))

    def record_venue_id(self, order: Order) -> None:
        self._put("order", _order_row(order))

    def record_order(self, order: Order) -> None:
        """Journal an order's whole state, fills included (external and recovered orders)."""
        known = self._known_ids
        if known is not None:
            known.add(order.client_order_id)
        self._put("order", _order_row(order))
        for fill in list(order.fills):
            self._put("fill", _fill_row(order.client_order_id, fill))

    def save_state(self, connector: str, key: str, value: str) -> None:
        """Commit a connector's value (e.g. IB's order-id high-water mark) now."""
        with self._lock:
            self._db.execute(
                "INSERT INTO connector_state VALUES (?, ?, ?, ?) ON CONFLICT (connector, key) "
                "DO UPDATE SET value = excluded.value, updated_ns = excluded.updated_ns",
                (connector, key, value, now_ns()))

    def _put(self, kind: str, row: tuple[Any, ...]) -> None:
        if self._closed:
            log.error("order journal closed: a %s record of %s is not journaled", kind, row[0])
            return
        with self._drained:
            self._pending += 1
        self._queue.put((kind, row))

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if not self._hurry.is_set():
                self._hurry.wait(_GROUP_WINDOW_S)
            self._hurry.clear()
            batch = [item]
            while len(batch) < _BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._commit(batch)
                    return
                batch.append(nxt)
            self._commit(batch)

    def _commit(self, batch: list[tuple[str, tuple[Any, ...]]]) -> None:
        orders = [row for kind, row in batch if kind in ("order", "intent")]
        intents = [row[0] for kind, row in batch if kind == "intent"]
        fills = [row for kind, row in batch if kind == "fill"]
        checkpoint = any(kind == "checkpoint" for kind, _ in batch)
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    # Several rows of one order in a batch: the last one is its state.
                    latest = {row[0]: row for row in orders}
                    self._db.executemany(_UPSERT_ORDER, latest.values())
                    self._db.executemany(_INSERT_FILL, fills)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                self._wal_pages += len(batch)
                if checkpoint or self._wal_pages >= _CHECKPOINT_PAGES:
                    self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    self._wal_pages = 0
            self.writes += len(batch)
            self.batches += 1
            if intents:
                self._intents_committed(intents)
        except sqlite3.Error:
            log.exception("order journal: a batch of %d record(s) was not written; the "
                          "venue will be asked for these orders' state at the next start",
                          len(batch))
        finally:
            with self._drained:
                self._pending -= len(batch)
                if not self._pending:
                    self._drained.notify_all()

    # ------------------------------------------------------------------ reading
    def load_state(self, connector: str, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM connector_state WHERE connector = ? "
                                   "AND key = ?", (connector, key)).fetchone()
        return None if row is None else str(row[0])

    def connectors(self) -> list[str]:
        """Connector names with orders not yet terminal."""
        self.flush()
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT connector FROM orders WHERE "
                                    "terminal_ns IS NULL ORDER BY connector").fetchall()
        return [r[0] for r in rows]

    def open_orders(self, connector: str) -> list[Order]:
        """``connector``'s orders that were not terminal (or not settled) when the journal
        was last written, oldest first, with their fills."""
        self.flush()
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_ORDER_COLUMNS)} FROM orders WHERE connector = ? AND "
                f"(terminal_ns IS NULL OR unknown_outcome = 1) ORDER BY created_ns",
                (connector,)).fetchall()
            fills: dict[str, list[tuple[Any, ...]]] = {}
            for row in self._db.execute(
                    "SELECT f.client_order_id, f.exec_id, f.quantity, f.price, f.ts_event, "
                    "f.commission, f.venue_order_id FROM fills f JOIN orders o USING "
                    "(client_order_id) WHERE o.connector = ? AND (o.terminal_ns IS NULL OR "
                    "o.unknown_outcome = 1) ORDER BY f.ts_event", (connector,)):
                fills.setdefault(row[0], []).append(row)
        return [self._order(dict(zip(_ORDER_COLUMNS, row, strict=True)),
                            fills.get(row[0], [])) for row in rows]

    def find(self, order_id: str) -> Order | None:
        """An order of any state by client order id, or else by venue order id (None if
        the journal has neither)."""
        self.flush()
        columns = ", ".join(_ORDER_COLUMNS)
        with self._lock:
            row = self._db.execute(f"SELECT {columns} FROM orders WHERE client_order_id = ?",
                                   (order_id,)).fetchone() or self._db.execute(
                f"SELECT {columns} FROM orders WHERE venue_order_id = ? ORDER BY created_ns "
                f"DESC LIMIT 1", (order_id,)).fetchone()
            if row is None:
                return None
            fill_rows = self._db.execute(
                "SELECT client_order_id, exec_id, quantity, price, ts_event, commission, "
                "venue_order_id FROM fills WHERE client_order_id = ? ORDER BY ts_event",
                (row[0],)).fetchall()
        return self._order(dict(zip(_ORDER_COLUMNS, row, strict=True)), fill_rows)

    def count(self) -> dict[str, int]:
        """Orders in the journal: ``{"open": n, "terminal": n, "fills": n}``."""
        self.flush()
        with self._lock:
            open_n = self._db.execute("SELECT COUNT(*) FROM orders WHERE terminal_ns IS "
                                      "NULL").fetchone()[0]
            total = self._db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
            fills = self._db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        return {"open": int(open_n), "terminal": int(total - open_n), "fills": int(fills)}

    @staticmethod
    def _order(data: dict[str, Any], fill_rows: Iterable[tuple[Any, ...]]) -> Order:
        fills = [Fill(exec_id=r[1], quantity=r[2], price=r[3], ts_event=r[4], commission=r[5],
                      venue_order_id=r[6]) for r in fill_rows]
        return Order(
            symbol=data["symbol"], side=data["side"], quantity=data["quantity"],
            order_type=data["order_type"], price=data["price"], stop_price=data["stop_price"],
            time_in_force=data["time_in_force"], account=data["account"],
            client_order_id=data["client_order_id"], order_id=data["venue_order_id"],
            connector=data["connector"] or None, status=OrderStatus(data["status"]),
            filled_quantity=data["filled_quantity"], avg_fill_price=data["avg_fill_price"],
            fills=fills, reject_reason=data["reject_reason"],
            unknown_outcome=bool(data["unknown_outcome"]), created_ns=data["created_ns"],
            updated_ns=data["updated_ns"], tags=json.loads(data["tags"]),
            external=bool(data["external"]), venue_refs=json.loads(data["venue_refs"]),
        )

    def stats(self) -> dict[str, Any]:
        return {"path": self.path, "sync": self.sync, "intents": self.intents,
                "intents_replayed": self.intents_replayed, "writes": self.writes,
                "batches": self.batches, "queued": self._pending,
                "uncommitted_intents": len(self._uncommitted)}
