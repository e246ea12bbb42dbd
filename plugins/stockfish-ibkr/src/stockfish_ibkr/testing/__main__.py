"""Run the fake TWS in its own process: ``python -m stockfish_ibkr.testing --port N``.

Prints one JSON line (the ``ibkr`` connector entry plus ``control_port`` and ``pid``), then
serves, keeping its orders and executions, until SIGINT or SIGTERM (a clean stop), until
``--lifetime`` seconds have passed, or until the process ``--parent-pid`` is gone. Standard
input is not read: closing it does not stop the fake. ``FakeTWSProcess`` drives it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stockfish_core.testing.venue_process import run_venue

from stockfish_ibkr.testing.book import Instrument
from stockfish_ibkr.testing.control import call_control
from stockfish_ibkr.testing.fake_tws import FakeTWS


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tick-interval", type=float, default=0.05)
    parser.add_argument("--burst", type=int, default=0,
                        help="answer each reqMktData with N ticks as fast as the client reads")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-messages-per-second", type=int, default=50,
                        help="TWS's pacing limit, counted on arrival (0: none)")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"tick_interval": args.tick_interval, "burst_ticks": args.burst, "seed": args.seed,
            "max_messages_per_second": args.max_messages_per_second}


def _make(options: dict[str, Any]) -> FakeTWS:
    if "instruments" in options:
        options["instruments"] = [Instrument.from_dict(i) for i in options["instruments"]]
    return FakeTWS(**options)


def main(argv: list[str] | None = None) -> int:
    return run_venue(_make, call_control, description=__doc__, argv=argv,
                     add_arguments=_add_arguments, options_from_args=_options)


if __name__ == "__main__":
    sys.exit(main())
