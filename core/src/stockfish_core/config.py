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
the connector named like its type, or to the only connector of that type.

Every problem is reported in one pass, in file order, each with its path
(``connectors.fix.port: expected an int, got 'abc'``): YAML duplicate keys, ``${VAR}``
references, types, enums and ranges field by field, then the rules that span fields.
"""

from __future__ import annotations

import difflib
import enum
import math
import os
import re
import threading
import typing
from collections.abc import Iterable, Mapping
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
    "problem_lines",
]

STRATEGIES = ("round_robin", "primary_backup", "best_available")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENVELOPE = ("enabled", "primary", "type")
_SECTIONS = ("connectors", "manager", "plugins")
#: Integers beyond this do not fit the 64-bit fields every venue library uses.
INT64_MAX = 2**63 - 1
# Settings holding seconds (float or int): bounded by threading.TIMEOUT_MAX, past which a
# wait raises OverflowError in the thread that uses them. A field may also say so with
# ``metadata={"seconds": True}``.
_SECONDS_NAME = re.compile(r"(?:^|_)(?:interval|timeout|delay|after|ttl|watchdog|latency)$")


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
    """A validated configuration. ``warnings`` lists ``(path, message)`` pairs for what is
    legal but probably not meant (nothing enabled, a disabled feed in the arbitration)."""

    connectors: dict[str, ConnectorConfig] = attrs.field(factory=dict)
    disabled: list[str] = attrs.field(factory=list)
    manager: ManagerConfig = attrs.field(factory=ManagerConfig)
    plugins: list[str] | None = None
    #: The configuration file's absolute path (None for a mapping).
    source: str | None = None
    warnings: list[tuple[str, str]] = attrs.field(factory=list)


# --------------------------------------------------------------------------- problems
class _Problems:
    """Problems as they are found, sorted into file order at the end: each problem sits at
    its own line (a duplicate key), or at its path's, or at the nearest parent path the
    file has (a required setting that is missing sits at its connector). A mapping given
    in code has no lines: its key order stands in for them."""

    def __init__(self, lines: Mapping[str, int], order: Mapping[str, int]) -> None:
        self.lines = lines
        self.order = order
        self.items: list[tuple[str, str, int | None]] = []

    def add(self, path: str, message: str, line: int | None = None) -> None:
        self.items.append((path, message, line))

    def __len__(self) -> int:
        return len(self.items)

    def _nearest(self, table: Mapping[str, int], path: str) -> int | None:
        while path:
            found = table.get(path)
            if found is not None:
                return found
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None

    def line_of(self, path: str) -> int | None:
        return self._nearest(self.lines, path)

    def position(self, path: str, line: int | None = None) -> int:
        if self.lines:
            found = line if line is not None else self.line_of(path)
        else:
            found = self._nearest(self.order, path)
        return found if found is not None else -1

    def error(self) -> ConfigError:
        ordered = sorted(self.items, key=lambda item: self.position(item[0], item[2]))
        return ConfigError([(path, message) for path, message, _ in ordered],
                           [line if line is not None else self.line_of(path)
                            for path, _, line in ordered])


def _key_order(value: Any, path: str, order: dict[str, int]) -> None:
    """Number every path of ``value`` in the order a reader meets it."""
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            order.setdefault(sub, len(order))
            _key_order(item, sub, order)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            sub = f"{path}[{index}]"
            order.setdefault(sub, len(order))
            _key_order(item, sub, order)


# --------------------------------------------------------------------------- converter
def _describe(value: Any) -> str:
    return repr(value) if not isinstance(value, Secret) else MASK


def _type_name(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an int, got {value!r}")
    if isinstance(value, int):
        result = value
    elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value)):
        result = int(value)
    else:
        raise ValueError(f"expected an int, got {_describe(value)}")
    if abs(result) > INT64_MAX:
        raise ValueError(f"{result} is out of range (at most {INT64_MAX}, a 64-bit integer)")
    return result


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:
            raise ValueError(f"{value} is out of range for a number") from None
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


# --------------------------------------------------------------------------- structuring
def _flatten(exc: BaseException, path: str, out: _Problems) -> None:
    """A cattrs error (possibly a group) as one problem per leaf, each with its path."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        known = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields, key=str):
            out.add(f"{path}.{key}", "unknown setting" + _hint(key, known))
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
        out.add(f"{path}.{exc.args[0]}" if exc.args else path, "required setting missing")
        return
    out.add(path, str(exc))


