"""Build the QuickFIX session configuration from settings (users never hand-write one).

The same builder serves the connector (initiator) and the simulated venue (acceptor), so
both sides always agree on dictionaries and session options.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from stockfish_fix.settings import BEGIN_STRINGS

__all__ = ["APPL_VER_IDS", "build_config", "dictionary_dir", "dictionary_paths",
           "parse_first_session", "wire_heartbeat"]

#: DefaultApplVerID for FIX 5.0 SP2 sessions over FIXT.1.1.
APPL_VER_IDS = {"FIX50SP2": "FIX.5.0SP2"}
_FILES = {"FIX42": "FIX42.xml", "FIX44": "FIX44.xml", "FIX50SP2": "FIX50SP2.xml"}


def dictionary_dir(override: str = "") -> Path:
    """Where the data dictionaries are: ``override`` (a directory, or a file whose directory
    is used) or the ones installed with quickfix under ``sys.prefix``."""
    if override:
        path = Path(override).expanduser()
        return path if path.is_dir() else path.parent
    candidates = [Path(sys.prefix) / "share" / "quickfix",
                  Path(sys.base_prefix) / "share" / "quickfix"]
    for candidate in candidates:
        if (candidate / "FIX44.xml").is_file():
            return candidate
    return candidates[0]


def dictionary_paths(version: str, override: str = "") -> dict[str, Path]:
    """The dictionary files of ``version``: ``{"app": ..., "transport": ...}`` for FIX 5.0
    SP2, ``{"app": ...}`` otherwise. Raises ``FileNotFoundError`` naming what is missing."""
    folder = dictionary_dir(override)
    app = Path(override).expanduser() if override and Path(override).is_file() \
        else folder / _FILES[version]
    paths = {"app": app}
    if version == "FIX50SP2":
        paths["transport"] = folder / "FIXT11.xml"
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"FIX data dictionary not found: {', '.join(missing)} (install quickfix with its "
            f"dictionaries, or set data_dictionary to their directory)")
    return paths


def wire_heartbeat(seconds: float) -> int:
    """HeartBtInt on the wire: whole seconds, at least 1."""
    return max(1, round(seconds))


def build_config(
    *, role: str, version: str, sender_comp_id: str, target_comp_ids: list[str] | tuple[str, ...],
    host: str = "127.0.0.1", port: int, heartbeat_interval: float = 30.0,
    reset_on_logon: bool = False, store_path: str = "", log_path: str = "",
    data_dictionary: str = "", reconnect_interval: int = 1,
    sender_sub_id: str | None = None, target_sub_id: str | None = None,
    extra: dict[str, Any] | None = None, persist_messages: bool = True,
) -> str:
    """A QuickFIX settings text: ``[DEFAULT]`` plus one ``[SESSION]`` per target CompID.

    ``role`` is ``initiator`` or ``acceptor``. ``SocketNodelay=Y`` always: without it a
    small message waits on Nagle's algorithm for tens of milliseconds. ``persist_messages``
    off keeps only sequence numbers in the store (no message bodies: nothing to resend, and
    no Logon with its password on disk).
    """
    paths = dictionary_paths(version, data_dictionary)
    lines = ["[DEFAULT]", f"ConnectionType={role}",
             f"HeartBtInt={wire_heartbeat(heartbeat_interval)}",
             "StartTime=00:00:00", "EndTime=00:00:00", "NonStopSession=Y",
             "SocketNodelay=Y", "UseDataDictionary=Y", "ValidateUserDefinedFields=N",
             "AllowUnknownMsgFields=Y", "ValidateFieldsOutOfOrder=N",
             f"ResetOnLogon={'Y' if reset_on_logon else 'N'}",
             f"PersistMessages={'Y' if persist_messages else 'N'}", "LogonTimeout=5",
             "LogoutTimeout=2"]
    if store_path:
        lines.append(f"FileStorePath={store_path}")
    if log_path:
        lines.append(f"FileLogPath={log_path}")
    if role == "initiator":
        lines += [f"SocketConnectHost={host}", f"SocketConnectPort={port}",
                  f"ReconnectInterval={max(1, int(reconnect_interval))}"]
    else:
        lines += [f"SocketAcceptPort={port}", f"SocketAcceptAddress={host}",
                  "SocketReuseAddress=Y"]
    if version == "FIX50SP2":
        lines += [f"TransportDataDictionary={paths['transport']}",
                  f"AppDataDictionary={paths['app']}",
                  f"DefaultApplVerID={APPL_VER_IDS[version]}"]
    else:
        lines.append(f"DataDictionary={paths['app']}")
    for key, value in (extra or {}).items():
        lines.append(f"{key}={value}")
    for target in target_comp_ids:
        lines += ["", "[SESSION]", f"BeginString={BEGIN_STRINGS[version]}",
                  f"SenderCompID={sender_comp_id}", f"TargetCompID={target}"]
        if sender_sub_id:
            lines.append(f"SenderSubID={sender_sub_id}")
        if target_sub_id:
            lines.append(f"TargetSubID={target_sub_id}")
    return "\n".join(lines) + "\n"


def parse_first_session(text: str) -> dict[str, str]:
    """BeginString/SenderCompID/TargetCompID of the first ``[SESSION]`` of a config text
    (values from ``[DEFAULT]`` fill in what the session leaves out)."""
    default: dict[str, str] = {}
    session: dict[str, str] | None = None
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            if section == "SESSION" and session is not None:
                break
            section = line[1:-1].strip().upper()
            if section == "SESSION":
                session = {}
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        target = session if section == "SESSION" and session is not None else default
        target[key.strip()] = value.strip()
    merged = {**default, **(session or {})}
    missing = [k for k in ("BeginString", "SenderCompID", "TargetCompID") if not merged.get(k)]
    if session is None or missing:
        raise ValueError(f"session_config: no complete [SESSION] (missing {missing or 'all'})")
    return merged


def default_store_path() -> str:
    """``~/.stockfish-rt/fix/store``: where the file store keeps sequence numbers."""
    return os.path.join(os.path.expanduser("~"), ".stockfish-rt", "fix", "store")
