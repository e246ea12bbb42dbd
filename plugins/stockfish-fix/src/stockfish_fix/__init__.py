"""Stockfish RT connector for FIX venues (QuickFIX), import name ``stockfish_fix``.

The connector lives in :mod:`stockfish_fix.connector` and imports quickfix when created;
this package's top level stays cheap to import.
"""

from stockfish_fix.__about__ import __version__

__all__ = ["__version__"]
