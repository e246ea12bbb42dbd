"""Test support for connector authors: the conformance kit and waiting helpers.

Requires pytest (``pip install stockfish-core[testing]``).
"""

from stockfish_core.testing.conformance import ConnectorConformance
from stockfish_core.testing.waiting import Recorder, wait_until

__all__ = ["ConnectorConformance", "Recorder", "wait_until"]
