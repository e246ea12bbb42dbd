"""Configuration: YAML (or a mapping) → attrs settings, through cattrs.

Shape (the seed's)::

    plugins: [sim, fix]            # optional: limit which plugins load
    connectors:
      fix:                         # the name; ``type`` defaults to the name
        enabled: true
        primary: true
        type: fix
        host: ${FIX_HOST}          # ${VAR} reads the environment (secrets too)
        ...                        # the connector type's own settings
    manager:
      failover_strategy: best_available
      health_check_interval: 30

The seed's environment variables (``IBKR_HOST``, ``FIX_SENDER_ID``, ``ZMQ_ENDPOINTS``, ...)
override the file; each settings class lists its own in ``ENV_OVERRIDES``. They apply to
the connector named like its type, or to the only connector of that type. Every problem is
reported at once, each with its path: ``connectors.fix.port: expected an int, got 'abc'``.
"""

from __future__ import annotations

import difflib
import enum
import math
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
import cattrs.errors

from stockfish_core.errors import ConfigError, PluginError
from stockfish_core.settings import MASK, Secret

__all__ = [
    "AppConfig",
    "ArbitrationConfig",
    "ConnectorConfig",
    "ManagerConfig",
    "dump_config",
    "load_config",
]

STRATEGIES = ("round_robin", "primary_backup", "best_available")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENVELOPE = ("enabled", "primary", "type")


def _positive(_: Any, attribute: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
    if not value > 0:
        raise ValueError(f"must be > 0, got {value!r}")


def _strategy(_: Any, __: Any, value: str) -> None:
    if value not in STRATEGIES:
        raise ValueError(f"expected one of {', '.join(STRATEGIES)}, got {value!r}")


def _one_of(*choices: str) -> Any:
    def check(_: Any, __: Any, value: str) -> None:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class ArbitrationConfig:
    """Market-data arbitration: one stream per symbol from the best live feed.

    ``feeds`` lists connector names in order of preference (default: the primary, then the
    others); ``symbols`` overrides that order per symbol; a feed silent for ``stale_after``
    seconds yields to the next one until it recovers. ``enabled`` turns arbitration on.
    """

    enabled: bool = False
    stale_after: float = attrs.field(default=2.0, validator=_positive)
    feeds: list[str] = attrs.field(factory=list)
    symbols: dict[str, list[str]] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ManagerConfig:
    """``manager:`` section.

    - ``failover_strategy``: how a new order picks its connector (``round_robin``,
      ``primary_backup`` or ``best_available``).
    - ``health_check_interval``: seconds between health rounds (silence and probe checks).
    - ``stop_timeout``: seconds ``stop_all`` waits for the connectors to close.
    - ``order_timeout``: accepted for the seed's configuration shape; not used yet.
    - ``arbitration``: market-data arbitration (below).
    - ``journal``: the order journal (crash safety): ``auto`` (a file of its own under the
      user's data directory for a configuration file; none for a configuration given as a
      mapping), ``off``, ``memory`` (tests only: no crash safety) or a file path.
    - ``journal_sync``: ``normal`` (a committed record survives the death of the process)
      or ``full`` (an fsync per commit: it survives a power cut too, at about 1-2 ms per
      order).
    - ``journal_retention_days``: terminal orders are compacted after this many days.
    - ``on_stop``: what stopping does to resting orders: ``leave`` them working, or
      ``cancel_open`` (cancel them and wait up to ``cancel_timeout`` seconds for the
      acknowledgements).
    """

    failover_strategy: str = attrs.field(default="best_available", validator=_strategy)
    health_check_interval: float = attrs.field(default=30.0, validator=_positive)
    stop_timeout: float = attrs.field(default=5.0, validator=_positive)
    order_timeout: float = attrs.field(default=5.0, validator=_positive)
    arbitration: ArbitrationConfig = attrs.field(factory=ArbitrationConfig)
    journal: str = "auto"
    journal_sync: str = attrs.field(default="normal", validator=_one_of("normal", "full"))
    journal_retention_days: float = attrs.field(default=7.0, validator=_positive)
    on_stop: str = attrs.field(default="leave", validator=_one_of("leave", "cancel_open"))
    cancel_timeout: float = attrs.field(default=10.0, validator=_positive)


@attrs.frozen(kw_only=True)
class ConnectorConfig:
    """One enabled connector: its name, type, role and structured settings."""

    name: str
    type: str
    enabled: bool = True
    primary: bool = False
    settings: Any = None

    @property
    def data_only(self) -> bool:
        return bool(getattr(self.settings, "data_only", False))


@attrs.frozen(kw_only=True)
class AppConfig:
    connectors: dict[str, ConnectorConfig] = attrs.field(factory=dict)
    disabled: list[str] = attrs.field(factory=list)
    manager: ManagerConfig = attrs.field(factory=ManagerConfig)
    plugins: list[str] | None = None
    #: The configuration file's absolute path (None for a mapping).
    source: str | None = None


# --------------------------------------------------------------------------- converter
def _describe(value: Any) -> str:
    return repr(value) if not isinstance(value, Secret) else MASK


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an int, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise ValueError(f"expected an int, got {_describe(value)}")


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    else:
        raise ValueError(f"expected a number, got {_describe(value)}")
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}


