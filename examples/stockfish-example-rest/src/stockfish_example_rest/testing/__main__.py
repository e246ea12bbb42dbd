"""Serve the simulated venue: ``python -m stockfish_example_rest.testing --port 8787``."""

from __future__ import annotations

import argparse
import sys
import threading

from stockfish_example_rest.testing import RestVenue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stockfish_example_rest.testing",
                                     description="Serve the simulated REST venue on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8787, help="TCP port (0: any free port)")
    parser.add_argument("--symbols", default="AAA,BBB", help="comma list of listed symbols")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: until Ctrl-C)")
    args = parser.parse_args(argv)
    venue = RestVenue(tuple(s for s in args.symbols.split(",") if s), port=args.port)
    venue.start()
    print(f"simulated REST venue on http://127.0.0.1:{venue.port} "
          f"(symbols {', '.join(venue.symbols)})", flush=True)
    try:
        threading.Event().wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        venue.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
