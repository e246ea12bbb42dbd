"""A simulated ZeroMQ market-data publisher for tests, the demo and benchmarks."""

from stockfish_zmq.testing.publisher import FaultLog, SimPublisher

__all__ = ["FaultLog", "SimPublisher"]