def _hint(key: Any, known: Iterable[str]) -> str:
    if not isinstance(key, str):
        return ""
    match = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


_FAILED = object()


class _InstanceNeededError(Exception):
    """A validator that reads other fields: run it on the whole object."""


class _NoInstance:
    def __getattr__(self, name: str) -> Any:
        raise _InstanceNeededError(name)


def _is_seconds(field: attrs.Attribute) -> bool:  # type: ignore[type-arg]
    if "seconds" in field.metadata:
        return bool(field.metadata["seconds"])
    return field.type in (float, int) and bool(_SECONDS_NAME.search(field.name))


def _structure_field(value: Any, field: attrs.Attribute, path: str,  # type: ignore[type-arg]
                     problems: _Problems, *,
                     deferred: list[attrs.Attribute],  # type: ignore[type-arg]
                     source: str | None) -> Any:
    """One setting: type, converter, validator, bounds; ``_FAILED`` after reporting."""
    suffix = f" (from environment variable {source})" if source else ""
    before = len(problems)
    ftype: Any = field.type
    try:
        if attrs.has(ftype):
            result = _structure(value, ftype, path, problems)
            return _FAILED if result is None else result
        result = _converter.structure(value, ftype)
    except Exception as exc:  # every structuring failure is a problem, never a crash
        sub = _Problems({}, {})
        _flatten(exc, path, sub)
        for p, message, _ in sub.items or [(path, str(exc), None)]:
            problems.add(p, message + suffix)
        return _FAILED
    converter = field.converter
    if callable(converter):
        try:
            result = converter(result)
        except (ValueError, TypeError) as exc:
            problems.add(path, str(exc) + suffix)
            return _FAILED
    if field.validator is not None:
        try:
            field.validator(_NoInstance(), field, result)
        except _InstanceNeededError:
            deferred.append(field)
        except Exception as exc:  # a validator's message is the problem
            problems.add(path, str(exc).removeprefix(f"{field.name}: ") + suffix)
    if _is_seconds(field) and isinstance(result, (int, float)) and \
            not isinstance(result, bool) and result > threading.TIMEOUT_MAX:
        problems.add(path, f"{result:g} s is more than a wait can take "
                           f"(threading.TIMEOUT_MAX, {threading.TIMEOUT_MAX:g} s)" + suffix)
    return _FAILED if len(problems) > before else result


def _structure(data: Any, cls: type, path: str, problems: _Problems,
               sources: Mapping[str, str] | None = None) -> Any:
    """Structure ``data`` into attrs class ``cls`` field by field, in the mapping's order,
    reporting every problem; returns the object, or None when anything was wrong."""
    if not isinstance(data, Mapping):
        problems.add(path, f"expected a mapping, got {_type_name(data)}")
        return None
    attrs.resolve_types(cls)
    fields = {f.name: f for f in attrs.fields(cls) if f.init}
    sources = sources or {}
    values: dict[str, Any] = {}
    deferred: list[attrs.Attribute] = []  # type: ignore[type-arg]
    ok = True
    for key, value in data.items():
        sub = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str):
            problems.add(path, f"setting names must be text, got {key!r}")
            ok = False
            continue
        field = fields.get(key)
        if field is None:
            problems.add(sub, "unknown setting" + _hint(key, fields))
            ok = False
            continue
        result = _structure_field(value, field, sub, problems, deferred=deferred,
                                  source=sources.get(key))
        if result is _FAILED:
            ok = False
        else:
            values[key] = result
    for name, field in fields.items():
        if field.default is attrs.NOTHING and name not in data:
            problems.add(f"{path}.{name}", "required setting missing")
            ok = False
    if not ok:
        return None
    try:
        with attrs.validators.disabled():
            obj = cls(**values)
    except (ValueError, TypeError) as exc:  # a settings class's own cross-field check
        problems.add(path, str(exc))
        return None
    before = len(problems)
    for field in deferred:
        try:
            field.validator(obj, field, getattr(obj, field.name))  # type: ignore[misc]
        except Exception as exc:
            problems.add(f"{path}.{field.name}", str(exc).removeprefix(f"{field.name}: "))
    return obj if len(problems) == before else None


