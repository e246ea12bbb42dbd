"""``python -m stockfish_zmq.testing``: run the simulated ZeroMQ feed on 127.0.0.1.

Publishes the JSON wire format (tickers, with a depth and a trade now and then) for
``--symbols`` at ``--rate`` messages per second on ``--copies`` endpoints (a redundant feed:
``--port``, ``--port + 1``, ...). Prints the ``zmq`` connector's configuration entry as one
JSON line, then serves until SIGINT (Ctrl-C) or SIGTERM, a clean stop (exit 0), or until
``--duration`` seconds pass. Standard input is not read.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
from types import FrameType

from stockfish_zmq.testing.publisher import SimPublisher


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stockfish_zmq.testing",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0,
                        help="first endpoint's TCP port (0: free ports)")
    parser.add_argument("--copies", type=int, default=1,
                        help="endpoints publishing the same stream (redundant feed)")
    parser.add_argument("--symbols", nargs="+", default=["BTCUSD", "ETHUSD"])
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: at SIGINT / SIGTERM)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535 - max(args.copies - 1, 0):
        parser.error(f"--port: expected 0..65535, got {args.port}")
    if not 1 <= args.copies <= 16:
        parser.error(f"--copies: expected 1..16, got {args.copies}")
    if not 0 < args.rate <= 1_000_000:
        parser.error(f"--rate: expected a rate in (0, 1000000], got {args.rate:g}")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    publisher = SimPublisher(symbols=args.symbols, copies=args.copies)
    ports = tuple(range(args.port, args.port + args.copies)) if args.port else ()
    try:
        endpoints = publisher.start(ports)
    except Exception as exc:  # a port in use: say so, no traceback
        publisher.stop()
        print(f"python -m stockfish_zmq.testing: cannot bind 127.0.0.1:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    try:
        publisher.stream(rate=args.rate,
                         duration=args.duration if args.duration is not None else math.inf)
        print(json.dumps({"type": "zmq", "endpoints": endpoints,
                          "symbols": list(args.symbols)}), flush=True)
        stop.wait(args.duration)
    finally:
        publisher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
