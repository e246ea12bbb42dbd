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
    "src/stockfish_acme_fx/py.typed",
    "src/stockfish_acme_fx/settings.py", "src/stockfish_acme_fx/connector.py",
    "src/stockfish_acme_fx/testing/__init__.py", "src/stockfish_acme_fx/testing/__main__.py",
    "src/stockfish_acme_fx/testing/venue.py", "tests/test_acme_fx.py",
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


def test_generated_connector_claims_only_what_it_does(generated: Path) -> None:
    from stockfish_core.enums import DataType
    from stockfish_core.errors import OrderRejectedError, UnknownOrderError
    from stockfish_core.orders import Order, OrderSide, OrderStatus

    cls = importlib.import_module("stockfish_acme_fx.connector").AcmeFxConnector
    assert issubclass(cls, BaseConnector) and not inspect.isabstract(cls)
    caps = cls.capabilities
    assert caps.data_types == {DataType.PRICE_TICK}
    assert caps.data_only and not caps.order_types
    connector = cls(name="x")
    # Orders are refused before the wire, not faked: data-only, nothing is tracked.
    order = Order("AAA", OrderSide.BUY, 1)
    with pytest.raises(OrderRejectedError, match="data-only"):
        connector.send_order(order)
    assert order.status is OrderStatus.REJECTED and connector.orders == {}
    with pytest.raises(UnknownOrderError):
        connector.cancel_order(order.client_order_id)
    assert connector.subscribe_news() is False and connector.subscribe_macro() is False
    for normalize in (connector.on_orderbook, connector.on_news, connector.on_macro):
        assert normalize({"symbol": "AAA"}) is None
    assert connector.get_stats()["data_errors"] == 3
    # What is left to write says so where the author will look.
    for name in ("subscribe_orderbook", "on_orderbook", "_send", "_on_line"):
        doc = getattr(cls, name).__doc__ or ""
        assert "To write" in doc, f"{name} does not say what is left to write"
    # The order path is the core's: the generated class writes none of it, and the
    # protocol methods an author adds are named where the author will look.
    for name in ("send_order", "cancel_order", "get_order_status", "submit_order"):
        assert name not in cls.__dict__, f"{name} must be left to the core"
    source = inspect.getsource(cls)
    for name in ("def submit_order", "def submit_cancel", "def request_order_states"):
        assert name in source, f"the template does not say how to write {name}"
    assert not connector.is_connected and not connector.is_connected_check()
