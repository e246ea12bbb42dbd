"""Stockfish RT connector for Interactive Brokers (TWS / IB Gateway)."""

from stockfish_ibkr.__about__ import __version__

__all__ = ["__version__"]
