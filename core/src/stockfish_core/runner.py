"""``stockfish-rt run CONFIG``: run the configured connectors until Ctrl-C or --duration.

Shows a live status table (rich on a terminal, plain text otherwise) or, with ``--json``,
streams every normalized update as one JSON line. ``--metrics-port`` serves Prometheus
metrics on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import orjson

from stockfish_core.errors import ConfigError, JournalError
from stockfish_core.lifecycle import handle_stop_signals
from stockfish_core.manager import ExchangeManager
from stockfish_core.router import OverflowPolicy
from stockfish_core.status_view import StatusView

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML configuration file")
    parser.add_argument("--symbols", nargs="*", default=[], help="symbols to subscribe")
    parser.add_argument("--depth", type=int, default=0,
                        help="also subscribe order books to this depth")
    parser.add_argument("--json", action="store_true",
                        help="stream normalized updates as JSON lines instead of the table")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between status refreshes")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus metrics on 127.0.0.1:PORT")


def main(args: argparse.Namespace) -> int:
    try:
        manager = ExchangeManager.from_config(args.config)
    except ConfigError as exc:
        print(f"{args.config}: invalid configuration", file=sys.stderr)
        for path, message in exc.problems:
            print(f"  {path}: {message}" if path else f"  {message}", file=sys.stderr)
        return 1
    except JournalError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    # Ctrl-C and SIGTERM stop cleanly (orders per manager.on_stop, sessions logged out, the
    # journal flushed) within the bound; a second signal stops at once.
    handle_stop_signals(bound=manager.stop_timeout * 2 + manager.cancel_timeout + 5.0,
                        on_force=manager.journal.flush if manager.journal else None)
    stop = threading.Event()
    metrics_server = None
    queue = manager.router.subscribe_queue(maxsize=100_000, policy=OverflowPolicy.DROP_OLDEST) \
        if args.json else None
    try:
        manager.start_all()
        if args.symbols:
            manager.subscribe_price(args.symbols)
            if args.depth > 0:
                manager.subscribe_orderbook(args.symbols, args.depth)
        if args.metrics_port is not None:
            from stockfish_core.metrics import StatsCollector, serve_metrics

            metrics_server = serve_metrics(
                StatsCollector(manager.list_connectors_objects,
                               lambda: manager.get_stats()["manager"]), args.metrics_port)
            print(f"metrics on http://127.0.0.1:{args.metrics_port}/metrics", file=sys.stderr)
        deadline = time.monotonic() + args.duration if args.duration else None
        view = StatusView(manager) if not args.json else None
        while not stop.is_set():
            wait = args.interval if deadline is None else min(args.interval,
                                                              deadline - time.monotonic())
            if wait <= 0:
                break
            if queue is not None:
                update = queue.get(timeout=wait)
                while update is not None:
                    sys.stdout.buffer.write(orjson.dumps(update.to_dict()) + b"\n")
                    update = queue.get(timeout=0) if len(queue) else None
                sys.stdout.flush()
            else:
                stop.wait(wait)
                assert view is not None
                view.render(time.strftime("%H:%M:%S"))
    except KeyboardInterrupt:
        print("stopping...", file=sys.stderr)
    finally:
        hung = manager.stop_all()
        if manager.journal is not None:
            manager.journal.close()
        if metrics_server is not None:
            metrics_server.shutdown()
        if hung:
            print(f"did not stop in time: {', '.join(hung)}", file=sys.stderr)
    return 0
