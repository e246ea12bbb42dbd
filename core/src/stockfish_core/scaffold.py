"""``stockfish-rt new-connector NAME``: scaffold an installable connector plugin package.

Generates ``stockfish-NAME/`` (import ``stockfish_NAME``) from the templates shipped in
``stockfish_core/templates/connector``: pyproject with the ``stockfish.connectors`` entry
point, a light ``plugin.py``, an attrs settings class, a working data-only connector for a
template protocol (JSON lines over TCP) with a simulated venue that speaks it, a README and a
test module that runs the conformance kit and passes as generated. What is left to write
(the venue's real protocol, books, orders) is marked "To write" in the connector's
docstrings; nothing claims a capability it does not have (no order types are declared, so
the kit skips its order tests and the base class refuses every order).
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from stockfish_core.__about__ import __version__

__all__ = ["ScaffoldError", "add_arguments", "main", "render_package", "validate_name"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SUFFIX = ".tmpl"


class ScaffoldError(ValueError):
    """The name or the target directory cannot be used."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="connector type name: a lowercase identifier, e.g. kraken")
    parser.add_argument("--dir", default=".",
                        help="directory in which to create stockfish-NAME/ (default: here)")


def validate_name(name: str, *, check_installed: bool = True) -> str:
    """Return ``name`` if it can name a new connector type, else raise ScaffoldError."""
    if not _NAME.match(name) or not name.isidentifier():
        raise ScaffoldError(
            f"invalid connector name {name!r}: use a lowercase identifier "
            "(letters, digits and _, starting with a letter), e.g. 'kraken'")
    if keyword.iskeyword(name) or name.endswith("_") or "__" in name:
        raise ScaffoldError(f"invalid connector name {name!r}: not a keyword, no '__', "
                            "no trailing '_'")
    if check_installed:
        from stockfish_core import plugins

        infos = plugins.load_plugins()
        types = plugins.list_connector_types()
        if name in types:
            owner = types[name].plugin
            raise ScaffoldError(f"connector type {name!r} is already installed "
                                f"(plugin {owner!r}); choose another name")
        if name in infos:
            raise ScaffoldError(f"a plugin named {name!r} is already installed "
                                f"(dist {infos[name].dist}); choose another name")
    return name


def _class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _substitutions(name: str) -> dict[str, str]:
    return {
        "{{name}}": name,
        "{{dist}}": "stockfish-" + name.replace("_", "-"),
        "{{package}}": f"stockfish_{name}",
        "{{Class}}": _class_name(name),
        "{{ENV}}": name.upper(),
        "{{core_version}}": __version__,
    }


def _render(text: str, subs: dict[str, str]) -> str:
    for token, value in subs.items():
        text = text.replace(token, value)
    return text


def render_package(name: str, target: Path) -> list[Path]:
    """Write the package for connector ``name`` into ``target`` (which must not exist).

    Returns the files written.
    """
    if target.exists():
        raise ScaffoldError(f"{target} already exists; refusing to overwrite it")
    subs = _substitutions(name)
    path_subs = {"__package__": subs["{{package}}"], "__name__": name}
    root = resources.files("stockfish_core") / "templates" / "connector"
    planned: list[tuple[Path, str]] = []

    def walk(node: Any, rel: tuple[str, ...]) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name == "__pycache__":
                continue
            if child.is_dir():
                walk(child, (*rel, child.name))
            elif child.name.endswith(_SUFFIX):
                parts = [*rel, child.name[: -len(_SUFFIX)]]
                for token, value in path_subs.items():
                    parts = [p.replace(token, value) for p in parts]
                planned.append((target.joinpath(*parts),
                                _render(child.read_text(encoding="utf-8"), subs)))

    walk(root, ())
    if not planned:
        raise ScaffoldError(f"no templates found in {root}: the installation is incomplete")
    written = []
    target.mkdir(parents=True)
    for path, text in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(args: argparse.Namespace) -> int:
    try:
        name = validate_name(args.name)
        target = Path(args.dir) / ("stockfish-" + name.replace("_", "-"))
        files = render_package(name, target)
    except ScaffoldError as exc:
        print(f"stockfish-rt new-connector: {exc}", file=sys.stderr)
        return 1
    package = f"stockfish_{name}"
    print(f"created {target} ({len(files)} files)")
    print(f"""
next steps:
  pip install -e {target}
  stockfish-rt plugins                      # lists {name!r}
  stockfish-rt check {target / 'example.yaml'}
  pytest {target / 'tests'}                 # the conformance kit; order tests skip
then replace the template protocol in src/{package}/connector.py and
src/{package}/testing/venue.py with your venue's, and write what is marked "To write"
(books, orders) keeping tests/ green. See docs/authoring.md.""")
    return 0

