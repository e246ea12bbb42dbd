"""The live view of ``stockfish-rt run`` (and the status tables of ``stockfish-rt demo``).

:class:`LiveState` gathers what the view shows: each connector's status with the reason
it gave, update rates from the moment the view starts, the latest quote of every symbol
from every feed, subscription failures, recent failovers, order events and log lines.
:class:`StatusView` draws it: in place with ``rich`` on a terminal, or as plain lines, one
block per interval, when standard output is not a terminal (a file, a pipe, a log).

Quotes are kept by one router callback that only stores the latest values (no lock, no
logging, no formatting on the market-data path); everything else is read when drawing.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from stockfish_core.connector import BaseConnector, ConnectorStatus
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import DataType, MarketUpdate, now_ns
from stockfish_core.orders import OrderEvent

__all__ = ["COLUMNS", "LiveState", "OwnRecordsFilter", "StatusView", "ViewLogHandler"]

COLUMNS = ("connector", "type", "status", "reason", "upd/s", "updates", "errors", "subs",
           "orders", "fills", "reconn")
QUOTE_COLUMNS = ("symbol", "feed", "bid", "ask", "last", "age")
_RATE_WINDOW_S = 2.0
_RECENT = 6
_MAX_QUOTES = 24
_QUOTE_TYPES = (DataType.PRICE_TICK, DataType.ORDERBOOK_SNAPSHOT, DataType.TRADE)


class LiveState:
    """What the live view shows, gathered from a manager's connectors.

    Call :meth:`attach` once the manager has its connectors (before ``start_all``, so that
    connecting is seen too) and :meth:`detach` when done.
    """

    def __init__(self, manager: ExchangeManager, *, max_events: int = _RECENT) -> None:
        self.manager = manager
        self.started = time.monotonic()
        # (symbol, feed) -> [bid, ask, last, ts_recv ns]; written only by the router callback
        self.quotes: dict[tuple[str, str], list[Any]] = {}
        self.reasons: dict[str, str | None] = {}
        self.failed_subscriptions: dict[str, int] = {}  # connector -> how many
        self.failures: list[tuple[str, str, str]] = []  # (connector, symbol, error)
        self.order_events: collections.deque[str] = collections.deque(maxlen=max_events)
        self.order_event_count = 0
        # [text, repeats]: a record repeated at once is counted, not listed again
        self.log_lines: collections.deque[list[Any]] = collections.deque(maxlen=max_events)
        self._samples: dict[str, collections.deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()
        self._subscription: Any = None
        self._connectors: list[BaseConnector] = []

    # ------------------------------------------------------------------ wiring
    def attach(self) -> None:
        self._subscription = self.manager.router.subscribe(self.on_update, _QUOTE_TYPES)
        now = time.monotonic()
        for connector in self.manager.list_connectors_objects():
            self._connectors.append(connector)
            connector.add_status_listener(self.on_status)
            connector.add_order_listener(self.on_order_event)
            self._samples[connector.name] = collections.deque(
                [(now, connector.stats.updates_normalized)])

    def detach(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        for connector in self._connectors:
            connector.remove_status_listener(self.on_status)
        self._connectors = []

    # ------------------------------------------------------------------ feeds in
    def on_update(self, update: MarketUpdate) -> None:
        """Router callback (connector threads): keep the latest quote, nothing else."""
        key = (update.symbol, update.source)
        quote = self.quotes.get(key)
        if quote is None:
            quote = self.quotes.setdefault(key, [None, None, None, 0])
        payload: Any = update.payload
        kind = update.data_type
        if kind is DataType.PRICE_TICK:
            quote[0] = payload.bid
            quote[1] = payload.ask
            if payload.last is not None:
                quote[2] = payload.last
        elif kind is DataType.ORDERBOOK_SNAPSHOT:
            quote[0] = payload.bids[0].price if payload.bids else None
            quote[1] = payload.asks[0].price if payload.asks else None
        else:
            quote[2] = payload.price
        quote[3] = update.ts_recv

    def on_status(self, connector: BaseConnector, old: ConnectorStatus,
                  new: ConnectorStatus, reason: str | None) -> None:
        with self._lock:
            self.reasons[connector.name] = reason

    def on_order_event(self, event: OrderEvent) -> None:
        text = f"{time.strftime('%H:%M:%S')} {event.connector} {event.client_order_id} " \
               f"{event.kind} {event.status.value}"
        if event.fill is not None:
            text += f" {event.fill.quantity:g} @ {event.fill.price:g}"
        if event.reason:
            text += f" ({event.reason})"
        with self._lock:
            self.order_events.append(text)
            self.order_event_count += 1

    def record_subscriptions(self, results: Mapping[str, Mapping[str, Any]]) -> None:
        """Take ``manager.subscribe_*`` results: ``{connector: {symbol: True | False |
        error text}}``; anything but True is a failure, counted and listed."""
        with self._lock:
            for connector, outcomes in results.items():
                for symbol, outcome in outcomes.items():
                    if outcome is not True:
                        self.failed_subscriptions[connector] = \
                            self.failed_subscriptions.get(connector, 0) + 1
                        self.failures.append((connector, symbol, "refused" if outcome is False
                                              else str(outcome)))

    def add_log_line(self, text: str) -> None:
        with self._lock:
            if self.log_lines and self.log_lines[-1][0] == text:
                self.log_lines[-1][1] += 1
            else:
                self.log_lines.append([text, 1])

    # ------------------------------------------------------------------ reading
    def rate(self, connector: BaseConnector, now: float) -> float:
        """Updates per second over the last couple of seconds (since the view started at
        first, so the first frame has a rate already)."""
        samples = self._samples.setdefault(connector.name, collections.deque([(now, 0)]))
        count = connector.stats.updates_normalized
        samples.append((now, count))
        while len(samples) > 2 and now - samples[1][0] >= _RATE_WINDOW_S:
            samples.popleft()
        then, before = samples[0]
        return (count - before) / (now - then) if now > then else 0.0

    def reason(self, connector: BaseConnector) -> str:
        """Why the connector is where it is: the reason of its last status change, or its
        last error, for anything but a healthy connection."""
        if connector.is_connected:
            if connector.is_stale():
                return f"silent for {connector.heartbeat_age() or 0:.1f} s"
            return ""
        with self._lock:
            reason = self.reasons.get(connector.name)
        return reason or connector.stats.last_error or ""

    def connector_rows(self) -> list[tuple[str, ...]]:
        now = time.monotonic()
        rows: list[tuple[str, ...]] = []
        for connector in self.manager.list_connectors_objects():
            s = connector.stats
            failed = self.failed_subscriptions.get(connector.name, 0)
            ok = len(connector.subscriptions)  # what it holds (and renews on reconnect)
            mark = "*" if connector.name == self.manager.primary_connector else ""
            rows.append((connector.name + mark, connector.connector_type,
                         connector.status.value, self.reason(connector),
                         f"{self.rate(connector, now):,.0f}", f"{s.updates_normalized:,}",
                         str(s.data_errors), f"{ok}" + (f" ({failed} failed)" if failed else ""),
                         str(s.orders_submitted), str(s.fills_applied), str(s.reconnections)))
        return rows

    def quote_rows(self, limit: int = _MAX_QUOTES) -> tuple[list[tuple[str, ...]], int]:
        """``(rows, hidden)``: the latest quote per symbol and feed, and how many more
        there are than ``limit``. The feed the arbitration uses is marked ``*``."""
        active: dict[str, str | None] = {}
        arbitrator = self.manager.arbitrator
        if arbitrator is not None:
            active = arbitrator.active_feeds()
        now = now_ns()
        rows: list[tuple[str, ...]] = []
        for (symbol, feed), (bid, ask, last, ts) in sorted(list(self.quotes.items())):
            mark = "*" if active.get(symbol) == feed else ""
            age = f"{(now - ts) / 1e9:.1f}s" if ts else "-"
            rows.append((symbol, feed + mark, _price(bid), _price(ask), _price(last), age))
        return rows[:limit], max(len(rows) - limit, 0)

    def failover_lines(self, limit: int = _RECENT) -> list[str]:
        lines = []
        for decision in list(self.manager.decisions)[-limit:]:
            when = time.strftime("%H:%M:%S", time.localtime(decision.ts / 1e9))
            symbol = f" {decision.symbol}" if decision.symbol else ""
            lines.append(f"{when} {decision.kind}{symbol}: {decision.from_connector} -> "
                         f"{decision.to_connector} ({decision.reason})")
        return lines

    def failure_lines(self) -> list[str]:
        with self._lock:
            return [f"{connector} {symbol}: {error}"
                    for connector, symbol, error in self.failures]

    def recent(self) -> tuple[list[str], list[str]]:
        with self._lock:
            logs = [text if count == 1 else f"{text} (x{count})"
                    for text, count in self.log_lines]
            return list(self.order_events), logs

    def header(self, title: str = "", clock: bool = True) -> str:
        m = self.manager
        up = time.monotonic() - self.started
        route = m.get_stats()["manager"]["order_route"] or "-"
        return (f"{title + ' | ' if title else ''}"
                f"{time.strftime('%H:%M:%S') + ' | ' if clock else ''}up "
                f"{int(up) // 60:02d}:{int(up) % 60:02d} | strategy "
                f"{m.failover_strategy.value} | order route {route} | failovers {m.failovers}"
                f" | reconnects {m.reconnects}")


def _price(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.6g}"


def _table_lines(columns: Iterable[str], rows: list[tuple[str, ...]]) -> list[str]:
    columns = tuple(columns)
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]
    return out


class StatusView:
    """Draws a :class:`LiveState`. ``live()`` refreshes in place with rich on a terminal;
    :meth:`frame` prints one plain block (``stockfish-rt run`` off a terminal, and the
    demo's snapshots with :meth:`render`)."""

    def __init__(self, manager: ExchangeManager, out: TextIO | None = None,
                 use_rich: bool | None = None, state: LiveState | None = None,
                 title: str = "") -> None:
        self.manager = manager
        self.out = out or sys.stdout
        self.title = title
        self.state = state or LiveState(manager)
        if use_rich is None:
            use_rich = bool(getattr(self.out, "isatty", lambda: False)())
        self.rich = False
        if use_rich:
            try:
                import rich  # noqa: F401
            except ImportError:
                pass
            else:
                self.rich = True
        self._events_shown = 0
        self._failures_shown = 0
        self._logs_shown: list[str] = []
        self._decisions_shown = 0
        self._live: Any = None

    # ------------------------------------------------------------------ plain text
    def render(self, title: str = "") -> None:
        """One status table (the demo's snapshots)."""
        lines = [title] if title else []
        lines += _table_lines(COLUMNS, self.state.connector_rows())
        lines.append(self.state.header())
        print("\n".join(lines), file=self.out, flush=True)

    def frame(self) -> None:
        """One plain block: a line per connector and per quote, then what happened since
        the last block (failovers, subscription failures, order events, log lines)."""
        state = self.state
        stamp = time.strftime("%H:%M:%S")
        lines = [f"[{stamp}] {state.header(self.title, clock=False)}"]
        for row in state.connector_rows():
            name, ctype, status, reason, rate, updates, errors, subs, orders, fills, rec = row
            lines.append(f"[{stamp}] {name} ({ctype}) {status}"
                         f"{f' ({reason})' if reason else ''}: {rate} upd/s, {updates} "
                         f"updates, {errors} errors, subs {subs}, orders {orders}, fills "
                         f"{fills}, reconnects {rec}")
        quotes, hidden = state.quote_rows()
        for symbol, feed, bid, ask, last, age in quotes:
            lines.append(f"[{stamp}] {symbol}@{feed} bid {bid} ask {ask} last {last} "
                         f"age {age}")
        if hidden:
            lines.append(f"[{stamp}] ... {hidden} more quotes")
        lines += [f"[{stamp}] {text}" for text in self._news()]
        print("\n".join(lines), file=self.out, flush=True)

    def _news(self) -> list[str]:
        """Failovers, failures, order events and log lines not printed yet."""
        state = self.state
        out = []
        decisions = self.manager.failovers
        if decisions > self._decisions_shown:
            out += [f"FAILOVER {line}" for line in
                    state.failover_lines(min(decisions - self._decisions_shown, 100))]
            self._decisions_shown = decisions
        failures = state.failure_lines()
        out += [f"SUBSCRIPTION FAILED {line}" for line in failures[self._failures_shown:]]
        self._failures_shown = len(failures)
        events, logs = state.recent()
        new_events = state.order_event_count - self._events_shown
        out += [f"ORDER {line}" for line in events[-new_events:]] if new_events > 0 else []
        self._events_shown = state.order_event_count
        fresh = [line for line in logs if line not in self._logs_shown]
        out += [f"LOG {line}" for line in fresh]
        self._logs_shown = logs
        return out

    # ------------------------------------------------------------------ rich
    def renderable(self) -> Any:
        """The whole view as one rich renderable."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        state = self.state
        parts: list[Any] = [Text(state.header(self.title), style="bold")]
        table = Table(expand=False, box=None, pad_edge=False, header_style="bold")
        for col in COLUMNS:
            table.add_column(col, justify="right" if col in ("upd/s", "updates", "errors",
                                                             "orders", "fills", "reconn")
                             else "left", no_wrap=col != "reason", max_width=40
                             if col == "reason" else None)
        for row in state.connector_rows():
            style = "green" if row[2] == "CONNECTED" else "yellow" if row[2] in (
                "CONNECTING", "RECONNECTING") else "red"
            table.add_row(*row, style=style)
        parts.append(table)
        quotes, hidden = state.quote_rows()
        if quotes:
            qtable = Table(box=None, pad_edge=False, header_style="bold")
            for col in QUOTE_COLUMNS:
                qtable.add_column(col, justify="left" if col in ("symbol", "feed")
                                  else "right")
            for row in quotes:
                qtable.add_row(*row)
            parts += [Text(""), qtable]
            if hidden:
                parts.append(Text(f"... {hidden} more quotes"))
        events, logs = state.recent()
        for heading, lines in (("subscription failures", state.failure_lines()),
                               ("failovers", state.failover_lines()),
                               ("order events", events), ("log", logs)):
            if lines:
                parts.append(Text(f"\n{heading}", style="bold"))
                parts += [Text(line, overflow="ellipsis", no_wrap=True)
                          for line in lines[-_RECENT:]]
        return Group(*parts)

    def __enter__(self) -> StatusView:
        if self.rich:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.out)
            self._live = Live(self.renderable(), console=console, auto_refresh=False,
                              transient=False, redirect_stdout=False, redirect_stderr=False)
            self._live.start()
        return self

    def refresh(self) -> None:
        """Draw the current state: in place with rich, else one plain block."""
        if self._live is not None:
            self._live.update(self.renderable(), refresh=True)
        else:
            self.frame()

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self.renderable(), refresh=True)
            self._live.stop()
            self._live = None


class OwnRecordsFilter(logging.Filter):
    """Keeps the records of this program's own loggers (``stockfish*``): the connectors
    already report what their venue libraries log (an IB error, a refused connection), in
    their own words, so the libraries' lines would say everything twice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("stockfish")


class ViewLogHandler(logging.Handler):
    """Log records into the view's log panel, so that nothing prints through the refreshing
    display; only this program's own records (:class:`OwnRecordsFilter`) unless
    ``everything``."""

    def __init__(self, state: LiveState, level: int = logging.WARNING,
                 everything: bool = False) -> None:
        super().__init__(level)
        self.state = state
        if not everything:
            self.addFilter(OwnRecordsFilter())
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                            "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.state.add_log_line(self.format(record).replace("\n", " "))
        except Exception:
            self.handleError(record)
