"""``stockfish-rt run CONFIG``: run the configured connectors until Ctrl-C or --duration.

Shows the live view (:mod:`stockfish_core.status_view`: in place on a terminal, plain
periodic lines otherwise) or, with ``--json``, streams every normalized update as one JSON
line. ``--metrics-port`` serves Prometheus metrics (on ``--metrics-host``, default
127.0.0.1); a missing ``metrics`` extra or a port in use is reported before any venue is
contacted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from stockfish_core.config import problem_lines
from stockfish_core.errors import ConfigError, JournalError, StockfishError
from stockfish_core.lifecycle import handle_stop_signals
from stockfish_core.manager import ExchangeManager
from stockfish_core.router import OverflowPolicy
from stockfish_core.status_view import LiveState, OwnRecordsFilter, StatusView, ViewLogHandler

__all__ = ["add_arguments", "main"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML configuration file")
    parser.add_argument("--symbols", nargs="*", default=[], help="symbols to subscribe")
    parser.add_argument("--depth", type=int, default=0,
                        help="also subscribe order books to this depth")
    parser.add_argument("--json", action="store_true",
                        help="stream normalized updates as JSON lines instead of the view")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--interval", type=float, default=None,
                        help="seconds between refreshes (default: 0.5 on a terminal, 1 "
                             "otherwise)")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus metrics on METRICS_HOST:PORT")
    parser.add_argument("--metrics-host", default="127.0.0.1",
                        help="address the metrics server binds (default 127.0.0.1; "
                             "0.0.0.0 for every interface)")


def _print_config_error(path: str, exc: ConfigError) -> None:
    print(f"{path}: invalid configuration", file=sys.stderr)
    for line in problem_lines(exc):
        print(f"  {line}", file=sys.stderr)


def _quiet_libraries(verbose: int) -> None:
    """Only this program's own records on the log handlers, unless -vv asks for all."""
    if verbose >= 2:
        return
    for handler in logging.getLogger().handlers:
        handler.addFilter(OwnRecordsFilter())


class _Session:
    """Connect, subscribe and record the outcome on a worker thread, so that the view keeps
    drawing (connecting is bounded, but takes seconds) and Ctrl-C stays responsive."""

    def __init__(self, manager: ExchangeManager, args: argparse.Namespace,
                 state: LiveState | None) -> None:
        self.manager = manager
        self.args = args
        self.state = state
        self.done = threading.Event()
        self.wake = threading.Event()  # set once when connecting is over: draw at once
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="stockfish-run-start",
                                       daemon=True)

    def _run(self) -> None:
        try:
            self.manager.start_all()
            if self.args.symbols:
                results = self.manager.subscribe_price(self.args.symbols)
                if self.args.depth > 0:
                    books = self.manager.subscribe_orderbook(self.args.symbols,
                                                             self.args.depth)
                    for name, outcomes in books.items():
                        results.setdefault(name, {}).update(
                            {f"{symbol} (book)": ok for symbol, ok in outcomes.items()})
                if self.state is not None:
                    self.state.record_subscriptions(results)
                else:
                    _report_failures(results)
        except Exception as exc:  # reported by the main thread
            self.error = exc
        finally:
            self.done.set()
            self.wake.set()


def _report_failures(results: dict[str, Any]) -> None:
    for connector, outcomes in results.items():
        for symbol, outcome in outcomes.items():
            if outcome is not True:
                print(f"subscription failed: {connector} {symbol}: "
                      f"{'refused' if outcome is False else outcome}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    verbose = int(getattr(args, "verbose", 0) or 0)
    try:
        manager = ExchangeManager.from_config(args.config)
    except ConfigError as exc:
        _print_config_error(args.config, exc)
        return 1
    except JournalError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    # Ctrl-C and SIGTERM stop cleanly (orders per manager.on_stop, sessions logged out, the
    # journal flushed) within the bound; a second signal stops at once.
    handle_stop_signals(bound=manager.stop_timeout * 2 + manager.cancel_timeout + 5.0,
                        on_force=manager.journal.flush if manager.journal else None)
    metrics_server = None
    if args.metrics_port is not None:
        from stockfish_core.metrics import StatsCollector, start_metrics_server

        try:
            metrics_server = start_metrics_server(StatsCollector.for_manager(manager),
                                                  args.metrics_port, args.metrics_host)
        except StockfishError as exc:
            print(f"stockfish-rt run: {exc}", file=sys.stderr)
            return 1
        print(f"metrics on http://{args.metrics_host}:{args.metrics_port}/metrics",
              file=sys.stderr)
    try:
        if args.json:
            return _run_json(manager, args, verbose)
        return _run_view(manager, args, verbose)
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()


def _run_view(manager: ExchangeManager, args: argparse.Namespace, verbose: int) -> int:
    state = LiveState(manager)
    view = StatusView(manager, state=state, title=Path(args.config).name)
    interval = args.interval or (0.5 if view.rich else 1.0)
    root = logging.getLogger()
    saved = list(root.handlers)
    if view.rich:  # log records go into the view: nothing may print through it
        root.handlers = [ViewLogHandler(state, logging.DEBUG if verbose >= 2 else
                                        logging.INFO if verbose else logging.WARNING,
                                        everything=verbose >= 2)]
    else:
        _quiet_libraries(verbose)
    state.attach()
    session = _Session(manager, args, state)
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        with view:
            session.thread.start()
            while True:
                wait = interval if deadline is None else min(interval,
                                                             deadline - time.monotonic())
                if wait <= 0:
                    break
                if session.wake.wait(wait):
                    session.wake.clear()
                view.refresh()
                if session.error is not None:
                    break
    except KeyboardInterrupt:
        print("stopping...", file=sys.stderr, flush=True)
    finally:
        root.handlers = saved
        _stop(manager, session)
        state.detach()
    return _outcome(session)


def _outcome(session: _Session) -> int:
    if session.error is None:
        return 0
    print(f"stockfish-rt run: starting failed: {type(session.error).__name__}: "
          f"{session.error}", file=sys.stderr)
    return 1


def _run_json(manager: ExchangeManager, args: argparse.Namespace, verbose: int) -> int:
    _quiet_libraries(verbose)
    queue = manager.router.subscribe_queue(maxsize=100_000, policy=OverflowPolicy.DROP_OLDEST)
    session = _Session(manager, args, None)
    deadline = time.monotonic() + args.duration if args.duration else None
    out = sys.stdout.buffer
    try:
        session.thread.start()
        while deadline is None or time.monotonic() < deadline:
            wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            update = queue.get(timeout=max(wait, 0.0))
            while update is not None:
                out.write(orjson.dumps(update.to_dict()) + b"\n")
                update = queue.get(timeout=0) if len(queue) else None
            sys.stdout.flush()
            if session.error is not None:
                break
    except KeyboardInterrupt:
        print("stopping...", file=sys.stderr, flush=True)
    finally:
        _stop(manager, session)
    return _outcome(session)


def _stop(manager: ExchangeManager, session: _Session) -> None:
    if session.thread.is_alive():  # still connecting: stop_all closes what it opened
        session.done.wait(0.1)
    hung = manager.stop_all()
    if manager.journal is not None:
        manager.journal.close()
    if hung:
        print(f"did not stop in time: {', '.join(hung)}", file=sys.stderr)
