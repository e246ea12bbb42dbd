"""The ``stockfish-rt`` command.

Subcommands: ``plugins`` (what is installed), ``check`` (validate a configuration),
``run`` (run connectors from a configuration), ``demo`` (everything against the simulated
venues), ``venues`` (the simulated venues on fixed ports, by hand), ``new-connector``
(scaffold a plugin package), and those plugins add through the ``stockfish_cli_commands``
hook (``serve`` from stockfish-nats). The benchmarks run from a checkout with
``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from stockfish_core.__about__ import __version__

__all__ = ["main"]

log = logging.getLogger(__name__)


def _cmd_plugins(args: argparse.Namespace) -> int:
    from stockfish_core import plugins

    infos = plugins.load_plugins()
    types = plugins.list_connector_types()
    rows = []
    for info in sorted(infos.values(), key=lambda i: i.name):
        row = info.to_dict()
        row["connectors"] = [
            {"name": t, "description": types[t].description,
             "capabilities": types[t].capabilities.to_dict()}
            for t in info.connector_types if t in types
        ]
        rows.append(row)
    if args.json:
        print(json.dumps({"plugins": rows}, indent=2))
        return 0
    if not rows:
        print("no plugins loaded (STOCKFISH_PLUGINS may limit them)")
    for row in rows:
        status = f"ERROR: {row['error']}" if row["error"] else "ok"
        print(f"{row['name']:<10} {row['dist'] or '-':<22} {row['version'] or '-':<8} {status}")
        for conn in row["connectors"]:
            print(f"  connector {conn['name']}: {conn['description']}")
        if row["hooks"]:
            print(f"  hooks: {', '.join(row['hooks'])}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from stockfish_core.config import dump_config, load_config, problem_lines
    from stockfish_core.errors import ConfigError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        count = len(exc.problems)
        print(f"{args.config}: invalid configuration ({count} problem"
              f"{'s' if count != 1 else ''})", file=sys.stderr)
        for line in problem_lines(exc):
            print(f"  {line}", file=sys.stderr)
        return 1
    for path, message in config.warnings:
        print(f"{args.config}: warning: {path}: {message}", file=sys.stderr)
    dumped = dump_config(config)
    if args.json:
        print(json.dumps({**dumped, "warnings": [{"path": p, "message": m}
                                                 for p, m in config.warnings]},
                         indent=2, default=str))
    else:
        import yaml

        print(yaml.safe_dump(dumped, sort_keys=False), end="")
        print(f"# {args.config}: OK ({len(config.connectors)} connector(s) enabled"
              f"{f', {len(config.warnings)} warning(s)' if config.warnings else ''})")
    return 0


# (subcommand, module that provides add_arguments/main, help)
_DELEGATED = (
    ("run", "stockfish_core.runner", "run the configured connectors"),
    ("demo", "stockfish_core.demo", "run everything against the simulated venues"),
    ("venues", "stockfish_core.venues", "start the simulated venues on fixed ports"),
    ("new-connector", "stockfish_core.scaffold", "scaffold a new connector plugin package"),
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command's parser. Plugins' commands are added unless ``argv`` names a built-in
    command (which then runs without loading any plugin it does not need)."""
    parser = argparse.ArgumentParser(
        prog="stockfish-rt", description="Stockfish RT: exchange connectivity.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("plugins", help="list installed plugins and connector types")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_plugins)
    p = sub.add_parser("check", help="validate a configuration file")
    p.add_argument("config", help="YAML configuration file")
    p.add_argument("--json", action="store_true", help="print the resolved config as JSON")
    p.set_defaults(func=_cmd_check)
    for name, module_name, help_text in _DELEGATED:
        try:
            module: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        p = sub.add_parser(name, help=help_text)
        module.add_arguments(p)
        p.set_defaults(func=module.main)
    builtin = set(sub.choices)
    wanted = next((a for a in (argv or ()) if not a.startswith("-")), None)
    if wanted is None or wanted not in builtin:
        _add_plugin_commands(sub, builtin)
    return parser


def _add_plugin_commands(sub: Any, taken: set[str]) -> None:
    """Offer the subcommands plugins register through ``stockfish_cli_commands``, each
    plugin guarded: one that raises, or a name already taken, is logged and skipped."""
    from stockfish_core import plugins

    hook = plugins.get_plugin_manager().hook.stockfish_cli_commands
    for impl in reversed(hook.get_hookimpls()):
        offered: list[tuple[str, Any, Any, str]] = []

        def register(name: str, add_arguments: Any, main: Any, help: str = "",
                     _into: list[tuple[str, Any, Any, str]] = offered) -> None:
            _into.append((name, add_arguments, main, help))

        try:
            impl.function(register=register)
        except Exception as exc:  # one broken plugin never takes the command away
            log.warning("plugin %s: stockfish_cli_commands raised %s: %s", impl.plugin_name,
                        type(exc).__name__, exc)
            continue
        for name, add_arguments, main, help_text in offered:
            if not isinstance(name, str) or not name or name in taken or not callable(main):
                log.warning("plugin %s: command %r refused (name taken or invalid)",
                            impl.plugin_name, name)
                continue
            try:  # on a scratch parser first: a failure leaves no half-made command
                add_arguments(argparse.ArgumentParser(prog=name))
            except Exception as exc:
                log.warning("plugin %s: command %s: add_arguments raised %s: %s",
                            impl.plugin_name, name, type(exc).__name__, exc)
                continue
            p = sub.add_parser(name, help=help_text)
            add_arguments(p)
            p.set_defaults(func=main)
            taken.add(name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
