"""Subject, stream and bucket names on the bus: one place, so that the gateway, the remote
connector, the permissions in ``docs/scale-out.md`` and the tests agree.

::

    sf.md.<gateway>.<connector>.<data_type>.<symbol>   market data (core NATS, fan-out)
    sf.cmd.<gateway>.<connector>.<op>                  requests to the session holder
    sf.gw.<gateway>.<op>                               requests to every gateway instance
    sf.ev.<gateway>.<connector>.<owner>.<cid>          order events (JetStream, replayable)
    sf.st.<gateway>.<connector>                        connector status (JetStream)

A symbol or client order id may hold characters a subject token cannot (``.``, ``*``,
``>``, blanks): :func:`token` escapes them (``%2E`` ...) and :func:`untoken` reverses it.
"""

from __future__ import annotations

import re

__all__ = ["COMMANDS", "LEASE_BUCKET", "Subjects", "check_name", "token", "untoken"]

PREFIX = "sf"
#: The KV bucket holding one lease per venue session (``<gateway>.<connector>``).
LEASE_BUCKET = "sf_leases"
#: Requests the session holder answers on ``sf.cmd.<gateway>.<connector>.<op>``.
COMMANDS = ("submit", "cancel", "replace", "status", "subscribe", "unsubscribe", "ping")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ESCAPE = {"%": "%25", ".": "%2E", "*": "%2A", ">": "%3E", " ": "%20"}
_UNESCAPE = re.compile(r"%([0-9A-F]{2})")
_EMPTY = "_"


def check_name(kind: str, value: str) -> str:
    """A gateway, connector or owner name: letters, digits, ``_`` and ``-`` only (it is a
    subject token and part of stream and key names)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"{kind} name must be 1-64 letters, digits, '_' or '-', "
                         f"got {value!r}")
    return value


def token(value: str) -> str:
    """``value`` as one subject token (``""`` is ``_``)."""
    if not value:
        return _EMPTY
    if value == _EMPTY:
        return "%5F"
    if any(c in _ESCAPE or ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return "".join(_ESCAPE.get(c) or (c if 0x20 < ord(c) != 0x7F else f"%{ord(c):02X}")
                       for c in value)
    return value


def untoken(tok: str) -> str:
    """The value :func:`token` made ``tok`` from."""
    if tok == _EMPTY:
        return ""
    if "%" not in tok:
        return tok
    return _UNESCAPE.sub(lambda m: chr(int(m.group(1), 16)), tok)


class Subjects:
    """The names of one gateway's subjects, streams and lease keys."""

    __slots__ = ("_cmd", "_ev", "_md", "_st", "events_stream", "gateway")

    def __init__(self, gateway: str) -> None:
        self.gateway = check_name("gateway", gateway)
        self._md = f"{PREFIX}.md.{gateway}."
        self._cmd = f"{PREFIX}.cmd.{gateway}."
        self._ev = f"{PREFIX}.ev.{gateway}."
        self._st = f"{PREFIX}.st.{gateway}."
        #: The JetStream stream of this gateway's order events and statuses.
        self.events_stream = f"SF_EVENTS_{gateway}"

    # -- market data ------------------------------------------------------------------------
    def market_prefix(self, connector: str) -> str:
        """``sf.md.<gateway>.<connector>.``: append ``<data_type>.<symbol token>``."""
        return f"{self._md}{connector}."

    def market(self, connector: str, data_type: str, symbol: str) -> str:
        return f"{self._md}{connector}.{data_type}.{token(symbol)}"

    def market_all(self) -> str:
        return f"{self._md}>"

    # -- requests ---------------------------------------------------------------------------
    def command(self, connector: str, op: str) -> str:
        return f"{self._cmd}{connector}.{op}"

    def commands(self, connector: str) -> str:
        return f"{self._cmd}{connector}.*"

    def gateway_request(self, op: str) -> str:
        """``sf.gw.<gateway>.<op>``: health and stats, answered by every instance (and
        ``sf.gw.<gateway>.<instance>.<op>`` by that instance only)."""
        return f"{PREFIX}.gw.{self.gateway}.{op}"

    # -- the events stream ------------------------------------------------------------------
    def event(self, connector: str, owner: str, client_order_id: str) -> str:
        return f"{self._ev}{connector}.{token(owner)}.{token(client_order_id)}"

    def events_of(self, owner: str, connector: str = "*") -> str:
        """Every order event of ``owner``'s orders (on ``connector``, or all of them)."""
        return f"{self._ev}{connector}.{token(owner)}.>"

    def events_all(self) -> str:
        return f"{self._ev}>"

    def status(self, connector: str) -> str:
        return f"{self._st}{connector}"

    def statuses(self) -> str:
        return f"{self._st}*"

    def stream_subjects(self) -> list[str]:
        return [self.events_all(), f"{self._st}>"]

    # -- leases -----------------------------------------------------------------------------
    def lease_key(self, connector: str) -> str:
        """The KV key of the lease on ``connector``'s venue session."""
        return f"{self.gateway}.{connector}"

    @staticmethod
    def parse_event(subject: str) -> tuple[str, str, str] | None:
        """``(connector, owner, client_order_id)`` of an order event subject, or None."""
        parts = subject.split(".")
        if len(parts) != 6 or parts[0] != PREFIX or parts[1] != "ev":
            return None
        return parts[3], untoken(parts[4]), untoken(parts[5])
