"""Entry-point discovery of connector plugins, guarded loading and the type registry.

Every plugin, the built-in ``sim`` included, is a module named by an entry point in group
``stockfish.connectors``. Each plugin is loaded and validated on its own: one that fails to
import, whose hooks are unknown or mis-declared, whose registration hook raises, or that
registers something malformed or a name already taken is recorded with its error and
skipped; the others load. ``STOCKFISH_PLUGINS`` (comma list; empty = none) limits which
entry points load.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from stockfish_core import events, hookspecs
from stockfish_core.discovery import PluginEntryPoint, discover_entry_points
from stockfish_core.errors import PluginError
from stockfish_core.registry import ConnectorType

if TYPE_CHECKING:
    from stockfish_core.connector import BaseConnector

__all__ = [
    "ConnectorType",
    "PluginInfo",
    "create_connector",
    "fresh_registry",
    "get_connector_type",
    "get_plugin_manager",
    "list_connector_types",
    "list_plugins",
    "load_plugins",
    "register_plugin",
]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "stockfish.connectors"
ENV_VAR = "STOCKFISH_PLUGINS"
#: Hooks whose implementations observe events (called through :func:`events.emit`).
EVENT_HOOKS = frozenset({"stockfish_connector_status_changed", "stockfish_order_event",
                         "stockfish_failover", "stockfish_sequence_gap"})
_SPEC_NAMES = sorted(n for n in dir(hookspecs) if n.startswith("stockfish_"))


@attrs.define
class PluginInfo:
    """What loading one plugin produced (for ``stockfish-rt plugins``)."""

    name: str
    dist: str | None = None
    version: str | None = None
    module: str | None = None
    connector_types: list[str] = attrs.field(factory=list)
    hooks: list[str] = attrs.field(factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class _Registry:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.types: dict[str, ConnectorType] = {}
        self.plugins: dict[str, PluginInfo] = {}


_lock = threading.RLock()
_registry: _Registry | None = None


def _current_pm() -> pluggy.PluginManager | None:
    reg = _registry
    return reg.pm if reg is not None else None


events.install(_current_pm)


def _allowed(names: list[str] | None) -> set[str] | None:
    if names is not None:
        return {n.strip() for n in names if n.strip()}
    raw = os.environ.get(ENV_VAR)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _hook_problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """What is wrong with ``plugin``'s hook implementations: unknown hook names (a typo
    would otherwise never be called) and wrappers on event hooks."""
    problems = []
    for caller in pm.get_hookcallers(plugin) or []:
        mine = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
        if not caller.has_spec():
            if any(not impl.optionalhook for impl in mine):
                close = difflib.get_close_matches(caller.name, _SPEC_NAMES, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"unknown hook {caller.name!r}{hint}")
        elif caller.name in EVENT_HOOKS and any(i.hookwrapper or i.wrapper for i in mine):
            problems.append(f"{caller.name} is an event hook: implement it as a plain "
                            f"observer, not a wrapper")
    return problems


def _validate_type(ctype: Any, existing: dict[str, ConnectorType]) -> str | None:
    if not isinstance(ctype, ConnectorType):
        return f"registered {type(ctype).__name__}, expected ConnectorType"
    if not ctype.name or not ctype.name.isidentifier():
        return f"connector type name {ctype.name!r} is not a valid identifier"
    if not attrs.has(ctype.settings_class):
        return f"connector type {ctype.name!r}: settings_class must be an attrs class"
    if isinstance(ctype.connector_class, type):
        from stockfish_core.connector import BaseConnector  # a class given directly

        if not issubclass(ctype.connector_class, BaseConnector):
            return f"connector type {ctype.name!r}: connector_class is not a BaseConnector"
    if isinstance(ctype.connector_class, str) and ":" not in ctype.connector_class:
        return f"connector type {ctype.name!r}: connector_class must be 'module:Class'"
    if ctype.name in existing:
        return (f"connector type {ctype.name!r} is already registered by plugin "
                f"{existing[ctype.name].plugin!r}")
    return None


def _load_one(reg: _Registry, ep: PluginEntryPoint) -> PluginInfo:
    """Import, register and validate one plugin; on any failure it is left unregistered and
    the error recorded. Never raises."""
    info = PluginInfo(name=ep.name, dist=ep.dist, version=ep.version, module=ep.value)
    try:
        module = ep.load()
    except Exception as exc:  # a broken plugin must never stop the others
        info.error = f"import failed: {type(exc).__name__}: {exc}"
        return info
    try:
        reg.pm.register(module, name=ep.name)
    except Exception as exc:  # pluggy checks argument names against the specs here
        info.error = f"registration failed: {type(exc).__name__}: {exc}"
        return info
    problems = _hook_problems(reg.pm, module)
    if problems:
        reg.pm.unregister(module)
        info.error = "; ".join(problems)
        return info
    info.hooks = sorted(hc.name for hc in reg.pm.get_hookcallers(module) or [])
    collected: list[Any] = []
    impls = [i for i in reg.pm.hook.stockfish_register_connectors.get_hookimpls()
             if i.plugin is module]
    try:
        for impl in impls:
            impl.function(register=collected.append)
    except Exception as exc:
        reg.pm.unregister(module)
        info.error = f"stockfish_register_connectors raised {type(exc).__name__}: {exc}"
        return info
    staged: dict[str, ConnectorType] = dict(reg.types)
    for ctype in collected:
        problem = _validate_type(ctype, staged)
        if problem:
            problems.append(problem)
            continue
        owned = attrs.evolve(ctype, plugin=ep.name)
        staged[owned.name] = owned
        info.connector_types.append(owned.name)
    if problems:
        reg.pm.unregister(module)
        info.error = "; ".join(problems)
        info.connector_types = []
        return info
    reg.types = staged
    return info


def _load_order(ep: PluginEntryPoint) -> tuple[bool, str]:
    # Built-in types load first so that no third-party plugin can take their names.
    return (ep.dist != "stockfish-core", ep.name)


def load_plugins(names: list[str] | None = None, *, reload: bool = False) -> dict[str, PluginInfo]:
    """Discover and load plugins once (or again with ``reload``); returns what loaded."""
    global _registry
    with _lock:
        if _registry is not None and not reload and names is None:
            return dict(_registry.plugins)
        reg = _Registry()
        allowed = _allowed(names)
        for ep in sorted(discover_entry_points(ENTRY_POINT_GROUP), key=_load_order):
            if allowed is not None and ep.name not in allowed:
                continue
            if ep.name in reg.plugins:
                continue
            info = _load_one(reg, ep)
            reg.plugins[ep.name] = info
            if info.error:
                log.warning("plugin %s (%s %s) skipped: %s", ep.name, info.dist, info.version,
                            info.error)
        _registry = reg
        return dict(reg.plugins)


@contextlib.contextmanager
def fresh_registry(names: list[str] | None = None) -> Iterator[dict[str, PluginInfo]]:
    """Load plugins anew (``names`` limits them, as ``STOCKFISH_PLUGINS`` does) for the
    duration of the block; the registry in use before comes back after it (tests)."""
    global _registry
    with _lock:
        saved = _registry
        try:
            yield load_plugins(names, reload=True)
        finally:
            _registry = saved


def load_plugins_once(names: list[str] | None = None) -> dict[str, PluginInfo]:
    """Load plugins (limited to ``names``) unless they are loaded already."""
    with _lock:
        if _registry is not None:
            return dict(_registry.plugins)
        return load_plugins(names)


def _get() -> _Registry:
    if _registry is None:
        load_plugins()
    assert _registry is not None
    return _registry


def get_plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager (loads plugins on first use)."""
    return _get().pm


