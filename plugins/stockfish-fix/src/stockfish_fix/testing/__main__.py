"""``python -m stockfish_fix.testing``: run the simulated FIX venue on 127.0.0.1.

Prints the connector's configuration entry as one JSON line, then serves until SIGINT
(Ctrl-C) or SIGTERM, both a clean stop (exit 0), or until ``--duration`` seconds pass.
Standard input is not read: closing it does not stop the venue. ``--port`` keeps the port
fixed, so that a restarted venue is found again by the connectors that knew it.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
from types import FrameType

from stockfish_fix.testing.venue import FIXVenue


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGINT and SIGTERM set ``stop``. Installed after quickfix is imported: importing it
    resets the C-level SIGINT handler, and Ctrl-C would otherwise kill the process."""
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stockfish_fix.testing",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: a free one)")
    parser.add_argument("--version", default="FIX44", choices=("FIX42", "FIX44", "FIX50SP2"))
    parser.add_argument("--burst", type=int, default=0,
                        help="incremental refreshes sent at once after each snapshot")
    parser.add_argument("--book-model", default="price_level",
                        choices=("top_of_book", "price_level", "entry_id", "position",
                                 "snapshot_only"),
                        help="how the venue keys its market-data books")
    parser.add_argument("--tick-interval", type=float, default=0.02)
    parser.add_argument("--no-ticks", action="store_true", help="books move only on orders")
    parser.add_argument("--top-size", type=float, default=1e9,
                        help="size at the touch (large: orders fill at once)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: at SIGINT / SIGTERM)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port: expected 0..65535, got {args.port}")
    venue = FIXVenue(version=args.version, burst=args.burst, tick_interval=args.tick_interval,
                     market_data=not args.no_ticks, top_size=args.top_size, port=args.port,
                     book_model=args.book_model,
                     max_runtime=args.duration if args.duration is not None else math.inf)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        entry = venue.start()
    except Exception as exc:  # a port in use, a dictionary missing: say so, no traceback
        print(f"python -m stockfish_fix.testing: cannot start the venue on 127.0.0.1:"
              f"{args.port or 'a free port'}: {exc}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(entry), flush=True)
        stop.wait(args.duration)
    finally:
        venue.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
