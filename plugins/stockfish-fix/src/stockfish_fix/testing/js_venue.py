"""A simulated FIX venue on jspurefix (Node.js), driven from Python.

The QuickFIX venue (:class:`~stockfish_fix.testing.venue.FIXVenue`) and the connector share
an engine and a team; this one runs on another FIX engine, written apart, so the two can
disagree the way real venues do. :class:`JSFIXVenue` starts ``venues/jspurefix`` as a child
process (its pid recorded, only that pid ended), sends its options as the first JSON line
on the child's standard input (credentials never reach a command line) and controls it with
JSON lines: ``{"id", "cmd", "args"}`` in, ``{"id", "ok", "result" | "error"}`` out.

It offers the public API of ``FIXVenue`` (``start``, ``config_entry``, ``stop``,
``drop_connections``, ``refuse_logons``, ``send_malformed``, ``skip_sequence_number``,
``orders_received_count``, ``fills``, ``fills_of``, ``order``, ``book_levels``, ``fill``,
``sessions_logged_on``) plus the book model, the market-data record
(:meth:`JSFIXVenue.md_history`), market-data faults and external orders.

The venue's dictionaries extend the standard ones (``venues/jspurefix/extensions.json``:
RptSeq and MDPriceLevel on market-data entries in 4.2 / 4.4, Username / Password on the
4.2 Logon); :func:`~stockfish_fix.testing.dictionaries.extend_dictionaries` writes
QuickFIX dictionaries with the same extensions, for clients that validate what this venue
sends (``test_dictionaries.py`` keeps the two lists the same).
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from stockfish_fix.testing.dictionaries import extend_dictionaries

__all__ = ["BOOK_MODELS", "MD_FAULTS", "JSFIXVenue", "JSVenueError", "VenueOrderView",
           "extend_dictionaries", "venue_dir"]

BOOK_MODELS = ("top_of_book", "price_level", "entry_id", "position", "snapshot_only")
MD_FAULTS = ("change_unknown", "delete_unknown", "crossed", "rpt_seq_gap")
DEFAULT_SYMBOLS = ("AAA", "BBB")
INSTALL_HINT = "npm ci --prefix plugins/stockfish-fix/venues/jspurefix"


class JSVenueError(RuntimeError):
    """The Node venue is missing, failed to start, or refused a request."""


def venue_dir() -> Path:
    """The Node project (``STOCKFISH_JSVENUE_DIR`` overrides the checkout's)."""
    override = os.environ.get("STOCKFISH_JSVENUE_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "venues" / "jspurefix"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise JSVenueError(f"node is not installed: the jspurefix venue needs Node.js 18+, "
                           f"then `{INSTALL_HINT}`")
    return node


class VenueOrderView(dict):  # type: ignore[type-arg]
    """The venue's record of one order (JSON-able; fields also read as attributes, like
    ``VenueOrder``): order_id, cl_ord_id, first_cl_ord_id, owner, symbol, side, ord_type,
    price, stop_px, qty, cum_qty, avg_px, leaves, status, tif, external, fills."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class JSFIXVenue:
    """The jspurefix venue in a child process. ``start()`` returns the connector's entry."""

    def __init__(self, *, version: str = "FIX44", symbols: tuple[str, ...] = DEFAULT_SYMBOLS,
                 spread_symbols: tuple[str, ...] = ("SPRD",),
                 clients: tuple[str, ...] = ("CLIENT",), comp_id: str = "VENUE",
                 tick_interval: float = 0.05, levels: int = 5, depth: int = 10,
                 orders_per_level: int = 3, seed: int = 0, username: str | None = None,
                 password: str | None = None, heartbeat_interval: float = 1.0,
                 book_model: str | dict[str, str] = "price_level", store: str = "memory",
                 store_path: str = "", reset_on_logon: bool = False,
                 low_seq_logon: str = "logout", mass_status: bool = True,
                 status_repeats_fills: bool = False, market_data: bool = True,
                 start_prices: dict[str, float] | None = None, max_runtime: float = 900.0,
                 data_dictionary: str = "", start_timeout: float = 20.0,
                 request_timeout: float = 10.0) -> None:
        models = book_model.values() if isinstance(book_model, dict) else [book_model]
        bad = [m for m in models if m not in BOOK_MODELS]
        if bad:
            raise ValueError(f"book_model: expected one of {', '.join(BOOK_MODELS)}, got {bad}")
        self.version = version
        self.symbols = tuple(symbols)
        self.spread_symbols = tuple(spread_symbols)
        self.clients = tuple(clients)
        self.comp_id = comp_id
        self.username = username
        self.password = password
        self.heartbeat_interval = heartbeat_interval
        self.book_model = book_model
        self.depth = depth
        self.data_dictionary = data_dictionary
        self.start_timeout = start_timeout
        self.request_timeout = request_timeout
        self.options: dict[str, Any] = {
            "version": version, "symbols": list(symbols),
            "spread_symbols": list(spread_symbols), "clients": list(clients),
            "comp_id": comp_id, "tick_interval": tick_interval, "levels": levels,
            "depth": depth, "orders_per_level": orders_per_level, "seed": seed,
            "username": username, "password": password,
            "heartbeat_interval": max(1, round(heartbeat_interval)), "book_model": book_model,
            "store": store, "store_path": store_path, "reset_on_logon": reset_on_logon,
            "low_seq_logon": low_seq_logon, "mass_status": mass_status,
            "status_repeats_fills": status_repeats_fills, "market_data": market_data,
            "start_prices": dict(start_prices or {}), "max_runtime": max_runtime}
        self.port = 0
        self.pid: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._answers: dict[int, dict[str, Any]] = {}
        self._answered = threading.Condition()
        self._ready: dict[str, Any] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=200)
        self._history: list[dict[str, Any]] = []
        self._history_next = 0
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> dict[str, Any]:
        """Start the Node venue on 127.0.0.1 (an ephemeral port); wait for its "ready" line."""
        folder = venue_dir()
        main = folder / "src" / "main.js"
        if not (folder / "node_modules" / "jspurefix").is_dir():
            raise JSVenueError(f"the jspurefix venue is not installed ({folder / 'node_modules'} "
                               f"is missing): run `{INSTALL_HINT}`")
        proc = subprocess.Popen(
            [_node(), str(main)], cwd=str(folder), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
            bufsize=1)
        self._proc = proc
        self.pid = proc.pid
        for target, name in ((self._read_stdout, "stdout"), (self._read_stderr, "stderr")):
            thread = threading.Thread(target=target, name=f"jsvenue-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._write(self.options)
        with self._answered:
            self._answered.wait_for(lambda: self._ready is not None or proc.poll() is not None,
                                    self.start_timeout)
        ready = self._ready
        if ready is None or ready.get("event") != "ready":
            self._kill()
            detail = (ready or {}).get("error") or " | ".join(list(self._stderr)[-5:]) \
                or f"no ready line within {self.start_timeout:g} s"
            raise JSVenueError(f"the jspurefix venue did not start: {detail}")
        self.port = int(ready["port"])
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

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the venue (Logout to every session), then end the child by its pid."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self._call("stop", timeout=timeout)
            except JSVenueError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self._kill()

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()  # this child only, by its pid
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                pass
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._proc = None
        with self._answered:
            self._answered.notify_all()
        # a venue ended by force leaves its generated dictionary behind
        dictionary = Path(str((self._ready or {}).get("dictionary") or ""))
        if dictionary.parent.name.startswith("jsvenue-dict-"):
            shutil.rmtree(dictionary.parent, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> JSFIXVenue:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control channel
    def _write(self, obj: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise JSVenueError("the jspurefix venue is not running")
        with self._write_lock:
            try:
                proc.stdin.write(json.dumps(obj) + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError) as exc:
                raise JSVenueError(f"the jspurefix venue went away: {exc}") from exc

    def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                self._stderr.append(f"(stdout) {line.rstrip()}")
                continue
            with self._answered:
                if "event" in message:
                    self._ready = message
                elif isinstance(message.get("id"), int):
                    self._answers[message["id"]] = message
                self._answered.notify_all()
        with self._answered:
            self._answered.notify_all()

    def _read_stderr(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        for line in proc.stderr:
            self._stderr.append(line.rstrip())

    def _call(self, cmd: str, timeout: float | None = None, **args: Any) -> Any:
        request_id = next(self._ids)
        self._write({"id": request_id, "cmd": cmd, "args": args})
        wait = self.request_timeout if timeout is None else timeout
        with self._answered:
            done = self._answered.wait_for(
                lambda: request_id in self._answers or not self.running, wait)
            answer = self._answers.pop(request_id, None)
        if answer is None:
            why = "it exited" if done else f"no answer within {wait:g} s"
            raise JSVenueError(f"jspurefix venue: {cmd}: {why}")
        if not answer.get("ok"):
            raise JSVenueError(f"jspurefix venue: {cmd}: {answer.get('error')}")
        return answer.get("result")

    @property
    def stderr_tail(self) -> list[str]:
        """The venue's last warnings and errors (its stderr)."""
        return list(self._stderr)

    # ------------------------------------------------------------------ faults
    def drop_connections(self, refuse_for: float = 0.0) -> int:
        """Cut every client connection now; refuse logons for ``refuse_for`` seconds."""
        return int(self._call("drop_connections", refuse_for=refuse_for))

    def refuse_logons(self, seconds: float) -> None:
        """Refuse every Logon for ``seconds`` (0 accepts again), with a Logout saying so."""
        self._call("refuse_logons", seconds=seconds)

    def bad_credentials(self, on: bool = True) -> None:
        """Refuse every Logon as bad username or password while ``on``."""
        self._call("bad_credentials", on=on)

    def send_malformed(self) -> int:
        """Malformed application messages to every session: an execution for an unknown
        order, a fill without LastQty/LastPx, an OrdStatus outside the enumeration and an X
        deleting a level the book does not have. Returns how many."""
        return int(self._call("send_malformed"))

    def lose_orders(self, n: int = 1) -> None:
        """Ignore the next ``n`` NewOrderSingles (no report, no record), as if they were
        lost in a link that stalled: the venue then answers a status request for them with
        OrdStatus 8, OrdRejReason 5 (unknown order)."""
        self._call("lose_orders", n=n)

    def skip_sequence_number(self) -> int:
        """Skip one outgoing MsgSeqNum on every session (the client asks for a resend,
        which the venue gap-fills)."""
        return int(self._call("skip_sequence_number"))

    def inject_market_data(self, symbol: str, kind: str) -> int:
        """A market-data inconsistency to every subscriber of ``symbol``: one of
        :data:`MD_FAULTS`. The venue's own book is unchanged (the record flags the message
        ``injected``)."""
        if kind not in MD_FAULTS:
            raise ValueError(f"kind: expected one of {', '.join(MD_FAULTS)}, got {kind!r}")
        return int(self._call("inject_market_data", symbol=symbol, kind=kind))

    # ------------------------------------------------------------------ by hand
    def fill(self, client_order_id: str, quantity: float | None = None,
             price: float | None = None) -> dict[str, Any] | None:
        """Execute an open order now (default: all that is left, at its limit or the touch),
        whether or not its owner is connected. Returns the venue's fill record."""
        result = self._call("fill", cl_ord_id=client_order_id, quantity=quantity, price=price)
        return dict(result) if result else None

    def external_order(self, client_order_id: str, symbol: str, quantity: float, *,
                       side: str = "1", price: float | None = None,
                       owner: str | None = None) -> VenueOrderView | None:
        """An order on ``owner``'s account (default: the first client) that its client
        never sent; its reports go to that client's session."""
        result = self._call("external_order", cl_ord_id=client_order_id, symbol=symbol,
                            quantity=quantity, side=side, price=price, owner=owner)
        return VenueOrderView(result) if result else None

    # ------------------------------------------------------------------ records
    def orders_received_count(self, client_order_id: str) -> int:
        """How many NewOrderSingles with this ClOrdID reached the venue."""
        return int(self._call("orders_received_count", cl_ord_id=client_order_id))

    @property
    def fills(self) -> list[dict[str, Any]]:
        return list(self._call("fills"))

    def fills_of(self, client_order_id: str) -> list[dict[str, Any]]:
        return list(self._call("fills_of", cl_ord_id=client_order_id))

    def order(self, client_order_id: str) -> VenueOrderView | None:
        result = self._call("order", cl_ord_id=client_order_id)
        return VenueOrderView(result) if result else None

    def orders(self) -> list[VenueOrderView]:
        """Every client order the venue has (external ones included)."""
        return [VenueOrderView(o) for o in self._call("orders")]

    def book_levels(self, symbol: str) -> tuple[list[tuple[float, float]],
                                                list[tuple[float, float]]]:
        """(bids high to low, asks low to high) of ``symbol`` as its book model publishes
        it now (top of book: one level a side; position: ``depth`` levels)."""
        levels = self._call("book_levels", symbol=symbol)
        return ([tuple(x) for x in levels["bids"]],  # type: ignore[misc]
                [tuple(x) for x in levels["asks"]])

    @property
    def sessions_logged_on(self) -> int:
        return int(self._call("sessions_logged_on"))

    def status(self) -> dict[str, Any]:
        """Port, sessions, counters (logons refused, resends, faults injected...), errors."""
        return dict(self._call("status"))

    @property
    def errors(self) -> list[str]:
        return list(self.status()["errors"])

    def md_history(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every market-data message the venue sent, in order, each with the book the
        subscriber must have after it: comp_id, msg_seq_num, msg_type, symbol, md_req_id,
        rpt_seq, model, bids, asks ([price, size], best first), last (the last trade),
        entries (entry_id model) and ``injected`` (the fault kind, or None)."""
        page = self._call("md_history", since=self._history_next)
        self._history.extend(page["items"])
        self._history_next = int(page["next"])
        if symbol is None:
            return list(self._history)
        return [r for r in self._history if r["symbol"] == symbol]
