"""Stockfish RT connector for ZeroMQ JSON market-data feeds."""

from stockfish_zmq.__about__ import __version__

__all__ = ["__version__"]
