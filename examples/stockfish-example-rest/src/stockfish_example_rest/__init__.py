"""Example Stockfish RT connector plugin for a polling HTTP JSON venue (type ``rest``)."""

from stockfish_example_rest.__about__ import __version__

__all__ = ["__version__"]
