"""``stockfish-rt serve CONFIG --bus nats://HOST:4222``: run a gateway until SIGINT or
SIGTERM (a second signal forces the exit).

The configuration is the usual one (``connectors:``, ``manager:``; the order journal must
not be ``off``). Bus credentials and gateway options come from ``--bus-config FILE`` (YAML:
``user``, ``password: ${NATS_PASSWORD}``, ``nkey_seed``, ``creds_file``, ``tls_*`` and the
gateway's ``lease_ttl``, ``replicas`` ...) or the ``NATS_*`` environment variables; never
from the command line, where any user of the machine could read them.
Once serving, it prints one JSON line: ``{"gateway", "instance", "pid"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

from stockfish_nats.settings import BusSettings, GatewaySettings

__all__ = ["add_arguments", "load_gateway_settings", "main"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML configuration of the connectors to serve")
    parser.add_argument("--bus", action="append", default=[], metavar="URL",
                        help="a NATS server (repeat for every server of a cluster)")
    parser.add_argument("--gateway", default=None, help="the gateway's name on the bus")
    parser.add_argument("--instance", default=None,
                        help="this process's name among gateways of the same name")
    parser.add_argument("--lease-ttl", type=float, default=None,
                        help="seconds a session's lease lives without renewal")
    parser.add_argument("--replicas", type=int, default=None,
                        help="JetStream replicas of the stream and lease bucket")
    parser.add_argument("--bus-config", default=None,
                        help="YAML file with credentials and gateway options")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: until a signal)")


def _expand(value: Any, env: Mapping[str, str], problems: list[str], path: str) -> Any:
    if isinstance(value, str):
        def sub(match: re.Match[str]) -> str:
            if match.group(1) not in env:
                problems.append(f"{path}: environment variable {match.group(1)} is not set")
                return ""
            return env[match.group(1)]
        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, env, problems, f"{path}.{k}" if path else str(k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, problems, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def load_gateway_settings(data: Mapping[str, Any] | None, env: Mapping[str, str] | None = None,
                          **overrides: Any) -> GatewaySettings:
    """Gateway settings from a mapping (``--bus-config``), the ``NATS_*`` environment and
    ``overrides`` (flags; ``None`` values are ignored). Raises ValueError naming every
    problem with its path."""
    import cattrs
    from stockfish_core.settings import Secret

    env = os.environ if env is None else env
    problems: list[str] = []
    raw = _expand(dict(data or {}), env, problems, "")
    bus = dict(raw.pop("bus", None) or {})
    for key in [k for k in raw if k in {f.name for f in _fields(BusSettings)}]:
        bus[key] = raw.pop(key)
    for var, field in BusSettings.ENV_OVERRIDES.items():
        if var in env and field not in bus:
            bus[field] = env[var]
    if isinstance(bus.get("servers"), str):
        bus["servers"] = [s.strip() for s in bus["servers"].split(",") if s.strip()]
    servers = overrides.pop("servers", None)
    if servers:
        bus["servers"] = list(servers)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    if problems:
        raise ValueError("; ".join(problems))
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(Secret, lambda v, _: Secret(str(v)))
    try:
        return converter.structure({**raw, "bus": bus}, GatewaySettings)
    except Exception as exc:
        raise ValueError(_describe(exc)) from None


def _fields(cls: type) -> Any:
    import attrs

    return attrs.fields(cls)


def _describe(exc: BaseException) -> str:
    import cattrs

    if isinstance(exc, cattrs.errors.ForbiddenExtraKeysError):
        return f"unknown setting(s): {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, cattrs.errors.BaseValidationError):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return str(exc)


def main(args: argparse.Namespace) -> int:
    from stockfish_core.errors import ConfigError, JournalError
    from stockfish_core.lifecycle import StopRequested, handle_stop_signals
    from stockfish_core.manager import ExchangeManager

    from stockfish_nats.bus import BusError
    from stockfish_nats.gateway import Gateway

    data: dict[str, Any] = {}
    if args.bus_config:
        import yaml

        try:
            with open(args.bus_config, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
        except (OSError, yaml.YAMLError) as exc:
            print(f"{args.bus_config}: {exc}", file=sys.stderr)
            return 1
        if not isinstance(data, dict):
            print(f"{args.bus_config}: expected a mapping", file=sys.stderr)
            return 1
    try:
        settings = load_gateway_settings(
            data, servers=args.bus, gateway=args.gateway, instance=args.instance,
            lease_ttl=args.lease_ttl, replicas=args.replicas)
    except ValueError as exc:
        print(f"gateway settings: {exc}", file=sys.stderr)
        return 1
    try:
        manager = ExchangeManager.from_config(args.config)
    except ConfigError as exc:
        print(f"{args.config}: invalid configuration", file=sys.stderr)
        for path, message in exc.problems:
            print(f"  {path}: {message}" if path else f"  {message}", file=sys.stderr)
        return 1
    except JournalError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    if manager.journal is None:
        print(f"{args.config}: a gateway needs the order journal (manager.journal is off)",
              file=sys.stderr)
        return 1
    gateway = Gateway(manager, settings)
    stop = handle_stop_signals(bound=manager.stop_timeout * 2 + manager.cancel_timeout + 10,
                               on_force=manager.journal.flush)
    try:
        try:
            gateway.start()
        except BusError as exc:
            print(f"gateway {settings.gateway}: {exc}", file=sys.stderr)
            return 1
        print(json.dumps({"gateway": settings.gateway, "instance": gateway.instance,
                          "pid": os.getpid()}), flush=True)
        deadline = time.monotonic() + args.duration if args.duration else None
        while not stop.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            stop.wait(1.0 if left is None else min(left, 1.0))
    except StopRequested:
        print("stopping...", file=sys.stderr)
    finally:
        hung = gateway.stop()
        if hung:
            print(f"did not stop in time: {', '.join(hung)}", file=sys.stderr)
    return 0
