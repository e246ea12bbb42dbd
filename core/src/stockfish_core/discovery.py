"""Finding plugin entry points: :mod:`importlib.metadata`, the standard every packaging tool
agrees with, behind a small cache.

``importlib.metadata.entry_points()`` reads every installed distribution's metadata; in a
venv of a hundred distributions that is tens of milliseconds, most of the start-up budget.
What it returns is cached in the user's cache directory, keyed on the interpreter and on
the modification time of every ``sys.path`` entry (installing, removing or upgrading a
distribution changes its directory's mtime, editable installs included), so a warm start
reads one small JSON file. Any problem with the cache falls back to the real lookup.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import tempfile
from typing import Any

import attrs

__all__ = ["PluginEntryPoint", "cache_dir", "discover_entry_points"]

_CACHE_VERSION = 1
ENV_NO_CACHE = "STOCKFISH_NO_DISCOVERY_CACHE"


@attrs.frozen
class PluginEntryPoint:
    """One entry point of an installed distribution (``loaded``: an in-process object)."""

    name: str
    value: str
    dist: str | None = None
    version: str | None = None
    loaded: Any = attrs.field(default=None, eq=False, repr=False)

    def load(self) -> Any:
        if self.loaded is not None:
            return self.loaded
        module_name, _, attr = self.value.partition(":")
        module = importlib.import_module(module_name.strip())
        return getattr(module, attr.strip()) if attr else module


def cache_dir() -> str:
    """Where the discovery cache lives (``$XDG_CACHE_HOME/stockfish-rt`` or
    ``~/.cache/stockfish-rt``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "stockfish-rt")


def _path_key(group: str) -> str:
    parts = [str(_CACHE_VERSION), sys.executable, sys.version, group]
    for entry in sys.path:
        try:
            stamp = os.stat(entry or ".").st_mtime_ns
        except OSError:
            stamp = -1
        parts.append(f"{entry}\0{stamp}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _lookup(group: str) -> list[PluginEntryPoint]:
    from importlib import metadata

    found: list[PluginEntryPoint] = []
    seen: set[tuple[str, str]] = set()
    for ep in metadata.entry_points(group=group):
        dist = ep.dist
        name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        key = (ep.name, ep.value)
        if key in seen:  # the same distribution reached through two sys.path entries
            continue
        seen.add(key)
        found.append(PluginEntryPoint(ep.name, ep.value, name, version))
    return found


def _read_cache(path: str, key: str) -> list[PluginEntryPoint] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("key") != key:
            return None
        return [PluginEntryPoint(e["name"], e["value"], e.get("dist"), e.get("version"))
                for e in data["entry_points"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(path: str, key: str, found: list[PluginEntryPoint]) -> None:
    data = {"key": key, "entry_points": [
        {"name": e.name, "value": e.value, "dist": e.dist, "version": e.version}
        for e in found]}
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ep-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # a read-only home: every start does the real lookup


def discover_entry_points(group: str) -> list[PluginEntryPoint]:
    """Entry points of ``group`` across the installed distributions (first of a name on
    ``sys.path`` wins, as in importlib)."""
    if os.environ.get(ENV_NO_CACHE):
        return _lookup(group)
    key = _path_key(group)
    digest = hashlib.sha256(f"{sys.executable}\0{group}".encode()).hexdigest()[:16]
    path = os.path.join(cache_dir(), f"entry-points-{digest}.json")
    cached = _read_cache(path, key)
    if cached is not None:
        return cached
    found = _lookup(group)
    _write_cache(path, key, found)
    return found
