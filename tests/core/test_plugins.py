"""Entry-point discovery, guarded loading, allow lists and the hook contract."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stockfish_core import events, hookspecs, plugins
from stockfish_core.errors import ConfigError, PluginError
from stockfish_core.hookspecs import hookimpl
from stockfish_core.models import now_ns
from stockfish_core.sim import SimConnector

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != plugins.ENV_VAR}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "stockfish_core.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_sim_is_discovered_through_its_entry_point(fresh_plugins: None) -> None:
    infos = plugins.load_plugins()
    assert infos["sim"].dist == "stockfish-core"
    assert infos["sim"].error is None
    assert infos["sim"].connector_types == ["sim"]
    ctype = plugins.get_connector_type("sim")
    assert ctype.load_class() is SimConnector
    connector = plugins.create_connector("sim", name="paper", seed=3)
    assert connector.name == "paper" and connector.settings.seed == 3


def test_unknown_type_lists_installed_and_names_the_dist(fresh_plugins: None) -> None:
    with pytest.raises(PluginError, match=r"unknown connector type 'fax'.*installed: .*sim.*"
                                          r"pip install stockfish-fax"):
        plugins.get_connector_type("fax")


def test_env_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.ENV_VAR, "")
    with plugins.fresh_registry() as loaded:
        assert loaded == {}
    monkeypatch.setenv(plugins.ENV_VAR, "sim,nothing_else")
    with plugins.fresh_registry() as loaded:
        assert list(loaded) == ["sim"]


def test_heavy_libraries_are_not_imported_at_discovery() -> None:
    code = ("import sys; from stockfish_core import plugins; plugins.load_plugins(); "
            "print(sorted(m for m in ('zmq', 'quickfix', 'ib_insync', 'ib_async') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"


def _hookspecs() -> dict[str, list[str]]:
    return {name: list(inspect.signature(func).parameters)
            for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
            if name.startswith("stockfish_")}


def test_every_hookspec_is_documented_with_its_exact_signature() -> None:
    specs = _hookspecs()
    assert len(specs) >= 6
    contract = (ROOT / "docs" / "plugin-contract.md").read_text()
    for name, params in specs.items():
        assert inspect.getdoc(getattr(hookspecs, name)), f"{name} has no docstring"
        documented = re.findall(rf"`{name}\(([^)]*)\)`", contract)
        assert documented, f"{name} has no signature in docs/plugin-contract.md"
        for args in documented:
            assert [a.strip() for a in args.split(",") if a.strip()] == params, \
                f"docs/plugin-contract.md gives {name}({args}), the spec is {params}"


def test_every_hookspec_is_exercised_by_a_test() -> None:
    """Each hook has an implementation with the spec's exact arguments in a test (or in a
    plugin the tests load), as datasette checks its own hooks."""
    sources = [p.read_text() for folder in ("tests", "plugins", "examples", "core/src")
               for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts]
    implemented: dict[str, set[tuple[str, ...]]] = {}
    for text in sources:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    node.name.startswith("stockfish_") and node.decorator_list:
                args = tuple(a.arg for a in node.args.args if a.arg != "self")
                implemented.setdefault(node.name, set()).add(args)
    tests_text = "\n".join(p.read_text() for folder in ("tests", "plugins", "examples")
                           for p in (ROOT / folder).rglob("test_*.py"))
    for name, params in _hookspecs().items():
        assert name in tests_text, f"no test exercises {name}"
        if name in ("stockfish_register_connectors", "stockfish_simulated_venues"):
            continue  # implemented by registry.connector_types / simulated_venues
        assert tuple(params) in implemented.get(name, set()), \
            f"no test implements {name}({', '.join(params)})"


class Recording:
    """An in-process plugin implementing every event hook."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict]] = {}

    def _record(self, name: str, **kwargs: object) -> None:
        self.calls.setdefault(name, []).append(kwargs)

    @hookimpl
    def stockfish_connector_status_changed(self, connector, old_status, new_status, reason):
        self._record("status", connector=connector, new=new_status)

    @hookimpl
    def stockfish_order_event(self, event):
        self._record("order", event=event)

    @hookimpl
    def stockfish_sequence_gap(self, connector, symbol, first_missing, last_missing):
        self._record("gap", symbol=symbol, first=first_missing, last=last_missing)

    @hookimpl
    def stockfish_failover(self, decision):
        self._record("failover", decision=decision)


def test_event_hooks_are_called(fresh_plugins: None) -> None:
    rec = Recording()
    info = plugins.register_plugin(rec, "recording")
    assert info.error is None
    assert set(info.hooks) >= {"stockfish_order_event", "stockfish_sequence_gap"}
    connector = SimConnector(name="hooked", venue=f"hooks-{now_ns()}")
    try:
        assert connector.connect()
        connector.record_sequence_gap("SPY", 5, 9)
        from stockfish_core.orders import Order

        connector.send_order(Order("SPY", "BUY", 1, "LIMIT", price=0.5))
    finally:
        connector.close()
    assert [c["new"].value for c in rec.calls["status"]][:2] == ["CONNECTING", "CONNECTED"]
    assert rec.calls["gap"] == [{"symbol": "SPY", "first": 5, "last": 9}]
    assert rec.calls["order"][0]["event"].kind == "submitted"
    events.emit("stockfish_failover", decision={"to": "b"})
    assert rec.calls["failover"] == [{"decision": {"to": "b"}}]


