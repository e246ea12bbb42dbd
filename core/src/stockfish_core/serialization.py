"""The one cattrs converter shared by ``to_dict``/``from_dict`` of every model.

cattrs costs about 80 ms to import, so the converter is built on first use. Modules whose
types need custom hooks register a configuration function with :func:`configure`; this
module imports nothing of the package, so every model module can import it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import cattrs

__all__ = ["configure", "converter"]

_configurations: list[Callable[[cattrs.Converter], None]] = []
_converter: cattrs.Converter | None = None
_lock = threading.Lock()


def configure(hook: Callable[[cattrs.Converter], None]) -> None:
    """Have ``hook(converter)`` register custom (un)structure hooks when the converter is
    built (at once if it is built already)."""
    with _lock:
        _configurations.append(hook)
        if _converter is not None:
            hook(_converter)


def converter() -> cattrs.Converter:
    """The shared converter, built (and every registered configuration applied) once."""
    global _converter
    built = _converter
    if built is not None:
        return built
    with _lock:
        if _converter is None:
            import cattrs  # here, not at the top: its import is most of our start-up time

            fresh = cattrs.Converter()
            for hook in _configurations:
                hook(fresh)
            _converter = fresh
        return _converter
