"""Settings of the ``fix`` connector (attrs only: cheap to import, no quickfix here)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from stockfish_core.settings import ConnectorSettings, Secret, non_negative, positive

from stockfish_fix.book import BOOK_MODELS
from stockfish_fix.wire import WireValueError, custom_tags, parse_tick, wire_text

__all__ = ["BEGIN_STRINGS", "MD_BOOK_MODELS", "SEQ_MISMATCH_POLICIES", "STORES", "VERSIONS",
           "FIXSettings"]

#: Our version names -> the BeginString on the wire (FIX 5.0 SP2 rides on FIXT.1.1).
BEGIN_STRINGS: dict[str, str] = {"FIX42": "FIX.4.2", "FIX44": "FIX.4.4", "FIX50SP2": "FIXT.1.1"}
VERSIONS = tuple(BEGIN_STRINGS)
_ALIASES = {"FIX.4.2": "FIX42", "4.2": "FIX42", "FIX.4.4": "FIX44", "4.4": "FIX44",
            "FIX.5.0SP2": "FIX50SP2", "FIXT.1.1": "FIX50SP2", "5.0SP2": "FIX50SP2",
            "FIX50": "FIX50SP2"}
STORES = ("file", "memory")
#: ``md_book_model`` values: ``auto`` detects the model from what the venue sends.
MD_BOOK_MODELS = ("auto", *BOOK_MODELS)
SEQ_MISMATCH_POLICIES = ("fail", "reset")


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


def _optional_comp_id(_: Any, attribute: Any, value: str | None) -> None:
    if value is not None:
        _comp_id(_, attribute, value)


def _to_secret(value: Any) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(str(value))


def _wire_secret(_: Any, attribute: Any, value: Secret | None) -> None:
    if value is None:
        return
    try:
        wire_text(attribute.name, value.reveal(), identifier=False)
    except WireValueError:  # never echo the secret itself
        raise ValueError(f"{attribute.name}: empty, or holds a control character that would "
                         f"corrupt the Logon") from None


def _wire_identifier(_: Any, attribute: Any, value: str | None) -> None:
    if value is not None:
        wire_text(attribute.name, value)


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(_: Any, attribute: Any, value: str) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name}: expected one of {', '.join(choices)}, "
                             f"got {value!r}")
    return check


def _book_models(_: Any, attribute: Any, value: dict[str, str]) -> None:
    for symbol, model in value.items():
        if model not in MD_BOOK_MODELS:
            raise ValueError(f"{attribute.name}.{symbol}: expected one of "
                             f"{', '.join(MD_BOOK_MODELS)}, got {model!r}")


def _tick_sizes(_: Any, attribute: Any, value: dict[str, Any]) -> None:
    for symbol, tick in value.items():
        parse_tick(f"{attribute.name}.{symbol}", tick)


def _order_tags(_: Any, attribute: Any, value: dict[str, str]) -> None:
    bad = [key for key in value if not (isinstance(key, str) and key.isdigit())]
    if bad:
        raise ValueError(f"{attribute.name}: keys must be FIX tag numbers, got {bad}")
    try:
        custom_tags(value)
    except WireValueError as exc:
        raise ValueError(f"{attribute.name}: {exc}") from None


def _at_least_one(_: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name}: expected at least 1, got {value!r}")


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
    - ``store``: ``file`` (default; sequence numbers survive a restart, in ``store_path``;
      message bodies only to resend orders) or ``memory`` (tests).
    - ``store_path``: the file store's directory (default ``~/.stockfish-rt/fix/store``),
      created 0700 with files 0600; it never holds the Logon's credentials.
    - ``log_path``: directory for the session logs (empty: no session log); files 0600,
      credentials (553/554/925...) masked.
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
    - ``md_book_model``: how the venue keys its market-data books: ``auto`` (default:
      detected from what arrives), ``top_of_book``, ``price_level``, ``entry_id``,
      ``position`` or ``snapshot_only``; ``md_book_models`` overrides it per symbol (the
      models, their detection and the resync: the FIX README, "Market-data books").
    - ``negative_price_symbols``: instruments whose prices may be zero or negative
      (spreads); ``"*"`` for every one. Elsewhere such a price is an inconsistency.
    - ``allow_crossed_books``: publish a crossed book (bid at or above the offer, as in an
      auction) instead of resynchronising it.
    - ``md_resync_initial_delay`` / ``md_resync_max_delay``: a book found inconsistent is
      marked stale (nothing published, listed by ``stale_symbols()`` and health) and its
      snapshot re-requested at once, then after these delays (doubling, with jitter) until
      one is accepted.
    - ``tick_sizes``: price increment per symbol (``"*"``: the default), as text
      (``"0.01"``): prices are sent as whole ticks and any other price is refused.
    - ``order_tags``: custom fields on every order and replace (FIX tag number -> value);
      an order's own ``tags`` with tag-number keys are sent too.
    - ``max_logon_refusals``: Logons the venue may refuse in a row (bad credentials,
      locked account) before reconnecting stops with ERROR and the venue's text;
      ``logon_refusal_delay``: seconds at least between a refused Logon and the next (a
      venue in maintenance gets time, an account is not locked out by fast retries).
    - ``on_seq_mismatch``: a venue that refuses our MsgSeqNum (or sends one lower than
      ours) fails the connect with both numbers and the remedy, and stops reconnecting
      (``fail``, default), or logs on again at once resetting both sides to 1 (``reset``:
      ResetSeqNumFlag; the FIX README, "Session policies").
    - ``mass_status_on_logon``: after each Logon, ask the venue for every order of the
      session with an OrderMassStatusRequest (AF; FIX 4.4 and 5.0 SP2, off by default:
      venues differ) before reconciling; orders it reports that this process never sent
      are adopted as external orders (``FIX-<OrderID>``) and can be cancelled.
    - ``session_settings``: extra raw QuickFIX session settings for venue quirks.
    - ``session_config``: a complete QuickFIX configuration to use as is (its first
      session); empty (default) builds one from the settings above.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(default=9876, validator=_port)
    version: str = attrs.field(default="FIX44", converter=_version, validator=_check_version)
    sender_comp_id: str = attrs.field(default="CLIENT", validator=_comp_id)
    target_comp_id: str = attrs.field(default="VENUE", validator=_comp_id)
    sender_sub_id: str | None = attrs.field(default=None, validator=_optional_comp_id)
    target_sub_id: str | None = attrs.field(default=None, validator=_optional_comp_id)
    username: Secret | None = attrs.field(default=None, converter=_to_secret,
                                          validator=_wire_secret)
    password: Secret | None = attrs.field(default=None, converter=_to_secret,
                                          validator=_wire_secret)
    heartbeat_interval: float = attrs.field(default=30.0, validator=positive)
    reset_on_logon: bool | None = None
    store: str = attrs.field(default="file", validator=_check_store)
    store_path: str = ""
    log_path: str = ""
    data_dictionary: str = ""
    account: str | None = attrs.field(default=None, validator=_wire_identifier)
    reconnect_interval: int = attrs.field(default=1, validator=_reconnect_interval)
    connect_timeout: float = attrs.field(default=5.0, validator=positive)
    request_timeout: float = attrs.field(default=5.0, validator=positive)
    logout_timeout: float = attrs.field(default=2.0, validator=non_negative)
    market_depth: int = attrs.field(default=0, validator=non_negative)
    resend_orders: bool = False
    md_book_model: str = attrs.field(default="auto", validator=_one_of(MD_BOOK_MODELS))
    md_book_models: dict[str, str] = attrs.field(factory=dict, validator=_book_models)
    negative_price_symbols: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    allow_crossed_books: bool = False
    md_resync_initial_delay: float = attrs.field(default=0.2, validator=positive)
    md_resync_max_delay: float = attrs.field(default=10.0, validator=positive)
    tick_sizes: dict[str, str] = attrs.field(factory=dict, validator=_tick_sizes)
    order_tags: dict[str, str] = attrs.field(factory=dict, validator=_order_tags)
    max_logon_refusals: int = attrs.field(default=3, validator=_at_least_one)
    logon_refusal_delay: float = attrs.field(default=5.0, validator=non_negative)
    on_seq_mismatch: str = attrs.field(default="fail", validator=_one_of(SEQ_MISMATCH_POLICIES))
    mass_status_on_logon: bool = False
    session_settings: dict[str, str] = attrs.field(factory=dict, validator=_raw_settings)
    session_config: str = ""

    ENV_OVERRIDES: ClassVar[dict[str, str]] = {
        "FIX_HOST": "host", "FIX_PORT": "port", "FIX_SENDER_ID": "sender_comp_id",
        "FIX_TARGET_ID": "target_comp_id"}

    def __attrs_post_init__(self) -> None:
        if self.mass_status_on_logon and self.version == "FIX42":
            raise ValueError("mass_status_on_logon: FIX 4.2 has no OrderMassStatusRequest "
                             "(AF); use FIX44 or FIX50SP2, or leave it off")
        if self.resend_orders and self.store == "file" and (self.username or self.password):
            raise ValueError(
                "resend_orders keeps every message sent in the file store, the Logon with "
                "its credentials included: use store: memory with resend_orders, or leave "
                "resend_orders off (stale orders are then gap-filled, never replayed)")

    def book_model(self, symbol: str) -> str:
        """The book model configured for ``symbol`` (``auto`` unless set)."""
        return self.md_book_models.get(symbol, self.md_book_model)

    def allows_negative_prices(self, symbol: str) -> bool:
        names = self.negative_price_symbols
        return symbol in names or "*" in names

    @property
    def begin_string(self) -> str:
        return BEGIN_STRINGS[self.version]

    @property
    def resets_on_logon(self) -> bool:
        """Whether the Logon carries ResetSeqNumFlag=Y."""
        if self.reset_on_logon is not None:
            return bool(self.reset_on_logon)
        return self.store == "memory"
