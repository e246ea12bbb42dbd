"""QuickFIX data dictionaries for venues that use market-data fields their FIX version's
standard dictionary lacks.

Venues on FIX 4.2 / 4.4 commonly send RptSeq (83) and MDPriceLevel (1023) on market-data
entries, MDEntryID (278) in snapshots, and MDUpdateAction 3/4/5 (Delete Thru, Delete From,
Overlay); FIX 5.0 SP2 has them all. QuickFIX parses a repeating group by its dictionary, so a
field the dictionary does not list inside the group ends the group and the message is
rejected: a client of such a venue needs the venue's dictionaries (``data_dictionary``).
:func:`extend_dictionaries` writes the standard ones with those additions (and Username /
Password on the 4.2 Logon), for the simulated venues and the tests.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from stockfish_fix.session_config import dictionary_dir

__all__ = ["EXTENSIONS", "extend_dictionaries"]

_ACTIONS = (("3", "DELETE_THRU"), ("4", "DELETE_FROM"), ("5", "OVERLAY"))

#: Per version: fields to define (number, name, type, extra enum values), fields to add
#: to the snapshot (W) and incremental (X) groups, fields to add to messages.
EXTENSIONS: dict[str, dict[str, object]] = {
    "FIX42": {
        "fields": [(83, "RptSeq", "INT", ()), (1023, "MDPriceLevel", "INT", ()),
                   (553, "Username", "STRING", ()), (554, "Password", "STRING", ()),
                   (279, "MDUpdateAction", "CHAR", _ACTIONS)],
        "W": ("MDEntryID", "RptSeq", "MDPriceLevel"),
        "X": ("RptSeq", "MDPriceLevel"),
        "messages": {"A": ("Username", "Password")},
    },
    "FIX44": {
        "fields": [(1023, "MDPriceLevel", "INT", ()),
                   (279, "MDUpdateAction", "CHAR", _ACTIONS)],
        "W": ("MDEntryID", "RptSeq", "MDPriceLevel"),
        "X": ("RptSeq", "MDPriceLevel"),
        "messages": {},
    },
}


def _entries_group(root: ET.Element, msg_type: str) -> ET.Element:
    """The NoMDEntries group of message ``msg_type``, inline or in a component."""
    message = next(x for x in root.iter("message") if x.get("msgtype") == msg_type)
    for group in message.iter("group"):
        if group.get("name") == "NoMDEntries":
            return group
    components = {c.get("name"): c for c in root.iter("component") if len(c)}
    for ref in message.iter("component"):
        for group in components.get(ref.get("name"), ET.Element("none")).iter("group"):
            if group.get("name") == "NoMDEntries":
                return group
    raise ValueError(f"no NoMDEntries group in message {msg_type}")


def _extend(path: Path, spec: dict[str, object], target: Path) -> None:
    tree = ET.parse(path)
    root = tree.getroot()
    fields = root.find("fields")
    assert fields is not None
    by_number = {f.get("number"): f for f in fields}
    for number, name, kind, values in spec["fields"]:  # type: ignore[attr-defined]
        field = by_number.get(str(number))
        if field is None:
            field = ET.SubElement(fields, "field", number=str(number), name=name, type=kind)
        known = {v.get("enum") for v in field}
        for enum, label in values:
            if enum not in known:
                ET.SubElement(field, "value", enum=enum, description=label)
    for msg_type in ("W", "X"):
        group = _entries_group(root, msg_type)
        present = {c.get("name") for c in group}
        for name in spec[msg_type]:  # type: ignore[attr-defined]
            if name not in present:
                ET.SubElement(group, "field", name=name, required="N")
    for msg_type, names in spec["messages"].items():  # type: ignore[attr-defined]
        message = next(x for x in root.iter("message") if x.get("msgtype") == msg_type)
        present = {c.get("name") for c in message}
        for name in names:
            if name not in present:
                ET.SubElement(message, "field", name=name, required="N")
    tree.write(target)


def _trimmed(path: Path, keep: frozenset[str], target: Path) -> None:
    tree = ET.parse(path)
    messages = tree.getroot().find("messages")
    assert messages is not None
    for message in list(messages):
        if message.get("msgtype") not in keep:
            messages.remove(message)
    tree.write(target)


def extend_dictionaries(folder: str | Path, source: str | Path | None = None, *,
                        keep_messages: Iterable[str] | None = None) -> str:
    """Write FIX42/FIX44/FIX50SP2/FIXT11.xml from ``source`` (default: the dictionaries
    installed with quickfix) into ``folder`` with :data:`EXTENSIONS`; returns ``folder``,
    a connector's ``data_dictionary``. ``keep_messages``: keep only these application
    messages in FIX 5.0 SP2 (QuickFIX needs over a second to load the full file)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    origin = Path(source) if source is not None else dictionary_dir()
    for name in ("FIX42", "FIX44", "FIX50SP2", "FIXT11"):
        path = origin / f"{name}.xml"
        if name in EXTENSIONS:
            _extend(path, EXTENSIONS[name], target / path.name)
        elif name == "FIX50SP2" and keep_messages is not None:
            _trimmed(path, frozenset(keep_messages), target / path.name)
        else:
            shutil.copy(path, target / path.name)
    return str(target)
