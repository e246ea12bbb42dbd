"""``stockfish-rt venues``: start the simulated venues by hand, on fixed ports.

Every plugin offers its simulated venue through the ``stockfish_simulated_venues`` hook;
the ones whose factory takes a ``port`` listen on 127.0.0.1 and are started here (a venue
that only lives inside one process, such as today's ``sim``, cannot serve another process
and is listed as skipped). The configuration that connects to them is printed as YAML,
ready for ``stockfish-rt run``; the venues then serve until Ctrl-C or SIGTERM (a clean
stop, exit 0) or ``--duration``. Standard input is never read, so a closed one is fine.
Ports stay fixed across restarts, so a running ``stockfish-rt run`` reconnects to a
restarted venue by itself.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from stockfish_core.lifecycle import handle_stop_signals, restore_sigint

__all__ = ["DEFAULT_PORTS", "add_arguments", "main"]

#: The port each known venue listens on unless told otherwise: the ports real
#: installations use (QuickFIX's examples, TWS paper trading, a ZeroMQ feed).
DEFAULT_PORTS = {"fix": 9876, "ibkr": 7497, "zmq": 5555, "sim": 7800}
_PORT_FLAGS = (("fix", ("--fix-port",)), ("ibkr", ("--tws-port", "--ibkr-port")),
               ("zmq", ("--zmq-port",)), ("sim", ("--sim-port",)))
_STOP_TIMEOUT_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for name, flags in _PORT_FLAGS:
        parser.add_argument(*flags, dest=f"{name}_port", type=_port, default=None,
                            metavar="PORT",
                            help=f"the {name} venue's port (default {DEFAULT_PORTS[name]})")
    parser.add_argument("--port", action="append", default=[], metavar="NAME=PORT",
                        help="the port of any venue by name, e.g. rest=8787 (0: a free one)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME[,NAME]",
                        help="start only these venues (repeat or comma-separate)")
    parser.add_argument("--write-config", metavar="PATH",
                        help="also write the configuration to PATH")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: at Ctrl-C / SIGTERM)")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0..65535, got {port}")
    return port


# --------------------------------------------------------------------------- signals
# --------------------------------------------------------------------------- venues
def offered_venues() -> dict[str, Callable[..., Any]]:
    """Every simulated venue factory the installed plugins offer, by name."""
    from stockfish_core import plugins

    plugins.load_plugins_once()
    offered: dict[str, Callable[..., Any]] = {}
    plugins.get_plugin_manager().hook.stockfish_simulated_venues(register=offered.setdefault)
    return offered


def takes_port(factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` has a ``port`` parameter (a venue other processes can reach)."""
    try:
        return "port" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _requested_ports(args: argparse.Namespace) -> dict[str, int]:
    ports = dict(DEFAULT_PORTS)
    for name, _ in _PORT_FLAGS:
        value = getattr(args, f"{name}_port", None)
        if value is not None:
            ports[name] = value
    for item in args.port:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--port {item!r}: expected NAME=PORT")
        try:
            ports[name] = _port(value)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"--port {item!r}: {exc}") from None
    return ports


def _chosen(offered: dict[str, Any], only: Sequence[str]) -> list[str]:
    wanted = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in offered]
    if unknown:
        raise ValueError(f"--only: no simulated venue named {', '.join(unknown)} "
                         f"(installed: {', '.join(sorted(offered)) or 'none'})")
    return sorted(set(wanted)) if wanted else sorted(offered)


def render_config(entries: dict[str, dict[str, Any]], symbols: dict[str, Sequence[str]]) -> str:
    """The YAML configuration for ``stockfish-rt run`` that connects to ``entries``."""
    import yaml

    config = {"connectors": {name: dict(entry) for name, entry in entries.items()},
              "manager": {"failover_strategy": "best_available", "health_check_interval": 5}}
    every = [s for name in entries for s in symbols.get(name, ())]
    lines = ["# stockfish-rt venues: simulated venues on 127.0.0.1 (Ctrl-C stops them)"]
    for name in entries:
        if symbols.get(name):
            lines.append(f"# {name} quotes: {' '.join(symbols[name])}")
    lines.append("# run: stockfish-rt run THIS_FILE --symbols "
                 f"{' '.join(dict.fromkeys(every)) or 'SYMBOL ...'}")
    return "\n".join(lines) + "\n" + yaml.safe_dump(config, sort_keys=False)


def _stop_all(started: list[tuple[str, Any]]) -> list[str]:
    """Stop every venue in parallel, bounded; the names that did not stop in time."""
    threads = []
    for name, venue in started:
        thread = threading.Thread(target=_stop_one, args=(name, venue), daemon=True,
                                  name=f"stop-{name}")
        thread.start()
        threads.append((name, thread))
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    for _, thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    return [name for name, thread in threads if thread.is_alive()]


def _stop_one(name: str, venue: Any) -> None:
    try:
        venue.stop()
    except Exception as exc:  # one venue failing to stop never stops the others stopping
        print(f"stockfish-rt venues: {name}: stop failed: {exc}", file=sys.stderr)


def _say(text: str) -> None:
    print(f"stockfish-rt venues: {text}", file=sys.stderr, flush=True)


def _emit(text: str) -> None:
    """The configuration on stdout; a reader that went away does not stop the venues."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (BrokenPipeError, ValueError, OSError):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass


def main(args: argparse.Namespace) -> int:
    # Ctrl-C / SIGTERM: a clean stop of every venue; a second signal ends it at once.
    handle_stop_signals(bound=2 * _STOP_TIMEOUT_S + 5.0)
    started: list[tuple[str, Any]] = []
    try:
        try:
            ports = _requested_ports(args)
            offered = offered_venues()
            names = _chosen(offered, args.only)
        except ValueError as exc:
            _say(str(exc))
            return 2
        entries: dict[str, dict[str, Any]] = {}
        symbols: dict[str, Sequence[str]] = {}
        failed = []
        for name in names:
            factory = offered[name]
            if not takes_port(factory):
                _say(f"{name}: skipped (this venue lives inside one process; it has no port "
                     "other processes could connect to)")
                continue
            port = ports.get(name, 0)
            try:
                venue = factory(port=port)
                entry = venue.start()
            except Exception as exc:  # a port in use, a library missing: say which
                failed.append(name)
                _say(f"{name}: cannot start on 127.0.0.1:{port or 'a free port'}: "
                     f"{type(exc).__name__}: {exc}")
                continue
            started.append((name, venue))
            entries[name] = entry
            symbols[name] = tuple(getattr(venue, "symbols", ()) or ())
            where = f"127.0.0.1:{entry['port']}" if entry.get("port") else \
                entry.get("address") or ", ".join(entry.get("endpoints", ())) or "?"
            _say(f"{name}: listening on {where}")
        restore_sigint()  # after the venue modules' imports (quickfix resets it)
        if not started:
            _say("no venue started")
            return 1
        text = render_config(entries, symbols)
        if args.write_config:
            with open(args.write_config, "w", encoding="utf-8") as fh:
                fh.write(text)
        _emit(text)
        _say(f"{len(started)} venue(s) serving"
             f"{f' ({len(failed)} failed: ' + ', '.join(failed) + ')' if failed else ''}; "
             "Ctrl-C stops them")
        threading.Event().wait(args.duration)
    except KeyboardInterrupt:
        _say("stopping...")
    finally:
        hung = _stop_all(started)
        if hung:
            _say(f"did not stop in time: {', '.join(hung)}")
    _say("stopped")
    return 0