def test_simulated_venues_hook(fresh_plugins: None) -> None:
    offered: dict[str, object] = {}
    plugins.get_plugin_manager().hook.stockfish_simulated_venues(
        register=offered.setdefault)
    assert "sim" in offered
    venue = offered["sim"](name=f"hookvenue-{now_ns()}")  # type: ignore[operator]
    entry = venue.start()
    try:
        assert entry["type"] == "sim"
        connector = plugins.create_connector(
            "sim", plugins.get_connector_type("sim").settings_class(
                **{k: v for k, v in entry.items() if k != "type"}))
        assert connector.connect()
        connector.close()
    finally:
        venue.stop()


def test_a_raising_observer_costs_only_itself(fresh_plugins: None) -> None:
    seen: list[str] = []

    class Before:
        @hookimpl
        def stockfish_sequence_gap(self, connector, symbol, first_missing, last_missing):
            seen.append("before")

    class Bad:
        @hookimpl
        def stockfish_sequence_gap(self, connector, symbol, first_missing, last_missing):
            raise RuntimeError("observer bug")

    class After:
        @hookimpl
        def stockfish_sequence_gap(self, connector, symbol, first_missing, last_missing):
            seen.append("after")

    # pluggy calls the last registered first: Bad sits between the other two either way.
    for name, plugin in (("before", Before()), ("bad_observer", Bad()), ("after", After())):
        assert plugins.register_plugin(plugin, name).error is None
    failures_before = events.observer_failures().get("bad_observer:stockfish_sequence_gap", 0)
    connector = SimConnector(name="x", venue=f"bad-{now_ns()}")
    connector.record_sequence_gap("SPY", 1, 1)
    connector.record_sequence_gap("SPY", 3, 3)
    assert connector.stats.sequence_gaps == 2
    assert sorted(seen) == ["after", "after", "before", "before"]
    assert events.observer_failures()["bad_observer:stockfish_sequence_gap"] == \
        failures_before + 2


def test_a_misspelled_hook_disables_only_its_plugin(fresh_plugins: None) -> None:
    class Typo:
        @hookimpl
        def stockfish_order_evnt(self, event):
            pass

    class WrongArgs:
        @hookimpl
        def stockfish_order_event(self, evt):
            pass

    class Fine:
        def __init__(self) -> None:
            self.events: list[object] = []

        @hookimpl
        def stockfish_order_event(self, event):
            self.events.append(event)

    typo = plugins.register_plugin(Typo(), "typo")
    assert typo.error is not None
    assert "unknown hook 'stockfish_order_evnt'" in typo.error
    assert "did you mean 'stockfish_order_event'" in typo.error
    wrong = plugins.register_plugin(WrongArgs(), "wrong_args")
    assert wrong.error is not None and "evt" in wrong.error
    fine = Fine()
    assert plugins.register_plugin(fine, "fine").error is None
    assert plugins.get_connector_type("sim").name == "sim"
    pm = plugins.get_plugin_manager()
    assert not pm.is_registered(typo) and pm.get_plugin("typo") is None
    assert pm.get_plugin("wrong_args") is None
    connector = SimConnector(name="y", venue=f"typo-{now_ns()}")
    try:
        assert connector.connect()
        from stockfish_core.orders import Order

        connector.send_order(Order("SPY", "BUY", 1, "LIMIT", price=0.5))
    finally:
        connector.close()
    assert [e.kind for e in fine.events][:1] == ["submitted"]


def test_an_event_hook_may_not_be_a_wrapper(fresh_plugins: None) -> None:
    class Wrapping:
        @hookimpl(wrapper=True)
        def stockfish_failover(self, decision):
            return (yield)

    info = plugins.register_plugin(Wrapping(), "wrapping")
    assert info.error is not None and "plain observer" in info.error


def test_config_with_unknown_plugin_type_is_a_config_error(fresh_plugins: None) -> None:
    from stockfish_core.config import load_config

    with pytest.raises(ConfigError, match="connectors.x.type: unknown connector type 'nope'"):
        load_config({"connectors": {"x": {"type": "nope"}}}, env={})


class CommandPlugin:
    """An in-process plugin adding ``stockfish-rt hello`` (and trying to take ``run``)."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    @hookimpl
    def stockfish_cli_commands(self, register):
        def add_arguments(parser):
            parser.add_argument("--who", default="world")

        def main(args):
            self.ran.append(args.who)
            return 7

        register("hello", add_arguments, main, help="say hello")
        register("run", add_arguments, main, help="try to take a built-in name")


class BrokenCommandPlugin:
    @hookimpl
    def stockfish_cli_commands(self, register):
        raise RuntimeError("broken on purpose")


def test_plugins_add_cli_commands_through_stockfish_cli_commands(
        fresh_plugins: None, caplog: pytest.LogCaptureFixture) -> None:
    from stockfish_core import cli

    command = CommandPlugin()
    assert plugins.register_plugin(BrokenCommandPlugin(), "broken_cli").error is None
    assert plugins.register_plugin(command, "hello_cli").error is None
    assert cli.main(["hello", "--who", "there"]) == 7
    assert command.ran == ["there"]
    assert "stockfish_cli_commands raised RuntimeError" in caplog.text  # the other still runs
    assert "command 'run' refused" in caplog.text
    help_text = cli.build_parser([]).format_help()
    assert "hello" in help_text and "say hello" in help_text
    # A built-in command does not ask plugins for theirs, and keeps its own meaning.
    assert "hello" not in cli.build_parser(["check", "x.yaml"]).format_help()
    assert command.ran == ["there"]
