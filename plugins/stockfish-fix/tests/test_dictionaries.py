"""The extended FIX 4.2 / 4.4 dictionaries: what the connector's tests give QuickFIX is what
the jspurefix venue publishes (``venues/jspurefix/extensions.json``), and QuickFIX parses
the market-data fields venues add inside their groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stockfish_fix import messages as m
from stockfish_fix.testing.dictionaries import EXTENSIONS
from stockfish_fix.testing.js_venue import venue_dir
from stockfish_fix.testing.messages import parse, raw


def test_the_extensions_are_those_the_js_venue_publishes() -> None:
    published = json.loads((venue_dir() / "extensions.json").read_text(encoding="utf-8"))
    for version, spec in published.items():
        ours = EXTENSIONS.get(version, {"fields": [], "W": (), "X": (), "messages": {}})
        assert {(f["number"], f["name"]) for f in spec["fields"]} == \
            {(number, name) for number, name, _kind, _values in ours["fields"]}  # type: ignore[attr-defined]
        # The venue lists every value of an enum it extends; we add only the new ones
        # (0 New, 1 Change, 2 Delete are in every standard dictionary).
        enums = {f["number"]: {v for v, _ in f.get("values", [])} - {"0", "1", "2"}
                 for f in spec["fields"]}
        assert enums == {number: {v for v, _ in values}
                         for number, _name, _kind, values in ours["fields"]}  # type: ignore[attr-defined]
        groups = {("W" if "W" in str(e["in"]) or "Full" in str(e["in"]) else "X"):
                  set(e["fields"]) for e in spec["group_members"]}
        assert groups == ({"W": set(ours["W"]), "X": set(ours["X"])} if groups else {})  # type: ignore[arg-type]
        messages = {e["msgtype"]: set(e["fields"]) for e in spec["message_fields"]}
        assert messages == {k: set(v) for k, v in ours["messages"].items()}  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", ["FIX42", "FIX44"])
def test_quickfix_parses_rptseq_level_and_entry_ids_inside_the_groups(
        version: str, test_dictionaries: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import quickfix as fix

    folder = Path(test_dictionaries)
    dictionary = fix.DataDictionary(str(folder / f"{version}.xml"))
    body = [(262, "R1"), (268, "2"),
            (279, "3"), (269, "0"), (55, "AAA"), (83, "7"), (1023, "2"),
            (279, "0"), (269, "1"), (55, "AAA"), (270, "101.5"), (271, "4"), (83, "8"),
            (1023, "1")]
    msg = fix.Message(raw(version, "X", body), dictionary, False)
    dictionary.validate(msg)
    _req, entries = m.decode_md_incremental(msg)
    assert [(e.action, e.level, e.rpt_seq) for e in entries] == [("3", 2, 7), ("0", 1, 8)]
    assert parse  # the module's helpers stay importable with the extended set
