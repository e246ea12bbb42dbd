"""Stockfish RT on NATS JetStream: gateways (``stockfish-rt serve``) own the venue sessions
and publish on the bus; the ``nats`` connector reaches them from any strategy process."""

from stockfish_nats.__about__ import __version__

__all__ = ["__version__"]