def _strict_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {_describe(value)}")


def _strict_str(value: Any, _: type) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {_describe(value)}")


def _secret(value: Any, _: type) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return Secret(str(value))
    raise ValueError("expected a string")


def _list_of(value: Any, item: type) -> list[Any]:
    if isinstance(value, str):  # an env var or a scalar: a comma list
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list, got {_describe(value)}")
    return [_converter.structure(v, item) for v in value]


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(Secret, _secret)
    conv.register_unstructure_hook(Secret, lambda s: MASK)

    def is_list(t: Any) -> bool:
        return typing.get_origin(t) in (list, tuple) and len(typing.get_args(t)) >= 1

    def structure_list(value: Any, t: Any) -> Any:
        args = typing.get_args(t)
        items = _list_of(value, args[0])
        return tuple(items) if typing.get_origin(t) is tuple else items

    conv.register_structure_hook_func(is_list, structure_list)

    def is_enum(t: Any) -> bool:
        return isinstance(t, type) and issubclass(t, enum.Enum)

    def structure_enum(value: Any, t: Any) -> Any:
        try:
            return t(value)
        except ValueError:
            try:
                return t(str(value).upper())
            except ValueError:
                choices = ", ".join(str(m.value) for m in t)
                raise ValueError(f"expected one of {choices}, got {value!r}") from None

    conv.register_structure_hook_func(is_enum, structure_enum)
    return conv


_converter = _make_converter()


# --------------------------------------------------------------------------- errors
def _flatten(exc: BaseException, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        known = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields, key=str):
            if not isinstance(key, str):  # YAML allows null, number or complex keys
                out.append((path, f"setting names must be text, got {key!r}"))
                continue
            hint = difflib.get_close_matches(key, known, n=1)
            out.append((f"{path}.{key}", "unknown setting" +
                        (f" (did you mean {hint[0]!r}?)" if hint else "")))
        return
    if isinstance(exc, cattrs.errors.BaseValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            name = getattr(note, "name", None)
            index = getattr(note, "index", None)
            sub_path = f"{path}.{name}" if name is not None else (
                f"{path}[{index}]" if index is not None else path)
            _flatten(sub, sub_path, out)
        for sub in without:
            _flatten(sub, path, out)
        return
    if isinstance(exc, KeyError):
        out.append((f"{path}.{exc.args[0]}" if exc.args else path, "required setting missing"))
        return
    out.append((path, _type_error_text(exc) if isinstance(exc, TypeError) else str(exc)))


def _type_error_text(exc: TypeError) -> str:
    text = str(exc)
    missing = re.search(r"missing \d+ required keyword-only argument[s]?: (.*)", text)
    if missing:
        return f"required setting missing: {missing.group(1)}"
    return text


def _validate_all(obj: Any, path: str, out: list[tuple[str, str]]) -> None:
    """Run every attrs validator (attrs itself stops at the first failure)."""
    for field in attrs.fields(type(obj)):
        value = getattr(obj, field.name)
        if field.validator is not None:
            try:
                field.validator(obj, field, value)
            except Exception as exc:
                message = str(exc)
                prefix = f"{field.name}: "
                out.append((f"{path}.{field.name}", message.removeprefix(prefix)))
        if attrs.has(type(value)):
            _validate_all(value, f"{path}.{field.name}", out)


def _structure(data: Any, cls: type, path: str, problems: list[tuple[str, str]]) -> Any:
    before = len(problems)
    try:
        with attrs.validators.disabled():
            obj: Any = _converter.structure(data, cls)
    except Exception as exc:
        _flatten(exc, path, problems)
        if len(problems) == before:
            problems.append((path, str(exc)))
        return None
    _validate_all(obj, path, problems)
    return obj if len(problems) == before else None


# --------------------------------------------------------------------------- loading
def _expand_env(value: Any, path: str, problems: list[tuple[str, str]],
                env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                problems.append((path, f"environment variable {name} is not set"))
                return ""
            return env[name]
        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{path}.{k}" if path else str(k), problems, env)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{path}[{i}]", problems, env) for i, v in enumerate(value)]
    return value


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("", f"cannot read {path}: {exc.strerror or exc}")]) from None
    import yaml

    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError([("", f"{path}: invalid YAML{where}: "
                                f"{getattr(exc, 'problem', None) or exc}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([("", f"{path}: expected a mapping at the top level, "
                                f"got {type(data).__name__}")])
    return data