def register_plugin(module: Any, name: str) -> PluginInfo:
    """Register an in-process plugin object (tests, embedding) as if found by entry point,
    with the same validation."""
    reg = _get()
    entry = PluginEntryPoint(name, getattr(module, "__name__", repr(module)), loaded=module)
    with _lock:
        info = _load_one(reg, entry)
        reg.plugins[name] = info
    return info


def list_plugins() -> list[PluginInfo]:
    return list(_get().plugins.values())


def list_connector_types() -> dict[str, ConnectorType]:
    return dict(_get().types)


def get_connector_type(name: str) -> ConnectorType:
    """The registered type ``name``; an unknown name lists what is installed."""
    reg = _get()
    ctype = reg.types.get(name)
    if ctype is not None:
        return ctype
    broken = reg.plugins.get(name)
    if broken is not None and broken.error:
        raise PluginError(
            f"connector type {name!r}: plugin {name!r} (dist {broken.dist}) failed to load: "
            f"{broken.error}"
        )
    installed = ", ".join(sorted(reg.types)) or "none"
    raise PluginError(
        f"unknown connector type {name!r} (installed: {installed}); "
        f"install it with: pip install stockfish-{name}"
    )


def create_connector(
    type_name: str, settings: Any = None, *, name: str | None = None, router: Any = None,
    **overrides: Any,
) -> BaseConnector:
    """Build a connector of a registered type with its settings."""
    ctype = get_connector_type(type_name)
    cls = ctype.load_class()
    return cls(name=name or type_name, router=router, settings=settings, **overrides)


def simulated_venues() -> dict[str, Any]:
    """Every simulated venue factory plugins offer, by name."""
    offered: dict[str, Any] = {}
    get_plugin_manager().hook.stockfish_simulated_venues(register=offered.setdefault)
    return offered
