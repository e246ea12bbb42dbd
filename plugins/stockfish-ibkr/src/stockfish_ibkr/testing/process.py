"""The fake TWS in a child process, driven from this one: :class:`FakeTWSProcess`.

The child (``python -m stockfish_ibkr.testing``) keeps its orders and executions while the
processes that trade against it crash and restart. This object starts it, reads its config
line, and calls its control methods over the loopback control channel under the same names
as :class:`~stockfish_ibkr.testing.FakeTWS` has (see
:class:`stockfish_core.testing.venue_process.VenueProcess`).
"""

from __future__ import annotations

from stockfish_core.testing.venue_process import VenueProcess

from stockfish_ibkr.testing.book import Instrument
from stockfish_ibkr.testing.control import CONTROL_METHODS, CONTROL_PROPERTIES

__all__ = ["FakeTWSProcess"]


class FakeTWSProcess(VenueProcess):
    """A fake TWS in its own process.

    ``options`` are :class:`FakeTWS` keyword options (JSON-able; ``instruments`` as dicts).
    Control methods (``inject_error``, ``restart``, ``farm_lost``, ``stats``, ...) and
    records (``orders_received``, ``executions``, ...) read like FakeTWS's.
    """

    module = "stockfish_ibkr.testing"
    methods = CONTROL_METHODS
    properties = CONTROL_PROPERTIES

    def instrument(self, symbol: str) -> Instrument:
        """A copy of the child's instrument ``symbol`` as it is now."""
        return Instrument.from_dict(self.call("instrument", symbol))
