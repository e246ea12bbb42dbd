"""Test support for connector authors: the conformance kit and waiting helpers.

``Recorder`` and ``wait_until`` work anywhere (scripts, examples, your own tools);
``ConnectorConformance`` is a pytest class and needs pytest
(``pip install stockfish-core[testing]``), imported only when it is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stockfish_core.testing.waiting import Recorder, wait_until

if TYPE_CHECKING:
    from stockfish_core.testing.conformance import ConnectorConformance

__all__ = ["ConnectorConformance", "Recorder", "wait_until"]


def __getattr__(name: str) -> Any:
    if name == "ConnectorConformance":
        from stockfish_core.testing.conformance import ConnectorConformance

        return ConnectorConformance
    raise AttributeError(f"module 'stockfish_core.testing' has no attribute {name!r}")
