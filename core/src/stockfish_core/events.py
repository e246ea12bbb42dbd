"""Event hooks for plugins, called observer by observer.

The registry (:mod:`stockfish_core.plugins`) installs its pluggy manager here once plugins
are loaded; connectors and the manager call :func:`emit` for rare events (status changes,
order events, failovers, sequence gaps — never per market update). Each observer runs in a
guard of its own: one that raises is counted and logged (once per burst) and the others
are still called, and the caller never sees the error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["emit", "install", "observer_failures"]

log = logging.getLogger(__name__)

#: A failing observer is logged at most once per this many seconds (the count is exact).
LOG_EVERY_S = 60.0

_source: Callable[[], pluggy.PluginManager | None] | None = None
_lock = threading.Lock()
_failures: dict[tuple[str, str], int] = {}
_last_logged: dict[tuple[str, str], float] = {}


def install(source: Callable[[], pluggy.PluginManager | None] | None) -> None:
    """Route events to the hook implementations of the plugin manager ``source()`` returns
    at each call (``None``, or a source that returns ``None``: no observers)."""
    global _source
    _source = source


def emit(hook_name: str, **kwargs: Any) -> None:
    """Call every implementation of event hook ``hook_name`` with ``kwargs``, each in its own
    guard. Never raises."""
    source = _source
    pm = source() if source is not None else None
    if pm is None:
        return
    caller = getattr(pm.hook, hook_name, None)
    if caller is None:
        return
    impls = caller.get_hookimpls()
    if not impls:
        return
    # pluggy's order: the last registered implementation is called first.
    for impl in reversed(impls):
        try:
            impl.function(**{name: kwargs[name] for name in impl.argnames})
        except Exception as exc:
            _failed(impl.plugin_name, hook_name, exc)


def _failed(plugin: str, hook_name: str, exc: Exception) -> None:
    key = (plugin, hook_name)
    now = time.monotonic()
    with _lock:
        count = _failures[key] = _failures.get(key, 0) + 1
        last = _last_logged.get(key)
        quiet = last is not None and now - last < LOG_EVERY_S
        if not quiet:
            _last_logged[key] = now
    if not quiet:
        log.error("plugin %s: observer %s raised %s: %s (%d failure(s) so far; the other "
                  "observers were called)", plugin, hook_name, type(exc).__name__, exc, count,
                  exc_info=exc)


def observer_failures() -> dict[str, int]:
    """How many times each plugin's observer raised, as ``{"plugin:hook": count}``."""
    with _lock:
        return {f"{plugin}:{hook}": n for (plugin, hook), n in _failures.items()}
