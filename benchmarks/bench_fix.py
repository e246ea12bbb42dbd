"""FIX: a raw QuickFIX initiator vs the connector, against the same simulated FIX venue (a
QuickFIX acceptor) in another process.

- orders, window of 100: keep 100 market orders in flight; throughput is orders filled per
  second. Raw: a ``quickfix.Application`` that sends NewOrderSingle and counts
  ExecutionReports with OrdStatus 2; ours: ``FIXConnector.send_order`` -> FILLED event.
- paced round trip at 100 orders/s: send -> fill, p50 and p99.
- incremental refreshes (X): the venue answers a subscription with a burst of N X messages,
  each changing the best bid's size to 1, 2, ... N, told in the venue's book model (a W
  each for ``snapshot_only``); on a FIX 4.4 price_level venue, then on a FIX 5.0 SP2 venue
  per book model. Raw: ``fromApp`` reading every entry with QuickFIX's getters into the
  same book (:class:`RawBook`); ours: ``subscribe_orderbook`` -> book -> OrderBookSnapshot
  -> router -> a subscriber. The rate is over the burst, from size 1 to size N as the
  reader sees them.
- latency by stage: a benchmark-only subclass stamps each message at QuickFIX's callback
  entry, after decoding, after the book (or the order lookup) and at the router; X from a
  venue ticking at ``STAGE_RATE``, execution reports of orders at ``PACED_RATE``.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks import common

WINDOW = 100
PACED_RATE = 100.0
_CLIENTS = itertools.count(1)


class Venue:
    """The simulated FIX venue in a child process."""

    def __init__(self, burst: int, book_model: str = "price_level",
                 version: str = "FIX44") -> None:
        self.book_model = book_model
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stockfish_fix.testing", "--burst", str(burst),
             "--book-model", book_model, "--version", version, "--no-ticks",
             "--duration", "900"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.entry: dict[str, Any] = json.loads(self.proc.stdout.readline())
        self.entry.pop("type")

    def close(self) -> None:
        self.proc.terminate()  # SIGTERM: the venue stops cleanly
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)



class RawBook:
    """The book a user of raw QuickFIX keeps for one symbol in the venue's model: each
    entry read with QuickFIX's getters (action, type, price, size and the model's key), one
    dict per side (entry_id: the entries and their sums per price; position: a list per
    side). No checks beyond what keeping the book needs; the best bid read after each
    message."""

    def __init__(self, fix: Any, model: str) -> None:
        self.fix = fix
        self.model = model
        self.sides: dict[str, dict[float, float]] = {"0": {}, "1": {}}
        self.entries: dict[str, tuple[str, float, float]] = {}
        self.levels: dict[str, list[tuple[float, float]]] = {"0": [], "1": []}

    def snapshot(self, msg: Any) -> None:
        self.sides = {"0": {}, "1": {}}
        self.entries = {}
        self.levels = {"0": [], "1": []}
        group = self.fix.Group(268, 269)
        for i in range(1, int(msg.getField(268)) + 1):
            msg.getGroup(i, group)
            kind = group.getField(269)
            if kind not in ("0", "1"):
                continue
            price, size = float(group.getField(270)), float(group.getField(271))
            if self.model == "entry_id":
                self.entries[group.getField(278)] = (kind, price, size)
            if self.model == "position":
                self.levels[kind].append((price, size))
            side = self.sides[kind]
            side[price] = side.get(price, 0.0) + size

    def incremental(self, msg: Any) -> None:
        group = self.fix.Group(268, 279)
        model = self.model
        for i in range(1, int(msg.getField(268)) + 1):
            msg.getGroup(i, group)
            kind = group.getField(269)
            if kind not in ("0", "1"):
                continue
            action = group.getField(279)
            side = self.sides[kind]
            if model == "entry_id":
                self._entry(group, action, kind, side)
            elif model == "position":
                self._position(group, action, kind)
            else:
                price = float(group.getField(270))
                if action == "2":
                    side.pop(price, None)
                else:
                    if model == "top_of_book":
                        side.clear()
                    side[price] = float(group.getField(271))

    def _entry(self, group: Any, action: str, kind: str, side: dict[float, float]) -> None:
        entry_id = group.getField(278)
        old = group.getField(280) if group.isSetField(280) else entry_id
        if action != "0":
            _kind, price, size = self.entries.pop(old)
            side[price] -= size
            if side[price] <= 0:
                del side[price]
        if action in ("0", "1"):
            price = float(group.getField(270))
            size = float(group.getField(271))
            self.entries[entry_id] = (kind, price, size)
            side[price] = side.get(price, 0.0) + size

    def _position(self, group: Any, action: str, kind: str) -> None:
        levels = self.levels[kind]
        index = int(group.getField(1023)) - 1
        if action == "0":
            levels.insert(index, (float(group.getField(270)), float(group.getField(271))))
        elif action in ("1", "5"):
            levels[index] = (float(group.getField(270)), float(group.getField(271)))
        elif action == "2":
            del levels[index]
        elif action == "3":
            del levels[:index + 1]
        elif action == "4":
            del levels[index:]
        self.sides[kind] = dict(levels)

    def best_bid_size(self) -> float | None:
        bids = self.sides["0"]
        return bids[max(bids)] if bids else None


# ---------------------------------------------------------------------------- raw QuickFIX
class RawClient:
    """The baseline: QuickFIX's SocketInitiator and an Application doing the least a FIX
    client must (build the order, read the report's status / the refresh's entries)."""

    def __init__(self, entry: dict[str, Any], book_model: str = "price_level") -> None:
        import quickfix as fix
        from stockfish_fix.lifetime import owned_session_id
        from stockfish_fix.session_config import build_config

        self.fix = fix
        self.book = RawBook(fix, book_model)
        self.errors: list[Exception] = []
        self.logged_on = threading.Event()
        self.on_filled: Callable[[str], None] = lambda cid: None
        self.on_bid_size: Callable[[float], None] = lambda size: None
        client = self

        class App(fix.Application):  # type: ignore[misc]
            def onCreate(self, sid: Any) -> None:  # noqa: N802
                pass

            def onLogon(self, sid: Any) -> None:  # noqa: N802
                client.sid = owned_session_id(sid)  # QuickFIX only lends the callback's
                client.logged_on.set()

            def onLogout(self, sid: Any) -> None:  # noqa: N802
                pass

            def toAdmin(self, msg: Any, sid: Any) -> None:  # noqa: N802
                pass

            def fromAdmin(self, msg: Any, sid: Any) -> None:  # noqa: N802
                pass

            def toApp(self, msg: Any, sid: Any) -> None:  # noqa: N802
                pass

            def fromApp(self, msg: Any, sid: Any) -> None:  # noqa: N802
                kind = msg.getHeader().getField(35)
                if kind == "8":
                    if msg.getField(39) == "2":
                        client.on_filled(msg.getField(11))
                elif kind in ("X", "W"):
                    try:
                        if kind == "X":
                            client.book.incremental(msg)
                        else:
                            client.book.snapshot(msg)
                    except Exception as exc:  # a bug here must fail the run, not hang it
                        client.errors.append(exc)
                        return
                    client.on_bid_size(client.book.best_bid_size())

        text = build_config(role="initiator", version=entry["version"], sender_comp_id="CLIENT",
                            target_comp_ids=["VENUE"], host="127.0.0.1", port=entry["port"],
                            heartbeat_interval=30, reset_on_logon=True)
        self.settings = fix.SessionSettings()
        self.settings.setFromString(text)
        self.store = fix.MemoryStoreFactory()
        self.app = App()
        self.initiator = fix.SocketInitiator(self.app, self.store, self.settings)
        self.initiator.start()
        assert self.logged_on.wait(10), "raw client: no logon"
        self.prefix = f"R{next(_CLIENTS)}-"  # ClOrdIDs unique across runs on one venue
        self.ids = itertools.count(1)

    def send_order(self) -> str:
        fix = self.fix
        cid = f"{self.prefix}{next(self.ids)}"
        msg = fix.Message()
        msg.getHeader().setField(35, "D")
        msg.setField(11, cid)
        msg.setField(55, "AAA")
        msg.setField(54, "1")
        msg.setField(60, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()))
        msg.setField(38, "1")
        msg.setField(40, "1")
        msg.setField(59, "0")
        fix.Session.sendToTarget(msg, self.sid)
        return cid

    def subscribe_book(self) -> None:
        fix = self.fix
        msg = fix.Message()
        msg.getHeader().setField(35, "V")
        msg.setField(262, "RAWMD")
        msg.setField(263, "1")
        msg.setField(264, "0")
        group = fix.Group(267, 269)
        for entry_type in ("0", "1"):
            group.setField(269, entry_type)
            msg.addGroup(group)
        msg.setField(146, "1")
        sym = fix.Group(146, 55)
        sym.setField(55, "AAA")
        msg.addGroup(sym)
        fix.Session.sendToTarget(msg, self.sid)

    def close(self) -> None:
        from stockfish_fix.lifetime import release

        self.initiator.stop(True)
        release(self.initiator)


# ---------------------------------------------------------------------------- ours
class OurClient:
    def __init__(self, entry: dict[str, Any], store: str, book_model: str = "auto") -> None:
        from stockfish_core.router import DataFeedRouter
        from stockfish_fix.connector import FIXConnector

        self.router = DataFeedRouter()
        self.connector = FIXConnector(self.router, **{
            **entry, "store": "memory", "store_path": store, "heartbeat_interval": 30,
            "logout_timeout": 0.1, "md_book_model": book_model})
        self.on_filled: Callable[[str], None] = lambda cid: None

        def on_event(event: Any) -> None:
            if event.kind == "fill" and event.status.value == "FILLED":
                self.on_filled(event.client_order_id)

        self.connector.add_order_listener(on_event)
        assert self.connector.connect(), self.connector.get_stats()["last_error"]

    def send_order(self) -> str:
        from stockfish_core.orders import Order, OrderSide

        order = Order("AAA", OrderSide.BUY, 1)
        return self.connector.send_order(order)

    def close(self) -> None:
        self.connector.close()


# ---------------------------------------------------------------------------- measures
def window_rate(client: Any, count: int) -> tuple[float, float]:
    """(orders filled per second with ``WINDOW`` in flight, µs of process CPU per order)."""
    done = threading.Event()
    slots = threading.Semaphore(WINDOW)
    filled = [0]

    def on_filled(_cid: str) -> None:
        filled[0] += 1
        slots.release()
        if filled[0] == count:
            done.set()

    client.on_filled = on_filled
    start = time.perf_counter()
    cpu = time.process_time()
    for _ in range(count):
        if not slots.acquire(timeout=30):
            raise RuntimeError(f"window stuck at {filled[0]}/{count}")
        client.send_order()
    assert done.wait(60), f"{filled[0]}/{count} filled"
    return count / (time.perf_counter() - start), (time.process_time() - cpu) / count * 1e6


def paced_latencies(client: Any, count: int) -> list[float]:
    """Send -> fill in ms for ``count`` orders at ``PACED_RATE`` per second."""
    sent: dict[str, float] = {}
    out: list[float] = []
    done = threading.Event()
    lock = threading.Lock()

    def on_filled(cid: str) -> None:
        now = time.perf_counter()
        with lock:
            start = sent.get(cid)
        if start is not None:
            out.append((now - start) * 1000)
            if len(out) == count:
                done.set()

    client.on_filled = on_filled
    pause = threading.Event()
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / PACED_RATE - time.perf_counter()
        if delay > 0:
            pause.wait(delay)
        with lock:
            stamp = time.perf_counter()
            cid = client.send_order()
            sent[cid] = stamp
    assert done.wait(30), f"{len(out)}/{count} filled"
    return out


def raw_burst(entry: dict[str, Any], n: int, book_model: str = "price_level"
              ) -> tuple[float, float]:
    """(refreshes read per second, µs of process CPU per refresh), from the first of the
    burst to the last (the venue's time to build the burst is not the client's)."""
    client = RawClient(entry, book_model)
    done = threading.Event()
    first: list[tuple[float, float]] = []
    last: list[tuple[float, float]] = []

    def on_bid_size(size: float) -> None:
        if size == 1 and not first:
            first.append((time.perf_counter(), time.process_time()))
        elif size == n:
            last.append((time.perf_counter(), time.process_time()))
            done.set()

    client.on_bid_size = on_bid_size
    try:
        client.subscribe_book()
        assert done.wait(60), f"raw: burst incomplete {client.errors[:1]}"
        return _burst_figures(first[0], last[0], n)
    finally:
        client.close()


def _burst_figures(first: tuple[float, float], last: tuple[float, float],
                   n: int) -> tuple[float, float]:
    return (n - 1) / (last[0] - first[0]), (last[1] - first[1]) / (n - 1) * 1e6


def ours_burst(entry: dict[str, Any], n: int, store: str, book_model: str = "price_level"
               ) -> tuple[float, float]:
    from stockfish_core.models import DataType

    client = OurClient(entry, store, book_model)
    done = threading.Event()
    first: list[tuple[float, float]] = []
    last: list[tuple[float, float]] = []

    def on_update(update: Any) -> None:
        book = update.payload
        size = book.bids[0].size if book.bids else None
        if size == 1 and not first:
            first.append((time.perf_counter(), time.process_time()))
        elif size == n:
            last.append((time.perf_counter(), time.process_time()))
            done.set()

    client.router.subscribe(on_update, symbols=["AAA"],
                            data_types=[DataType.ORDERBOOK_SNAPSHOT])
    try:
        client.connector.subscribe_orderbook("AAA", depth=5)
        assert done.wait(120), "ours: burst incomplete"
        return _burst_figures(first[0], last[0], n)
    finally:
        client.close()


# ---------------------------------------------------------------------------- stages
STAGE_RATE = 500.0  # X per second the ticking venue sends (one book change per tick)


def _stamped_connector() -> type:
    """A benchmark-only FIXConnector that stamps each received message with
    ``time.perf_counter_ns()`` at the QuickFIX callback's entry, after decoding, when the
    book (or the order's state) has been updated and when the router takes the update;
    the subscriber stamps its own entry. Four stamps, a few hundred ns in all; no logging."""
    from stockfish_fix import messages
    from stockfish_fix.connector import FIXConnector

    clock = time.perf_counter_ns
    decode_x, decode_8 = messages.decode_md_incremental, messages.decode_execution_report

    class Stamped(FIXConnector):  # type: ignore[misc]
        current: list[int] = []

        def _from_app(self, msg: Any) -> None:
            self.current = [clock()]
            super()._from_app(msg)

        def _publish(self, sub: Any, book: Any, trades: list[Any], ts: int) -> None:
            self.current.append(clock())  # book applied and checked (not crossed)
            super()._publish(sub, book, trades, ts)

        def push_update(self, update: Any) -> None:
            self.current.append(clock())
            super().push_update(update)

        def apply_execution(self, client_order_id: str, fill: Any) -> Any:
            self.current.append(clock())  # the order found, state machine next
            return super().apply_execution(client_order_id, fill)

        def apply_order_status(self, client_order_id: str, status: Any, **kw: Any) -> Any:
            self.current.append(clock())
            return super().apply_order_status(client_order_id, status, **kw)

    def stamped(decode: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def run(msg: Any) -> Any:
            out = decode(msg)
            connector = Stamped.active
            if connector is not None:
                connector.current.append(clock())
            return out
        return run

    Stamped.active = None
    messages.decode_md_incremental = stamped(decode_x)
    messages.decode_execution_report = stamped(decode_8)
    return Stamped


def stage_runs(seconds: float, n_paced: int, store: str) -> tuple[list[list[int]],
                                                                   list[list[int]]]:
    """(X stamps, execution-report stamps): X from a venue ticking at ``STAGE_RATE``, and
    the reports of ``n_paced`` orders at ``PACED_RATE`` (each with its send time first)."""
    from stockfish_core.models import DataType
    from stockfish_core.orders import Order, OrderSide
    from stockfish_core.router import DataFeedRouter

    cls = _stamped_connector()
    clock = time.perf_counter_ns
    venue = subprocess.Popen(
        [sys.executable, "-m", "stockfish_fix.testing", "--tick-interval",
         str(1 / STAGE_RATE), "--duration", "900"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        assert venue.stdout is not None
        entry = json.loads(venue.stdout.readline())
        entry.pop("type")
        router = DataFeedRouter()
        connector = cls(router, **{**entry, "store": "memory", "store_path": store,
                                   "heartbeat_interval": 30, "logout_timeout": 0.1})
        cls.active = connector
        x_stamps: list[list[int]] = []
        collecting = threading.Event()

        def on_update(_update: Any) -> None:
            stamps = connector.current
            if collecting.is_set() and len(stamps) == 4:  # one X, one book, one update
                stamps.append(clock())
                x_stamps.append(stamps)

        router.subscribe(on_update, data_types=[DataType.ORDERBOOK_SNAPSHOT])
        assert connector.connect(), connector.get_stats()["last_error"]
        try:
            symbol = "AAA"
            connector.subscribe_orderbook(symbol, depth=5)
            collecting.set()
            threading.Event().wait(seconds)
            collecting.clear()
            connector.unsubscribe(symbol)
            # Orders, paced; reports stamped from the order's send.
            sent: dict[str, int] = {}
            report_stamps: list[list[int]] = []
            done = threading.Event()

            def on_event(event: Any) -> None:
                if threading.current_thread() is threading.main_thread():
                    return  # "submitted", emitted by send_order: no report behind it
                stamps = connector.current
                start = sent.get(event.client_order_id)
                if start is None or len(stamps) != 3:
                    return
                report_stamps.append([start, *stamps, clock()])
                if event.kind == "fill" and event.status.value == "FILLED" \
                        and len(report_stamps) >= 2 * n_paced:
                    done.set()

            connector.add_order_listener(on_event)
            pause = threading.Event()
            begin = time.perf_counter()
            for i in range(n_paced):
                delay = begin + i / PACED_RATE - time.perf_counter()
                if delay > 0:
                    pause.wait(delay)
                order = Order(symbol, OrderSide.BUY, 1)
                sent[order.client_order_id] = clock()
                connector.send_order(order)
            done.wait(30)
        finally:
            connector.close()
    finally:
        venue.terminate()
        try:
            venue.wait(15)
        except subprocess.TimeoutExpired:
            venue.kill()
            venue.wait(5)
    return x_stamps, report_stamps


def _pcts(values: list[float]) -> tuple[float, float, float]:
    p = common.percentile
    return p(values, 0.5), p(values, 0.99), p(values, 0.999)


def stage_tables(x_stamps: list[list[int]], report_stamps: list[list[int]]
                 ) -> list[dict[str, Any]]:
    def table(title: str, names: list[str], spans: list[tuple[int, int]],
              rows_in: list[list[int]]) -> dict[str, Any]:
        rows = []
        for name, (a, b) in zip(names, spans, strict=True):
            p50, p99, p999 = _pcts([(r[b] - r[a]) / 1000 for r in rows_in])
            rows.append([name, f"{p50:,.1f}", f"{p99:,.1f}", f"{p999:,.1f}"])
        return {"title": title, "columns": ["stage", "p50", "p99", "p99.9"], "rows": rows}

    x = table(f"fix: incremental refresh (X) latency by stage @{STAGE_RATE:,.0f} X/s (us, "
              f"{len(x_stamps):,} messages)",
              ["decode (callback entry -> entries decoded)",
               "book (apply, crossed check)",
               "snapshot (OrderBookSnapshot + MarketUpdate built)",
               "router (push_update -> subscriber)",
               "total (QuickFIX callback entry -> subscriber)"],
              [(0, 1), (1, 2), (2, 3), (3, 4), (0, 4)], x_stamps)
    reports = table(f"fix: execution report latency by stage, orders @{PACED_RATE:g}/s "
                    f"(us, {len(report_stamps):,} reports)",
                    ["wire (order sent -> report's callback entry: both ways, the venue, "
                     "QuickFIX's parse)",
                     "decode (callback entry -> report decoded)",
                     "lookup (ClOrdID -> order, venue order id bound)",
                     "state (state machine, event -> listener; no journal here)",
                     "total in this process (callback entry -> listener)"],
                    [(0, 1), (1, 2), (2, 3), (3, 4), (1, 4)], report_stamps)
    return [x, reports]


MODELS = ("top_of_book", "price_level", "entry_id", "position", "snapshot_only")


def main() -> None:
    args = common.parse_args(__doc__ or "")
    quick = args.mode == "quick"
    n_window = 2_000 if quick else 20_000
    n_paced = 100 if quick else 1_000
    # Bursts much larger than this measure the venue (Python building and sending), not
    # the reader: the rate fell to ~3,500/s for both at 50,000.
    n_burst = 5_000
    repeats = 2 if quick else 7
    model_repeats = 1 if quick else 3
    stage_seconds = 2.0 if quick else 10.0
    venue = Venue(n_burst)
    store = tempfile.mkdtemp(prefix="bench-fix-")
    raw_rates: list[tuple[float, float]] = []
    our_rates: list[tuple[float, float]] = []
    raw_md: list[tuple[float, float]] = []
    our_md: list[tuple[float, float]] = []
    try:
        for _ in range(repeats):  # interleaved so that drift hits both alike
            raw = RawClient(venue.entry)
            try:
                raw_rates.append(common.clean(window_rate, raw, n_window))
            finally:
                raw.close()
            ours = OurClient(venue.entry, store)
            try:
                our_rates.append(common.clean(window_rate, ours, n_window))
            finally:
                ours.close()
            raw_md.append(common.clean(raw_burst, venue.entry, n_burst))
            our_md.append(common.clean(ours_burst, venue.entry, n_burst, store))
        raw = RawClient(venue.entry)
        try:
            raw_lat = common.clean(paced_latencies, raw, n_paced)
        finally:
            raw.close()
        ours = OurClient(venue.entry, store)
        try:
            our_lat = common.clean(paced_latencies, ours, n_paced)
        finally:
            ours.close()
    finally:
        venue.close()
    # The burst in each book model (a venue per model; ours told the model).
    by_model: dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}
    for model in MODELS:
        # FIX 5.0 SP2: its standard dictionary has MDEntryID, RptSeq and MDPriceLevel in
        # both W and X (4.4's lacks some: the venues that use them extend it).
        venue = Venue(n_burst, model, "FIX50SP2")
        raw_runs: list[tuple[float, float]] = []
        our_runs: list[tuple[float, float]] = []
        try:
            for _ in range(model_repeats):
                raw_runs.append(common.clean(raw_burst, venue.entry, n_burst, model))
                our_runs.append(common.clean(ours_burst, venue.entry, n_burst, store, model))
        finally:
            venue.close()
        by_model[model] = (our_runs, raw_runs)
    x_stamps, report_stamps = common.clean(stage_runs, stage_seconds, n_paced, store)
    p = common.percentile
    metrics = [
        common.metric(f"orders filled/s, window {WINDOW}", "orders/s",
                      [r for r, _ in our_rates], [r for r, _ in raw_rates],
                      goal=">= 0.9x raw QuickFIX", goal_ratio=0.9),
        common.metric(f"CPU per order, window {WINDOW}", "us/order",
                      [c for _, c in our_rates], [c for _, c in raw_rates],
                      higher_is_better=False, goal="report"),
        common.metric(f"order round trip p50 @{PACED_RATE:g}/s", "ms", [p(our_lat, 0.5)],
                      [p(raw_lat, 0.5)], higher_is_better=False, goal="report",
                      samples=our_lat),
        common.metric(f"order round trip p99 @{PACED_RATE:g}/s", "ms", [p(our_lat, 0.99)],
                      [p(raw_lat, 0.99)], higher_is_better=False,
                      goal="<= 1.3x raw QuickFIX", goal_ratio=1.3),
        common.metric("incremental refreshes (X) to book snapshots (book model auto, "
                      "venue price_level)", "msg/s",
                      [r for r, _ in our_md], [r for r, _ in raw_md],
                      goal=">= 0.8x raw QuickFIX", goal_ratio=0.8),
        common.metric("CPU per incremental refresh (X)", "us/msg", [c for _, c in our_md],
                      [c for _, c in raw_md], higher_is_better=False, goal="report"),
    ]
    for model, (ours_runs, raw_runs) in by_model.items():
        what = "snapshots (W)" if model == "snapshot_only" else "incremental refreshes (X)"
        metrics.append(common.metric(
            f"{what} to book snapshots, book model {model}", "msg/s",
            [r for r, _ in ours_runs], [r for r, _ in raw_runs],
            goal=">= 0.8x raw QuickFIX", goal_ratio=0.8))
        metrics.append(common.metric(
            f"CPU per message, book model {model}", "us/msg", [c for _, c in ours_runs],
            [c for _, c in raw_runs], higher_is_better=False, goal="report"))
    common.write("fix", args, metrics, tables=stage_tables(x_stamps, report_stamps),
                 notes=f"FIX 4.4; {n_window} market orders per window run x {repeats}; "
                       f"{n_paced} orders at {PACED_RATE:g}/s; bursts of {n_burst} X "
                       f"(x {repeats} on a price_level venue, ours in its default auto "
                       f"model; x {model_repeats} per book model, ours configured with "
                       f"the venue's model; snapshot_only: {n_burst} W); the simulated "
                       f"venue (QuickFIX acceptor) in a separate process. Raw: QuickFIX's "
                       f"Application reading the report's status, and for market data "
                       f"keeping the same book in the venue's model (each entry read "
                       f"with QuickFIX's getters into a dict per side) and reading the "
                       f"best bid after each message; ours: FIXConnector -> book "
                       f"(checked: crossed, unknown levels, RptSeq) -> OrderBookSnapshot "
                       f"-> router -> a subscriber. CPU: this process's CPU time (Python "
                       f"and QuickFIX's threads) per order filled (a NewOrderSingle out, "
                       f"its execution reports back) and per message read. Stage tables: "
                       f"a benchmark-only subclass stamping perf_counter_ns at each stage "
                       f"boundary ({stage_seconds:g} s of a venue ticking at "
                       f"{STAGE_RATE:g}/s; {n_paced} orders at {PACED_RATE:g}/s)")
    common.print_ratios(metrics)


if __name__ == "__main__":
    main()