# --------------------------------------------------------------------------- reading
@attrs.define
class _Document:
    data: dict[str, Any]
    lines: dict[str, int] = attrs.field(factory=dict)
    problems: list[tuple[str, str, int]] = attrs.field(factory=list)


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


_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _NodeReader:
    """Builds plain data from a composed YAML node tree, remembering the line of every
    key and list item by path, and reporting duplicate keys (PyYAML keeps the last)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.lines: dict[str, int] = {}
        self.problems: list[tuple[str, str, int]] = []
        self._active: set[int] = set()

    def read(self, node: Any, path: str) -> Any:
        import yaml

        if id(node) in self._active:
            self.problems.append((path, "an alias refers to itself",
                                  node.start_mark.line + 1))
            return None
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            self._active.add(id(node))
            try:
                return self._mapping(node, path)
            finally:
                self._active.discard(id(node))
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            self._active.add(id(node))
            try:
                out = []
                for index, item in enumerate(node.value):
                    sub = f"{path}[{index}]"
                    self.lines.setdefault(sub, item.start_mark.line + 1)
                    out.append(self.read(item, sub))
                return out
            finally:
                self._active.discard(id(node))
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problems.append((path, f"cannot read this value: "
                                        f"{getattr(exc, 'problem', None) or exc}",
                                  node.start_mark.line + 1))
            return None

    def _mapping(self, node: Any, path: str) -> dict[Any, Any]:
        import yaml

        explicit = {id(key) for key, _ in node.value if key.tag != _MERGE_TAG}
        try:
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.problems.append((path, f"bad merge: {getattr(exc, 'problem', None) or exc}",
                                  node.start_mark.line + 1))
        out: dict[Any, Any] = {}
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = self.read(key_node, path)
            try:
                hash(key)
            except TypeError:
                self.problems.append((path, f"a key must be text, got {_type_name(key)}", line))
                continue
            sub = f"{path}.{key}" if path else str(key)
            if key in first and id(key_node) in explicit:
                self.problems.append((sub, f"duplicate key (first at line {first[key]}); "
                                           "YAML would silently keep the last", line))
            elif id(key_node) in explicit:
                first[key] = line
                self.lines[sub] = line
            out[key] = self.read(value_node, sub)
        return out


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> _Document:
    if isinstance(source, Mapping):
        return _Document(dict(source))
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError([("", f"cannot read {path}: {reason}")]) from None
    import yaml

    loader: Any = None
    try:
        loader = _yaml_loader()(text)
        node = loader.get_single_node()
        reader = _NodeReader(loader)
        data = reader.read(node, "") if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError([("", f"{path}: invalid YAML{where}: "
                                f"{getattr(exc, 'problem', None) or exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        return _Document({})
    if not isinstance(data, dict):
        raise ConfigError([("", f"{path}: expected a mapping at the top level, "
                                f"got {type(data).__name__}")])
    return _Document(data, reader.lines, reader.problems)


# --------------------------------------------------------------------------- ${VAR}
def _expand_text(text: str, path: str, problems: _Problems, env: Mapping[str, str]) -> str:
    """``${NAME}`` from the environment; ``$${`` is a literal ``${``. A reference that is
    unset, empty or malformed is a problem (its name is shown, never its value)."""
    out: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        if text.startswith("$${", j):
            out.append(text[i:j] + "${")
            i = j + 3
            continue
        if not text.startswith("${", j):
            out.append(text[i:j + 1])
            i = j + 1
            continue
        end = text.find("}", j + 2)
        if end < 0:
            problems.add(path, f"unterminated reference {text[j:j + 24]!r}: write ${{NAME}}")
            return text
        name = text[j + 2:end]
        out.append(text[i:j])
        if not _ENV_NAME.fullmatch(name):
            problems.add(path, f"malformed reference ${{{name}}}: a variable name is letters, "
                               "digits and _, not starting with a digit (write $${ for a "
                               "literal ${)")
        elif name not in env:
            problems.add(path, f"environment variable {name} is not set")
        elif env[name] == "":
            problems.add(path, f"environment variable {name} is set but empty")
        else:
            out.append(env[name])
        i = end + 1


def _expand_env(value: Any, path: str, problems: _Problems, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _expand_text(value, path, problems, env) if "$" in value else value
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{path}.{k}" if path else str(k), problems, env)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{path}[{i}]", problems, env) for i, v in enumerate(value)]
    return value


def _env_overrides(settings_class: type, env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{field: (value, variable)}`` for the class's ``ENV_OVERRIDES`` that are set."""
    table = getattr(settings_class, "ENV_OVERRIDES", None) or {}
    return {field: (env[var], var) for var, field in table.items() if var in env}


# --------------------------------------------------------------------------- loading
def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    env: Mapping[str, str] | None = None,
) -> AppConfig:
    """Read, expand, override and validate a configuration; raise :class:`ConfigError`
    listing every problem with its path, in file order."""
    env = os.environ if env is None else env
    document = _read(source)
    order: dict[str, int] = {}
    _key_order(document.data, "", order)
    problems = _Problems(document.lines, order)
    for path, message, line in document.problems:
        problems.add(path, message, line)
    raw = _expand_env(document.data, "", problems, env)
    for key in raw:
        if key not in _SECTIONS:
            problems.add(str(key), "unknown section" + _hint(key, _SECTIONS))

    plugin_names = _plugin_names(raw.get("plugins"), problems, env)
    allowed = set(plugin_names) if plugin_names is not None else None
    warnings: list[tuple[str, str]] = []

    manager = ManagerConfig()
    if "manager" in raw:
        manager_raw = raw["manager"] if raw["manager"] is not None else {}
        manager = _structure(manager_raw, ManagerConfig, "manager", problems) or manager
    connectors, disabled = _connectors(raw.get("connectors"), "connectors" in raw, allowed,
                                       problems, env=env, warnings=warnings)
    _cross_checks(raw, disabled, problems, warnings)
    if problems:
        raise problems.error()
    if not connectors:
        warnings.append(("connectors", "no connector is enabled: `stockfish-rt run` would "
                                       "have nothing to run"))
    warnings.sort(key=lambda w: problems.position(w[0]))
    source_path = None if isinstance(source, Mapping) else os.path.abspath(os.fspath(source))
    return AppConfig(connectors=connectors, disabled=disabled, manager=manager,
                     plugins=plugin_names, warnings=warnings, source=source_path)


def _plugin_names(value: Any, problems: _Problems, env: Mapping[str, str]) -> list[str] | None:
    from stockfish_core import plugins

    if value is None:
        return None
    if not (isinstance(value, list) and all(isinstance(p, str) for p in value)):
        problems.add("plugins", f"expected a list of plugin names, got {value!r}")
        return None
    if plugins.ENV_VAR not in env:
        plugins.load_plugins_once(value)
    return value


def _connectors(section: Any, present: bool, allowed: set[str] | None, problems: _Problems,
                *, env: Mapping[str, str], warnings: list[tuple[str, str]],
                ) -> tuple[dict[str, ConnectorConfig], list[str]]:
    from stockfish_core import plugins

    connectors: dict[str, ConnectorConfig] = {}
    disabled: list[str] = []
    if section is None:
        if present:
            warnings.append(("connectors", "the section is empty"))
        return connectors, disabled
    if not isinstance(section, dict):
        problems.add("connectors", f"expected a mapping, got "
                                   f"{_type_name(section)}")
        return connectors, disabled
    entries: list[tuple[str, str, str, dict[str, Any]]] = []
    for name, given in section.items():
        path = f"connectors.{name}"
        if not isinstance(name, str) or not name.isidentifier():
            problems.add(path, "connector names must be identifiers (letters, digits, _)")
            continue
        if given is None:
            problems.add(path, "empty entry: give its settings (or {} to take every default)")
            continue
        if not isinstance(given, dict):
            problems.add(path, f"expected a mapping, got {_type_name(given)}")
            continue
        entry = dict(given)
        try:
            enabled = _strict_bool(entry.pop("enabled", True), bool)
        except ValueError as exc:
            problems.add(f"{path}.enabled", str(exc))
            continue
        if not enabled:
            disabled.append(name)
            continue
        type_name = entry.pop("type", name)
        type_path = f"{path}.type" if "type" in given else path
        if not isinstance(type_name, str):
            problems.add(f"{path}.type", f"expected a string, got {type_name!r}")
            continue
        entries.append((name, type_name, type_path, entry))

    type_counts: dict[str, int] = {}
    for _, type_name, _, _ in entries:
        type_counts[type_name] = type_counts.get(type_name, 0) + 1
    for name, type_name, type_path, entry in entries:
        path = f"connectors.{name}"
        try:
            ctype = plugins.get_connector_type(type_name)
        except PluginError as exc:
            problems.add(type_path, str(exc))
            continue
        if allowed is not None and ctype.plugin not in allowed:
            problems.add(type_path, f"connector type {type_name!r} comes from plugin "
                                    f"{ctype.plugin!r}, which is not in plugins: "
                                    f"{sorted(allowed)}")
            continue
        primary = False
        if "primary" in entry:
            try:
                primary = _strict_bool(entry.pop("primary"), bool)
            except ValueError as exc:
                problems.add(f"{path}.primary", str(exc))
        sources: dict[str, str] = {}
        if name == type_name or type_counts[type_name] == 1:
            for field, (value, variable) in _env_overrides(ctype.settings_class, env).items():
                entry[field] = value
                sources[field] = variable
        settings = _structure(entry, ctype.settings_class, path, problems, sources)
        if settings is None:
            continue
        connectors[name] = ConnectorConfig(name=name, type=type_name, primary=primary,
                                           settings=settings)
        _connector_warnings(settings, path, warnings)
    return connectors, disabled


def _connector_warnings(settings: Any, path: str, warnings: list[tuple[str, str]]) -> None:
    initial = getattr(settings, "reconnect_initial_delay", None)
    cap = getattr(settings, "reconnect_max_delay", None)
    if initial is not None and cap is not None and initial > cap:
        warnings.append((f"{path}.reconnect_initial_delay",
                         f"{initial:g} s is above reconnect_max_delay ({cap:g} s): every "
                         f"retry waits at most {cap:g} s"))


def _flag(entry: Mapping[str, Any], key: str, default: bool) -> bool | None:
    try:
        return _strict_bool(entry.get(key, default), bool)
    except ValueError:
        return None  # reported where the entry is structured


def _cross_checks(raw: Mapping[str, Any], disabled: list[str], problems: _Problems,
                  warnings: list[tuple[str, str]]) -> None:
    """Rules that span settings, checked on what the file says even where other settings
    of the same entries are wrong: one primary; arbitration names configured connectors."""
    section = raw.get("connectors")
    section = section if isinstance(section, dict) else {}
    primaries = [name for name, entry in section.items()
                 if isinstance(entry, dict) and _flag(entry, "enabled", True)
                 and _flag(entry, "primary", False)]
    for name in primaries[1:]:
        problems.add(f"connectors.{name}.primary",
                     f"only one connector may be primary, got {', '.join(map(str, primaries))}")
    named = {str(name) for name in section}

    def check_names(names: Any, path: str) -> None:
        if not isinstance(names, list):
            return  # reported where the manager section is structured
        for index, name in enumerate(names):
            where = f"{path}[{index}]"
            if not isinstance(name, str):
                continue
            if name in disabled:
                warnings.append((where, f"connector {name!r} is disabled"))
            elif name not in named:
                problems.add(where, f"no connector named {name!r}" +
                             _hint(name, named) + _have(named))

    manager = raw.get("manager")
    arbitration = manager.get("arbitration") if isinstance(manager, dict) else None
    if not isinstance(arbitration, dict):
        return
    check_names(arbitration.get("feeds"), "manager.arbitration.feeds")
    symbols = arbitration.get("symbols")
    if isinstance(symbols, dict):
        for symbol, names in symbols.items():
            check_names(names, f"manager.arbitration.symbols.{symbol}")


def _have(named: Iterable[str]) -> str:
    names = sorted(str(n) for n in named)
    return f" (configured: {', '.join(names)})" if names else " (no connectors configured)"


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


def problem_lines(error: ConfigError) -> list[str]:
    """``line N  path: message`` for each problem (the ``check`` and ``run`` commands)."""
    out = []
    for (path, message), line in zip(error.problems, error.lines, strict=True):
        where = f"line {line:<4} " if line is not None else ""
        out.append(f"{where}{path}: {message}" if path else f"{where}{message}")
    return out
