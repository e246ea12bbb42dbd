"""Run the fake TWS in its own process: ``python -m stockfish_ibkr.testing [--burst N]``.

Prints one JSON line with the connector entry (host, port, ...) and serves until its
standard input closes (or it is interrupted).
"""

from __future__ import annotations

import argparse
import json
import sys

from stockfish_ibkr.testing.fake_tws import FakeTWS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tick-interval", type=float, default=0.05)
    parser.add_argument("--burst", type=int, default=0,
                        help="answer each reqMktData with N ticks as fast as the client reads")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    tws = FakeTWS(port=args.port, tick_interval=args.tick_interval, burst_ticks=args.burst,
                  seed=args.seed, max_messages_per_second=1000)
    entry = tws.start()
    print(json.dumps(entry), flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    finally:
        tws.stop()


if __name__ == "__main__":
    main()
