"""Settings of the ``fix`` connector (attrs only: cheap to import, no quickfix here)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from stockfish_core.settings import ConnectorSettings, Secret, non_negative, positive

__all__ = ["BEGIN_STRINGS", "STORES", "VERSIONS", "FIXSettings"]

#: Our version names -> the BeginString on the wire (FIX 5.0 SP2 rides on FIXT.1.1).
BEGIN_STRINGS: dict[str, str] = {"FIX42": "FIX.4.2", "FIX44": "FIX.4.4", "FIX50SP2": "FIXT.1.1"}
VERSIONS = tuple(BEGIN_STRINGS)
_ALIASES = {"FIX.4.2": "FIX42", "4.2": "FIX42", "FIX.4.4": "FIX44", "4.4": "FIX44",
            "FIX.5.0SP2": "FIX50SP2", "FIXT.1.1": "FIX50SP2", "5.0SP2": "FIX50SP2",
            "FIX50": "FIX50SP2"}
STORES = ("file", "memory")


def _version(value: Any) -> str:
    text = str(value).strip().upper().replace(" ", "")
    return _ALIASES.get(text, text)


def _check_version(_: Any, attribute: Any, value: str) -> None:
    if value not in BEGIN_STRINGS:
        raise ValueError(f"{attribute.name}: expected one of {', '.join(VERSIONS)}, "
                         f"got {value!r}")


def _check_store(_: Any, attribute: Any, value: str) -> None:
    if value not in STORES:
        raise ValueError(f"{attribute.name}: expected one of {', '.join(STORES)}, got {value!r}")


def _reconnect_interval(_: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name}: expected whole seconds >= 1, got {value!r} "
                         f"(QuickFIX retries a refused connection in a tight loop at 0)")


def _port(_: Any, attribute: Any, value: int) -> None:
    if not 0 < value < 65536:
        raise ValueError(f"{attribute.name}: expected a TCP port 1..65535, got {value!r}")


def _comp_id(_: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "=\x01\n[]"):
        raise ValueError(f"{attribute.name}: expected a non-empty CompID, got {value!r}")


def _to_secret(value: Any) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(str(value))


def _raw_settings(_: Any, attribute: Any, value: dict[str, str]) -> None:
    for key, item in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"{attribute.name}: bad QuickFIX setting name {key!r}")
        if "\n" in str(item):
            raise ValueError(f"{attribute.name}.{key}: a value cannot span lines")


@attrs.frozen(kw_only=True)
class FIXSettings(ConnectorSettings):
    """Settings of the ``fix`` connector.

    - ``host``/``port``: the venue's FIX acceptor.
    - ``version``: FIX42, FIX44 or FIX50SP2 (FIX 5.0 SP2 over FIXT.1.1 with
      ``DefaultApplVerID=FIX.5.0SP2``).
    - ``sender_comp_id``/``target_comp_id`` and optional ``sender_sub_id``/``target_sub_id``.
    - ``username``/``password``: sent in the Logon (553/554); secrets, never logged.
    - ``heartbeat_interval``: HeartBtInt (whole seconds on the wire). QuickFIX sends test
      requests and drops a silent session within about two intervals.
    - ``reset_on_logon``: send ResetSeqNumFlag on every Logon. ``None`` (default) resets
      with the memory store (which cannot remember sequence numbers) and keeps them with
      the file store.
    - ``store``: ``file`` (default; sequence numbers and sent messages survive a restart, in
      ``store_path``) or ``memory`` (tests).
    - ``store_path``: the file store's directory (default ``~/.stockfish-rt/fix/store``).
    - ``log_path``: directory for QuickFIX's session logs (empty: no session log).
    - ``data_dictionary``: a dictionary file (the application dictionary) or a directory
      holding ``FIX42.xml``/``FIX44.xml``/``FIX50SP2.xml``/``FIXT11.xml``; empty uses the
      dictionaries installed with quickfix (``<sys.prefix>/share/quickfix``).
    - ``account``: Account (1) on every order.
    - ``reconnect_interval``: QuickFIX's ReconnectInterval (whole s, at least 1): after a
      dropped session QuickFIX connects again at its next one-second tick, then at most
      once per interval. A connect that fails stops QuickFIX, and the core's backoff paces
      the attempts after it.
    - ``connect_timeout``: seconds one ``connect()`` waits for the Logon reply.
    - ``request_timeout``: seconds to wait for a market-data answer or order status.
    - ``logout_timeout``: seconds ``disconnect()`` waits for the venue's Logout reply
      (QuickFIX sends our Logout on its next one-second timer tick).
    - ``market_depth``: MarketDepth (264) asked for (0 = full book).
    - ``resend_orders``: when the venue asks for a resend, re-send old orders/cancels/
      replaces as PossDup instead of gap-filling them (off: a stale order is never replayed).
    - ``session_settings``: extra raw QuickFIX session settings for venue quirks.
    - ``session_config``: a complete QuickFIX configuration to use as is (its first
      session); empty (default) builds one from the settings above.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(default=9876, validator=_port)
    version: str = attrs.field(default="FIX44", converter=_version, validator=_check_version)
    sender_comp_id: str = attrs.field(default="CLIENT", validator=_comp_id)
    target_comp_id: str = attrs.field(default="VENUE", validator=_comp_id)
    sender_sub_id: str | None = None
    target_sub_id: str | None = None
    username: Secret | None = attrs.field(default=None, converter=_to_secret)
    password: Secret | None = attrs.field(default=None, converter=_to_secret)
    heartbeat_interval: float = attrs.field(default=30.0, validator=positive)
    reset_on_logon: bool | None = None
    store: str = attrs.field(default="file", validator=_check_store)
    store_path: str = ""
    log_path: str = ""
    data_dictionary: str = ""
    account: str | None = None
    reconnect_interval: int = attrs.field(default=1, validator=_reconnect_interval)
    connect_timeout: float = attrs.field(default=5.0, validator=positive)
    request_timeout: float = attrs.field(default=5.0, validator=positive)
    logout_timeout: float = attrs.field(default=2.0, validator=non_negative)
    market_depth: int = attrs.field(default=0, validator=non_negative)
    resend_orders: bool = False
    session_settings: dict[str, str] = attrs.field(factory=dict, validator=_raw_settings)
    session_config: str = ""

    ENV_OVERRIDES: ClassVar[dict[str, str]] = {
        "FIX_HOST": "host", "FIX_PORT": "port", "FIX_SENDER_ID": "sender_comp_id",
        "FIX_TARGET_ID": "target_comp_id"}

    @property
    def begin_string(self) -> str:
        return BEGIN_STRINGS[self.version]

    @property
    def resets_on_logon(self) -> bool:
        """Whether the Logon carries ResetSeqNumFlag=Y."""
        if self.reset_on_logon is not None:
            return bool(self.reset_on_logon)
        return self.store == "memory"
