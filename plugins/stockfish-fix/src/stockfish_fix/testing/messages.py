"""Test support: raw FIX strings -> ``quickfix.Message`` with each version's dictionaries
(no sockets), and connector settings that keep tests fast."""

from __future__ import annotations

from functools import cache
from typing import Any

import quickfix as fix

from stockfish_fix.session_config import dictionary_paths
from stockfish_fix.settings import BEGIN_STRINGS

__all__ = ["FAST", "SOH", "dictionaries", "parse", "raw"]

SOH = "\x01"
#: Connector settings that keep tests fast: 1 s heartbeats, quick reconnects and timeouts.
FAST = {"heartbeat_interval": 1.0, "reconnect_initial_delay": 0.05,
        "reconnect_max_delay": 0.5, "connect_timeout": 5.0, "request_timeout": 5.0,
        "logout_timeout": 0.1, "logon_refusal_delay": 1.0}


@cache
def dictionaries(version: str) -> tuple[Any, ...]:
    """The QuickFIX data dictionaries of ``version`` (transport and application for 5.0 SP2)."""
    paths = dictionary_paths(version)
    if version == "FIX50SP2":
        return (fix.DataDictionary(str(paths["transport"])),
                fix.DataDictionary(str(paths["app"])))
    return (fix.DataDictionary(str(paths["app"])),)


def raw(version: str, msg_type: str, body: list[tuple[int, str]]) -> str:
    """A FIX message text (BodyLength and CheckSum computed) of ``body`` fields."""
    header = [(35, msg_type), (34, "2"), (49, "VENUE"), (52, "20240101-00:00:00.000"),
              (56, "CLIENT")]
    if version == "FIX50SP2":
        header.append((1128, "9"))
    text = "".join(f"{t}={v}{SOH}" for t, v in header + body)
    head = f"8={BEGIN_STRINGS[version]}{SOH}9={len(text)}{SOH}"
    total = sum((head + text).encode("latin-1", "replace")) % 256
    return f"{head}{text}10={total:03d}{SOH}"


def parse(version: str, text: str) -> Any:
    """``quickfix.Message`` parsed with the dictionaries (groups built), not validated."""
    dicts = dictionaries(version)
    return fix.Message(text, *dicts, False)
