"""``python -m stockfish_fix.testing``: run the simulated FIX venue on 127.0.0.1.

Prints the connector's configuration entry as one JSON line, then serves until standard
input closes or ``--duration`` seconds pass (benchmarks run it in a child process).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading

from stockfish_fix.testing.venue import FIXVenue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", default="FIX44", choices=("FIX42", "FIX44", "FIX50SP2"))
    parser.add_argument("--burst", type=int, default=0,
                        help="incremental refreshes sent at once after each snapshot")
    parser.add_argument("--tick-interval", type=float, default=0.02)
    parser.add_argument("--no-ticks", action="store_true", help="books move only on orders")
    parser.add_argument("--duration", type=float, default=600.0)
    args = parser.parse_args(argv)
    venue = FIXVenue(version=args.version, burst=args.burst, tick_interval=args.tick_interval,
                     market_data=not args.no_ticks, max_runtime=args.duration,
                     top_size=1e9)
    entry = venue.start()
    print(json.dumps(entry), flush=True)
    done = threading.Event()

    def wait_stdin() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=wait_stdin, daemon=True).start()
    done.wait(args.duration)
    venue.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
