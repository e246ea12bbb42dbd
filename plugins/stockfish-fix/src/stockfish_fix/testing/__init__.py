"""The simulated FIX venue (a QuickFIX acceptor with a matching engine) for tests and demos."""

from stockfish_fix.testing.engine import Engine, VenueOrder
from stockfish_fix.testing.venue import DEFAULT_SYMBOLS, FIXVenue, free_port

__all__ = ["DEFAULT_SYMBOLS", "Engine", "FIXVenue", "VenueOrder", "free_port"]
