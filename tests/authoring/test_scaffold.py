"""`stockfish-rt new-connector`: names, refusal to overwrite, and what it generates."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from stockfish_core import cli, plugins
from stockfish_core.connector import BaseConnector
from stockfish_core.scaffold import ScaffoldError, render_package, validate_name
from stockfish_core.settings import ConnectorSettings

EXPECTED = {
    "pyproject.toml", "README.md", "example.yaml", "src/stockfish_acme_fx/__about__.py",
    "src/stockfish_acme_fx/__init__.py", "src/stockfish_acme_fx/plugin.py",
    "src/stockfish_acme_fx/settings.py", "src/stockfish_acme_fx/connector.py",
    "src/stockfish_acme_fx/testing/__init__.py", "tests/test_acme_fx.py",
}


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Path]:
    """The package for ``acme_fx`` generated into tmp_path and importable from source."""
    root = tmp_path / "stockfish-acme-fx"
    render_package("acme_fx", root)
    sys.path.insert(0, str(root / "src"))
    yield root
    sys.path.remove(str(root / "src"))
    for name in [m for m in sys.modules if m.startswith("stockfish_acme_fx")]:
        del sys.modules[name]


@pytest.mark.parametrize("name", ["Kraken", "1venue", "my-venue", "my venue", "", "class",
                                  "a__b", "venue_", "ünï"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError, match="invalid connector name"):
        validate_name(name, check_installed=False)


def test_installed_type_names_are_refused(fresh_plugins: None) -> None:
    with pytest.raises(ScaffoldError, match="already installed"):
        validate_name("sim")
    assert validate_name("acme_fx") == "acme_fx"


def test_cli_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["new-connector", "acme_fx", "--dir", str(tmp_path)]) == 0
    marker = tmp_path / "stockfish-acme-fx" / "README.md"
    marker.write_text("mine", encoding="utf-8")
    assert cli.main(["new-connector", "acme_fx", "--dir", str(tmp_path)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert marker.read_text(encoding="utf-8") == "mine"


def test_cli_reports_a_bad_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["new-connector", "Bad-Name", "--dir", str(tmp_path)]) == 1
    assert "invalid connector name" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_generates_a_complete_package(generated: Path) -> None:
    files = {p.relative_to(generated).as_posix() for p in generated.rglob("*") if p.is_file()}
    assert files == EXPECTED
    for path in generated.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "{{" not in text and "__package__" not in str(path), path
            if path.suffix == ".py":
                ast.parse(text, filename=str(path))
    pyproject = (generated / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "stockfish-acme-fx"' in pyproject
    assert '[project.entry-points."stockfish.connectors"]\nacme_fx = "stockfish_acme_fx.plugin"' \
        in pyproject
    assert '"stockfish-core>=' in pyproject


def test_generated_plugin_registers_its_type(generated: Path) -> None:
    module = importlib.import_module("stockfish_acme_fx.plugin")
    registered: list[plugins.ConnectorType] = []
    module.stockfish_register_connectors(register=registered.append)
    (ctype,) = registered
    assert ctype.name == "acme_fx"
    assert ctype.connector_class == "stockfish_acme_fx.connector:AcmeFxConnector"
    assert issubclass(ctype.settings_class, ConnectorSettings)
    assert attrs.has(ctype.settings_class)
    # frozen, keyword-only, with the env overrides the config loader applies
    settings = ctype.settings_class(port=1234)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    assert ctype.settings_class.ENV_OVERRIDES["ACME_FX_HOST"] == "host"


def test_generated_connector_pretends_nothing(generated: Path) -> None:
    cls = ctype_class = importlib.import_module("stockfish_acme_fx.connector").AcmeFxConnector
    assert issubclass(cls, BaseConnector) and not inspect.isabstract(cls)
    connector = ctype_class(name="x")
    abstract = sorted(BaseConnector.__abstractmethods__)
    calls = {"subscribe_price": ("AAA",), "subscribe_orderbook": ("AAA",), "unsubscribe": ("A",),
             "on_price_tick": ({},), "on_orderbook": ({},), "on_news": ({},),
             "on_macro": ({},), "send_order": (None,), "cancel_order": ("x",),
             "get_order_status": ("x",)}
    for name in [*abstract, "request_order_states"]:
        method = getattr(connector, name)
        args = calls.get(name, ([], 1.0) if name == "request_order_states" else ())
        with pytest.raises(NotImplementedError) as info:
            method(*args)
        message = str(info.value)
        assert message.startswith(f"AcmeFxConnector.{name}: ") and len(message) > 40, message
        assert method.__doc__ and len(method.__doc__) > 40, f"{name} lacks a docstring"
    assert not connector.is_connected
