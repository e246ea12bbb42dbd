"""Entry-point discovery of connector plugins, guarded loading and the type registry.

Every plugin, the built-in ``sim`` included, is a module named by an entry point in group
``stockfish.connectors``. Loading one that fails (import error, hook error, bad or
duplicate registration) records the failure and skips it; the others load.
``STOCKFISH_PLUGINS`` (comma list; empty = none) limits which entry points load.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from stockfish_core import hookspecs
from stockfish_core.capabilities import Capabilities
from stockfish_core.errors import PluginError

if TYPE_CHECKING:
    from stockfish_core.connector import BaseConnector

__all__ = [
    "ConnectorType",
    "PluginInfo",
    "create_connector",
    "emit",
    "get_connector_type",
    "get_plugin_manager",
    "list_connector_types",
    "list_plugins",
    "load_plugins",
]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "stockfish.connectors"
ENV_VAR = "STOCKFISH_PLUGINS"


@attrs.frozen
class ConnectorType:
    """A registered kind of connector.

    ``connector_class`` may be the class or a ``"module:Class"`` string so that heavy
    libraries are imported only when a connector is created. ``settings_class`` is an attrs
    class (a :class:`~stockfish_core.settings.ConnectorSettings` subclass) and must be
    cheap to import: the configuration is validated against it.
    """

    name: str
    connector_class: type[BaseConnector] | str
    settings_class: type
    description: str = ""
    capabilities: Capabilities = attrs.field(factory=Capabilities)
    install_hint: str = ""
    plugin: str = ""

    def load_class(self) -> type[BaseConnector]:
        from stockfish_core.connector import BaseConnector

        target = self.connector_class
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                target = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise PluginError(
                    f"connector type {self.name!r}: cannot load {self.connector_class} "
                    f"({exc}){'; ' + self.install_hint if self.install_hint else ''}"
                ) from exc
        if not (isinstance(target, type) and issubclass(target, BaseConnector)):
            raise PluginError(f"connector type {self.name!r}: {target!r} is not a BaseConnector")
        return target


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


@attrs.frozen
class PluginEntryPoint:
    """One ``stockfish.connectors`` entry point of an installed distribution."""

    name: str
    value: str
    dist: str | None = None
    version: str | None = None

    def load(self) -> Any:
        module_name, _, attr = self.value.partition(":")
        module = importlib.import_module(module_name.strip())
        return getattr(module, attr.strip()) if attr else module


def _parse_entry_points(text: str, group: str) -> Iterator[tuple[str, str]]:
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
        elif current == group and "=" in line:
            name, _, value = line.partition("=")
            yield name.strip(), value.strip()


def _read_dist_header(meta_dir: str) -> tuple[str | None, str | None]:
    name = version = None
    meta = os.path.join(meta_dir, "METADATA" if meta_dir.endswith(".dist-info") else "PKG-INFO")
    try:
        with open(meta, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    break  # end of the header block
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Version:"):
                    version = line[8:].strip()
    except OSError:
        pass
    return name, version


def discover_entry_points(group: str = "stockfish.connectors") -> list[PluginEntryPoint]:
    """Entry points of ``group`` from every distribution on ``sys.path``.

    ``importlib.metadata.entry_points()`` parses the metadata of every installed
    distribution (about 90 ms in a venv of a hundred); this reads only the small
    ``entry_points.txt`` files and parses metadata for the distributions that match. As in
    importlib, the first distribution of a name on ``sys.path`` wins.
    """
    found: list[PluginEntryPoint] = []
    seen_dists: set[str] = set()
    # os.scandir, not pathlib: importing pathlib costs ~10 ms of the start-up budget.
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as it:
                candidates = sorted(e.path for e in it
                                    if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        for meta_dir in candidates:
            try:
                with open(os.path.join(meta_dir, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            if group not in text:
                continue
            dist, version = _read_dist_header(meta_dir)
            key = (dist or os.path.basename(meta_dir)).lower().replace("_", "-")
            if key in seen_dists:
                continue
            seen_dists.add(key)
            found.extend(PluginEntryPoint(name, value, dist, version)
                         for name, value in _parse_entry_points(text, group))
    return found


class _Registry:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.types: dict[str, ConnectorType] = {}
        self.plugins: dict[str, PluginInfo] = {}


_lock = threading.RLock()
_registry: _Registry | None = None


def _allowed(names: list[str] | None) -> set[str] | None:
    if names is not None:
        return {n.strip() for n in names if n.strip()}
    raw = os.environ.get(ENV_VAR)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _is_connector_class(cls: type) -> bool:
    from stockfish_core.connector import BaseConnector

    return issubclass(cls, BaseConnector)


def _validate_type(ctype: Any, plugin_name: str, existing: dict[str, ConnectorType]) -> str | None:
    if not isinstance(ctype, ConnectorType):
        return f"registered {type(ctype).__name__}, expected ConnectorType"
    if not ctype.name or not ctype.name.isidentifier():
        return f"connector type name {ctype.name!r} is not a valid identifier"
    if not attrs.has(ctype.settings_class):
        return f"connector type {ctype.name!r}: settings_class must be an attrs class"
    if isinstance(ctype.connector_class, type) and not _is_connector_class(
        ctype.connector_class
    ):
        return f"connector type {ctype.name!r}: connector_class is not a BaseConnector"
    if isinstance(ctype.connector_class, str) and ":" not in ctype.connector_class:
        return f"connector type {ctype.name!r}: connector_class must be 'module:Class'"
    if ctype.name in existing:
        return (f"connector type {ctype.name!r} is already registered by plugin "
                f"{existing[ctype.name].plugin!r}")
    return None


def _load_one(reg: _Registry, ep: PluginEntryPoint) -> PluginInfo:
    info = PluginInfo(name=ep.name, dist=ep.dist, version=ep.version, module=ep.value)
    try:
        module = ep.load()
    except Exception as exc:  # a broken plugin must never stop the others
        info.error = f"import failed: {type(exc).__name__}: {exc}"
        return info
    try:
        reg.pm.register(module, name=ep.name)
    except Exception as exc:
        info.error = f"registration failed: {type(exc).__name__}: {exc}"
        return info
    info.hooks = sorted(
        hc.name for hc in reg.pm.get_hookcallers(module) or [] if hc.name.startswith("stockfish_")
    )
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
    problems = []
    staged: dict[str, ConnectorType] = dict(reg.types)
    for ctype in collected:
        problem = _validate_type(ctype, ep.name, staged)
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
        reg.pm.check_pending()
        _registry = reg
        return dict(reg.plugins)


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
    """Register an in-process plugin object (tests, embedding) as if found by entry point."""
    reg = _get()

    class _InProcess(PluginEntryPoint):
        def load(self) -> Any:
            return module

    with _lock:
        info = _load_one(reg, _InProcess(name, getattr(module, "__name__", repr(module))))
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


def emit(hook_name: str, **kwargs: Any) -> None:
    """Call an event hook if plugins are loaded; a raising hook is logged, never raised."""
    reg = _registry
    if reg is None:
        return
    caller = getattr(reg.pm.hook, hook_name)
    if not caller.get_hookimpls():
        return
    try:
        caller(**kwargs)
    except Exception:
        log.exception("hook %s raised", hook_name)
