"""Run the fake TWS in its own process: ``python -m stockfish_ibkr.testing --port N``.

Prints one JSON line (the ``ibkr`` connector entry plus ``control_port`` and ``pid``), then
serves, keeping its orders and executions, until SIGINT or SIGTERM (a clean stop), until
``--lifetime`` seconds have passed, or until the process ``--parent-pid`` is gone. Standard
input is not read: closing it does not stop the fake. ``FakeTWSProcess`` drives it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from typing import Any

from stockfish_ibkr.testing.book import Instrument
from stockfish_ibkr.testing.control import ControlServer
from stockfish_ibkr.testing.fake_tws import FakeTWS

_POLL_S = 0.5  # how often the parent and lifetime are checked


def _options(text: str) -> dict[str, Any]:
    options = json.loads(text or "{}")
    if not isinstance(options, dict):
        raise argparse.ArgumentTypeError("--options must be a JSON object")
    if "instruments" in options:
        options["instruments"] = [Instrument.from_dict(i) for i in options["instruments"]]
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="API port (0: ephemeral)")
    parser.add_argument("--control-port", type=int, default=0,
                        help="control channel port (0: ephemeral)")
    parser.add_argument("--tick-interval", type=float, default=0.05)
    parser.add_argument("--burst", type=int, default=0,
                        help="answer each reqMktData with N ticks as fast as the client reads")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-messages-per-second", type=int, default=50,
                        help="TWS's pacing limit, counted on arrival (0: none)")
    parser.add_argument("--options", type=_options, default={},
                        help="more FakeTWS keyword options, as a JSON object")
    parser.add_argument("--parent-pid", type=int, default=0,
                        help="exit when this process is no longer our parent")
    parser.add_argument("--lifetime", type=float, default=0.0,
                        help="exit after this many seconds (0: no limit)")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {"tick_interval": args.tick_interval, "burst_ticks": args.burst,
                               "seed": args.seed,
                               "max_messages_per_second": args.max_messages_per_second,
                               **args.options, "port": args.port}
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    tws = FakeTWS(**options)
    entry = tws.start()
    control = ControlServer(tws, args.control_port)
    control.start()
    print(json.dumps({**entry, "control_host": "127.0.0.1", "control_port": control.port,
                      "pid": os.getpid()}), flush=True)
    deadline = time.monotonic() + args.lifetime if args.lifetime > 0 else None
    reason = "signal"
    while not stop.wait(_POLL_S):
        if args.parent_pid and os.getppid() != args.parent_pid:
            reason = "parent gone"
            break
        if deadline is not None and time.monotonic() >= deadline:
            reason = "lifetime over"
            break
    control.stop()
    tws.stop()
    print(f"fake TWS on port {entry['port']} stopped ({reason})", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
