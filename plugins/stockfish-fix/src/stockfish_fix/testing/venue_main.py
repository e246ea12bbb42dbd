"""``python -m stockfish_fix.testing.venue_main``: the simulated FIX venue served with a
control channel (:func:`stockfish_core.testing.venue_process.run_venue`), the child of
:class:`~stockfish_fix.testing.process.FIXVenueProcess`."""

from __future__ import annotations

import sys
from typing import Any

from stockfish_core.testing.venue_process import plain_dispatch, run_venue

from stockfish_fix.testing.process import CONTROL_METHODS, CONTROL_PROPERTIES


def _make(options: dict[str, Any]) -> Any:
    from stockfish_fix.testing.venue import FIXVenue

    return FIXVenue(**options)


def main(argv: list[str] | None = None) -> int:
    # Imported before run_venue installs its signal handlers: importing quickfix resets
    # the C-level SIGINT handler.
    import quickfix  # noqa: F401

    return run_venue(_make, plain_dispatch(CONTROL_METHODS, CONTROL_PROPERTIES),
                     description=__doc__ or "", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