def _yaml_loader() -> Any:
    """A SafeLoader with YAML 1.2 booleans: only true/false, so that a connector named
    ``off`` or a value ``no`` stays a string."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    resolvers = {key: [(tag, rx) for tag, rx in items if tag != "tag:yaml.org,2002:bool"]
                 for key, items in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.yaml_implicit_resolvers = resolvers
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"))
    return Loader


def _env_overrides(settings_class: type, env: Mapping[str, str]) -> dict[str, Any]:
    table = getattr(settings_class, "ENV_OVERRIDES", None) or {}
    return {field: env[var] for var, field in table.items() if var in env}


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    env: Mapping[str, str] | None = None,
) -> AppConfig:
    """Read, expand, override and validate a configuration; raise :class:`ConfigError`
    listing every problem with its path."""
    from stockfish_core import plugins

    env = os.environ if env is None else env
    problems: list[tuple[str, str]] = []
    raw = _expand_env(_read(source), "", problems, env)
    unknown_top = sorted(set(raw) - {"connectors", "manager", "plugins"})
    for key in unknown_top:
        hint = difflib.get_close_matches(key, ["connectors", "manager", "plugins"], n=1)
        problems.append((key, "unknown section" + (f" (did you mean {hint[0]!r}?)"
                                                     if hint else "")))

    plugin_names = raw.get("plugins")
    if plugin_names is not None and not (
        isinstance(plugin_names, list) and all(isinstance(p, str) for p in plugin_names)
    ):
        problems.append(("plugins", f"expected a list of plugin names, got {plugin_names!r}"))
        plugin_names = None
    if plugin_names is not None and plugins.ENV_VAR not in env:
        plugins.load_plugins_once(plugin_names)
    allowed = set(plugin_names) if plugin_names is not None else None

    manager_raw = raw.get("manager") or {}
    manager = ManagerConfig()
    if not isinstance(manager_raw, dict):
        problems.append(("manager", f"expected a mapping, got {type(manager_raw).__name__}"))
    else:
        manager = _structure(manager_raw, ManagerConfig, "manager", problems) \
            or manager

    section = raw.get("connectors") or {}
    connectors: dict[str, ConnectorConfig] = {}
    disabled: list[str] = []
    if not isinstance(section, dict):
        problems.append(("connectors", f"expected a mapping, got {type(section).__name__}"))
        section = {}
    entries: list[tuple[str, str, dict[str, Any]]] = []
    for name, given in section.items():
        path = f"connectors.{name}"
        if not isinstance(name, str) or not name.isidentifier():
            problems.append((path, "connector names must be identifiers (letters, digits, _)"))
            continue
        if given is not None and not isinstance(given, dict):
            problems.append((path, f"expected a mapping, got {type(given).__name__}"))
            continue
        entry = dict(given or {})
        try:
            enabled = _strict_bool(entry.pop("enabled", True), bool)
        except ValueError as exc:
            problems.append((f"{path}.enabled", str(exc)))
            continue
        if not enabled:
            disabled.append(name)
            continue
        type_name = entry.pop("type", name)
        if not isinstance(type_name, str):
            problems.append((f"{path}.type", f"expected a string, got {type_name!r}"))
            continue
        entries.append((name, type_name, entry))

    type_counts: dict[str, int] = {}
    for _, type_name, _ in entries:
        type_counts[type_name] = type_counts.get(type_name, 0) + 1
    for name, type_name, entry in entries:
        path = f"connectors.{name}"
        type_path = f"{path}.type" if "type" in (section[name] or {}) else path
        try:
            ctype = plugins.get_connector_type(type_name)
        except PluginError as exc:
            problems.append((type_path, str(exc)))
            continue
        if allowed is not None and ctype.plugin not in allowed:
            problems.append((type_path, f"connector type {type_name!r} comes from plugin "
                                        f"{ctype.plugin!r}, which is not in plugins: "
                                        f"{sorted(allowed)}"))
            continue
        try:
            primary = _strict_bool(entry.pop("primary", False), bool)
        except ValueError as exc:
            problems.append((f"{path}.primary", str(exc)))
            primary = False
        if name == type_name or type_counts[type_name] == 1:
            entry.update(_env_overrides(ctype.settings_class, env))
        settings = _structure(entry, ctype.settings_class, path, problems)
        if settings is not None:
            connectors[name] = ConnectorConfig(name=name, type=type_name, primary=primary,
                                               settings=settings)
    primaries = [n for n, c in connectors.items() if c.primary]
    if len(primaries) > 1:
        problems.append(("connectors", f"only one connector may be primary, got "
                                       f"{', '.join(primaries)}"))
    if problems:
        raise ConfigError(problems)
    source_path = None if isinstance(source, Mapping) else os.path.abspath(os.fspath(source))
    return AppConfig(connectors=connectors, disabled=disabled, manager=manager,
                     plugins=plugin_names, source=source_path)


def dump_config(config: AppConfig) -> dict[str, Any]:
    """The resolved configuration as plain data, every secret masked."""
    out: dict[str, Any] = {"connectors": {}, "manager": _converter.unstructure(config.manager)}
    for name, conn in config.connectors.items():
        out["connectors"][name] = {"type": conn.type, "enabled": True,
                                   "primary": conn.primary,
                                   **_converter.unstructure(conn.settings)}
    for name in config.disabled:
        out["connectors"][name] = {"enabled": False}
    if config.plugins is not None:
        out["plugins"] = list(config.plugins)
    return out
