"""Simulated FIX venues for tests and demos: a QuickFIX acceptor with a matching engine
(``FIXVenue``) and a second one on another engine, jspurefix in Node.js (``JSFIXVenue``)."""

from stockfish_fix.testing.engine import Engine, VenueOrder
from stockfish_fix.testing.js_venue import JSFIXVenue, JSVenueError
from stockfish_fix.testing.process import FIXVenueProcess
from stockfish_fix.testing.venue import DEFAULT_SYMBOLS, FIXVenue, free_port

__all__ = ["DEFAULT_SYMBOLS", "Engine", "FIXVenue", "FIXVenueProcess", "JSFIXVenue",
           "JSVenueError", "VenueOrder", "free_port"]
