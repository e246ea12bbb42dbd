"""Encode and decode FIX application messages with integer-tag field access.

QuickFIX's typed field classes cost about 25x more per field in Python than
``getField(tag)``, so everything here reads and writes by tag number. Decoders raise
:class:`DecodeError` with a short ``kind`` (used as the data-error counter name); they never
let a QuickFIX exception escape. The same module serves the connector and the simulated
venue, for FIX 4.2, 4.4 and 5.0 SP2.
"""

from __future__ import annotations

import importlib
import math
import time
from decimal import Decimal
from typing import Any

import quickfix as fix
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce

from stockfish_fix.wire import custom_tags, decimal_text, wire_text

__all__ = [
    "DecodeError",
    "ExecReport",
    "MDEntry",
    "business_reject_reason",
    "decode_business_reject",
    "decode_cancel_reject",
    "decode_execution_report",
    "decode_md_incremental",
    "decode_md_reject",
    "decode_md_snapshot",
    "decode_session_reject",
    "encode_cancel",
    "encode_mass_status_request",
    "encode_md_request",
    "encode_new_order",
    "encode_replace",
    "encode_status_request",
    "exec_report_status",
    "field_of",
    "new_group",
    "top_fields",
    "transact_time",
]

# Tags (FIX field numbers).
ACCOUNT, AVG_PX, CL_ORD_ID, CUM_QTY, EXEC_ID, HANDL_INST, LAST_PX, LAST_QTY = 1, 6, 11, 14, \
    17, 21, 31, 32
MSG_TYPE, ORDER_ID, ORDER_QTY, ORD_STATUS, ORD_TYPE, ORIG_CL_ORD_ID, PRICE = 35, 37, 38, 39, \
    40, 41, 44
REF_SEQ_NUM, SIDE, SYMBOL, TEXT, TIME_IN_FORCE, TRANSACT_TIME = 45, 54, 55, 58, 59, 60
EXEC_TRANS_TYPE, STOP_PX, CXL_REJ_REASON, ORD_REJ_REASON = 20, 99, 102, 103
EXEC_TYPE, LEAVES_QTY = 150, 151
MD_REQ_ID, SUBSCRIPTION_REQUEST_TYPE, MARKET_DEPTH, MD_UPDATE_TYPE = 262, 263, 264, 265
NO_MD_ENTRY_TYPES, NO_MD_ENTRIES, MD_ENTRY_TYPE, MD_ENTRY_PX, MD_ENTRY_SIZE = 267, 268, 269, \
    270, 271
MD_UPDATE_ACTION, MD_REQ_REJ_REASON, NO_RELATED_SYM = 279, 281, 146
REF_TAG_ID, REF_MSG_TYPE, SESSION_REJECT_REASON = 371, 372, 373
BUSINESS_REJECT_REF_ID, BUSINESS_REJECT_REASON, CXL_REJ_RESPONSE_TO = 379, 380, 434
LAST_UPDATE_TIME = 779
MASS_STATUS_REQ_ID, MASS_STATUS_REQ_TYPE, TOT_NUM_REPORTS, LAST_RPT_REQUESTED = 584, 585, \
    911, 912
POSS_DUP_FLAG = 43
RPT_SEQ, MD_ENTRY_ID, MD_ENTRY_REF_ID, MD_PRICE_LEVEL = 83, 278, 280, 1023

_SIDES = {OrderSide.BUY: "1", OrderSide.SELL: "2"}
SIDE_FROM_FIX = {"1": OrderSide.BUY, "2": OrderSide.SELL}
_ORD_TYPES = {OrderType.MARKET: "1", OrderType.LIMIT: "2", OrderType.STOP: "3",
              OrderType.STOP_LIMIT: "4"}
ORD_TYPE_FROM_FIX = {v: k for k, v in _ORD_TYPES.items()}
_TIFS = {TimeInForce.DAY: "0", TimeInForce.GTC: "1", TimeInForce.IOC: "3",
         TimeInForce.FOK: "4"}
TIF_FROM_FIX = {v: k for k, v in _TIFS.items()}
_VERSION_MODULES = {"FIX42": "quickfix42", "FIX44": "quickfix44", "FIX50SP2": "quickfix50sp2"}

#: ExecType (150) values that carry an execution (fill): 4.2's Partial fill / Fill, 4.4's Trade.
TRADE_EXEC_TYPES = frozenset({"1", "2", "F"})
#: OrdStatus (39) -> our status when the report carries no fill. ``None``: no change
#: (pending states, or fills which only executions apply).
ORD_STATUS_MAP: dict[str, OrderStatus | None] = {
    "0": OrderStatus.SUBMITTED,  # New
    "1": None,  # Partially filled: executions move the order
    "2": None,  # Filled: executions move the order
    "3": OrderStatus.CANCELLED,  # Done for day
    "4": OrderStatus.CANCELLED,  # Canceled
    "5": OrderStatus.SUBMITTED,  # Replaced (4.2)
    "6": None,  # Pending cancel
    "7": None,  # Stopped
    "8": OrderStatus.REJECTED,  # Rejected
    "9": None,  # Suspended
    "A": None,  # Pending new
    "B": None,  # Calculated
    "C": OrderStatus.CANCELLED,  # Expired
    "D": OrderStatus.SUBMITTED,  # Accepted for bidding
    "E": None,  # Pending replace
}
EXEC_TYPES = frozenset("0123456789ABCDEFGHIJKL")
#: OrderIDs (37) venues write when there is no order (the FIX specification's ``NONE`` for
#: an unknown order): read as absent, never taken for the order's venue id.
PLACEHOLDER_ORDER_IDS = frozenset({"NONE", "N/A", "NA", "UNKNOWN"})
#: OrdRejReason (103) Unknown order: the venue has no record of the order.
UNKNOWN_ORDER = "5"
_REASONS = {"3": "done for day", "C": "expired"}


class DecodeError(Exception):
    """A malformed application message; ``kind`` names the problem for the counters."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


_second_text: list[Any] = [None, ""]  # (the second, its "YYYYMMDD-HH:MM:SS")


def transact_time() -> str:
    """UTC now as a FIX UTCTimestamp with milliseconds (the date and time of day formatted
    once per second: strftime was a sixth of encoding an order)."""
    now = time.time()
    second = int(now)
    cached = _second_text
    if cached[0] != second:
        cached[1] = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second))
        cached[0] = second
    return f"{cached[1]}.{int(now * 1000) % 1000:03d}"


def new_group(version: str, message: str, group: str) -> Any:
    """An empty repeating group of ``message`` in ``version`` (with the dictionary's order)."""
    module = importlib.import_module(_VERSION_MODULES[version])
    return getattr(getattr(module, message), group)()


def _message(msg_type: str) -> Any:
    msg = fix.Message()
    msg.getHeader().setField(MSG_TYPE, msg_type)
    return msg


_BEGIN_STRINGS = {"FIX42": "FIX.4.2", "FIX44": "FIX.4.4", "FIX50SP2": "FIXT.1.1"}


class _Draft:
    """A flat application message (no repeating group) written as text and handed to
    QuickFIX in one call: ``fix.Message(text, False)`` parses it (about 3 us) where a
    ``setField`` per field cost ~0.7 us each, every call letting go of the GIL. Values are
    checked for the wire before they get here (no SOH, no control character), so the text
    parses back to exactly these fields; QuickFIX's session fills the header and computes
    BodyLength and CheckSum when it sends."""

    __slots__ = ("fields", "msg_type")

    def __init__(self, msg_type: str) -> None:
        self.msg_type = msg_type
        self.fields: list[str] = []

    def setField(self, tag: int, value: str) -> None:  # noqa: N802 - QuickFIX's name
        self.fields.append(f"{tag}={value}\x01")

    def build(self, version: str) -> Any:
        body = "".join(self.fields)
        return fix.Message(f"8={_BEGIN_STRINGS[version]}\x019=0\x0135={self.msg_type}\x01"
                           f"{body}10=000\x01", False)


def _text(msg: Any, tag: int, name: str, value: str, *, identifier: bool = True) -> None:
    msg.setField(tag, wire_text(f"{name} ({tag})", value, identifier=identifier))


def _number_field(msg: Any, tag: int, name: str, value: float,
                  tick: Decimal | None = None) -> None:
    msg.setField(tag, decimal_text(f"{name} ({tag})", value, tick=tick))


def _order_fields(msg: Any, order: Order, *, quantity: float, price: float | None,
                  account: str | None, tick: Decimal | None,
                  tags: list[tuple[int, str]]) -> None:
    _text(msg, SYMBOL, "Symbol", order.symbol)
    msg.setField(SIDE, _SIDES[order.side])
    msg.setField(TRANSACT_TIME, transact_time())
    _number_field(msg, ORDER_QTY, "OrderQty", quantity)
    msg.setField(ORD_TYPE, _ORD_TYPES[order.order_type])
    if price is not None:
        _number_field(msg, PRICE, "Price", price, tick)
    if order.stop_price is not None:
        _number_field(msg, STOP_PX, "StopPx", order.stop_price, tick)
    msg.setField(TIME_IN_FORCE, _TIFS[order.time_in_force])
    acct = order.account or account
    if acct:
        _text(msg, ACCOUNT, "Account", acct)
    for tag, value in tags:
        msg.setField(tag, value)


# ----------------------------------------------------------------------------- encoding
def encode_new_order(order: Order, cl_ord_id: str, version: str,
                     account: str | None = None, *, tick: Decimal | None = None,
                     tags: dict[str, str] | None = None) -> Any:
    """NewOrderSingle (D) for MARKET, LIMIT, STOP and STOP_LIMIT with time in force.

    Every field is checked for the wire first (:mod:`stockfish_fix.wire`): a value that
    cannot be sent exactly raises :class:`WireValueError` and nothing is sent. ``tick``: the
    instrument's tick size (prices must be whole ticks); ``tags``: custom fields (FIX tag
    number -> value)."""
    extra = custom_tags(tags)
    msg = _Draft("D")
    _text(msg, CL_ORD_ID, "ClOrdID", cl_ord_id)
    msg.setField(HANDL_INST, "1")
    _order_fields(msg, order, quantity=order.quantity, price=order.price, account=account,
                  tick=tick, tags=extra)
    return msg.build(version)


def encode_cancel(order: Order, cl_ord_id: str, orig_cl_ord_id: str, version: str) -> Any:
    """OrderCancelRequest (F) for the order whose current ClOrdID is ``orig_cl_ord_id``."""
    msg = _Draft("F")
    _text(msg, ORIG_CL_ORD_ID, "OrigClOrdID", orig_cl_ord_id)
    _text(msg, CL_ORD_ID, "ClOrdID", cl_ord_id)
    if order.order_id:
        _text(msg, ORDER_ID, "OrderID", order.order_id)
    _text(msg, SYMBOL, "Symbol", order.symbol)
    msg.setField(SIDE, _SIDES[order.side])
    msg.setField(TRANSACT_TIME, transact_time())
    _number_field(msg, ORDER_QTY, "OrderQty", order.quantity)
    return msg.build(version)


def encode_replace(order: Order, cl_ord_id: str, orig_cl_ord_id: str, version: str, *,
                   quantity: float | None = None, price: float | None = None,
                   account: str | None = None, tick: Decimal | None = None,
                   tags: dict[str, str] | None = None) -> Any:
    """OrderCancelReplaceRequest (G): new quantity and/or price for an open order."""
    extra = custom_tags(tags)
    msg = _Draft("G")
    _text(msg, ORIG_CL_ORD_ID, "OrigClOrdID", orig_cl_ord_id)
    _text(msg, CL_ORD_ID, "ClOrdID", cl_ord_id)
    if order.order_id:
        _text(msg, ORDER_ID, "OrderID", order.order_id)
    msg.setField(HANDL_INST, "1")
    _order_fields(msg, order, quantity=quantity if quantity is not None else order.quantity,
                  price=price if price is not None else order.price, account=account,
                  tick=tick, tags=extra)
    return msg.build(version)


def encode_status_request(order: Order, cl_ord_id: str, version: str) -> Any:
    """OrderStatusRequest (H) for the order whose current ClOrdID is ``cl_ord_id``."""
    msg = _Draft("H")
    _text(msg, CL_ORD_ID, "ClOrdID", cl_ord_id)
    if order.order_id:
        _text(msg, ORDER_ID, "OrderID", order.order_id)
    _text(msg, SYMBOL, "Symbol", order.symbol)
    msg.setField(SIDE, _SIDES[order.side])
    return msg.build(version)


def encode_md_request(req_id: str, symbol: str, version: str, *, subscribe: bool = True,
                      depth: int = 0, snapshot_only: bool = False) -> Any:
    """MarketDataRequest (V) for bids, offers and trades of one symbol: snapshot + updates
    (263=1), a snapshot alone (263=0, ``snapshot_only``: a resync) or unsubscribe (263=2)."""
    msg = _message("V")
    _text(msg, MD_REQ_ID, "MDReqID", req_id)
    kind = "2" if not subscribe else "0" if snapshot_only else "1"
    msg.setField(SUBSCRIPTION_REQUEST_TYPE, kind)
    msg.setField(MARKET_DEPTH, str(depth))
    if kind == "1":
        msg.setField(MD_UPDATE_TYPE, "1")
    types = new_group(version, "MarketDataRequest", "NoMDEntryTypes")
    for entry_type in ("0", "1", "2"):
        types.setField(MD_ENTRY_TYPE, entry_type)
        msg.addGroup(types)
    related = new_group(version, "MarketDataRequest", "NoRelatedSym")
    related.setField(SYMBOL, wire_text("Symbol (55)", symbol))
    msg.addGroup(related)
    return msg


# ----------------------------------------------------------------------------- decoding
def _get(fields: Any, tag: int) -> str | None:
    return fields.getField(tag) if fields.isSetField(tag) else None


def _need(fields: Any, tag: int, what: str) -> str:
    if not fields.isSetField(tag):
        raise DecodeError("missing_field", f"{what} ({tag})")
    value = fields.getField(tag)
    if not value:
        raise DecodeError("missing_field", f"{what} ({tag}) is empty")
    return value  # type: ignore[no-any-return]


def _number(text: str | None, tag: int, *, positive: bool = False,
            allow_none: bool = True) -> float | None:
    if text is None:
        if allow_none:
            return None
        raise DecodeError("missing_field", str(tag))
    try:
        value = float(text)
    except ValueError:
        raise DecodeError("bad_number", f"{tag}={text[:20]!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise DecodeError("bad_number", f"{tag}={text[:20]!r}")
    return value


class ExecReport:
    """A decoded ExecutionReport (8)."""

    __slots__ = (
        "avg_px",
        "cl_ord_id",
        "cum_qty",
        "exec_id",
        "exec_type",
        "last_px",
        "last_qty",
        "last_rpt_requested",
        "leaves_qty",
        "mass_status_req_id",
        "ord_rej_reason",
        "ord_status",
        "ord_type",
        "order_id",
        "order_qty",
        "orig_cl_ord_id",
        "poss_dup",
        "price",
        "side",
        "symbol",
        "text",
    )

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, values.get(name))

    @classmethod
    def _from_fields(cls, *, cl_ord_id: str, exec_id: str, exec_type: str, ord_status: str,
                     last_qty: float | None, last_px: float | None, order_id: str | None,
                     get: Any) -> ExecReport:
        """The decoder's constructor: the fields it checked, then the rest by tag
        (``get``: the message's fields by tag as text), without a dict of keywords."""
        report = object.__new__(cls)
        report.cl_ord_id = cl_ord_id
        report.exec_id = exec_id
        report.exec_type = exec_type
        report.ord_status = ord_status
        report.last_qty = last_qty
        report.last_px = last_px
        report.order_id = order_id
        report.orig_cl_ord_id = get("41")
        report.ord_rej_reason = get("103")
        report.cum_qty = _number(get("14"), CUM_QTY)
        report.avg_px = _number(get("6"), AVG_PX)
        report.leaves_qty = _number(get("151"), LEAVES_QTY)
        report.order_qty = _number(get("38"), ORDER_QTY)
        report.price = _number(get("44"), PRICE)
        report.symbol = get("55")
        report.text = get("58")
        report.side = get("54")
        report.ord_type = get("40")
        report.mass_status_req_id = get("584")
        report.last_rpt_requested = get("912") == "Y"
        report.poss_dup = get("43") == "Y"  # a header field: the text has it
        return report

    @property
    def is_unknown_order(self) -> bool:
        """The venue may have no record of the order: OrdStatus Rejected with OrdRejReason 5
        (Unknown order), or with no OrdRejReason at all (which cannot tell an unknown order
        from a rejected one). Another OrdRejReason is a rejection; Text is never read."""
        return self.ord_status == "8" and self.ord_rej_reason in (None, UNKNOWN_ORDER)

    @property
    def is_trade(self) -> bool:
        return self.exec_type in TRADE_EXEC_TYPES and bool(self.last_qty)

    def __repr__(self) -> str:
        return (f"ExecReport({self.cl_ord_id} exec={self.exec_id} 150={self.exec_type} "
                f"39={self.ord_status} last={self.last_qty}@{self.last_px} cum={self.cum_qty})")


class Received:
    """A message QuickFIX handed to ``fromApp`` with its text, read once: the session reads
    the MsgType from the text and the decoders parse the same text, so that a message costs
    one call into QuickFIX (each call lets go of the GIL, and on QuickFIX's thread every
    hand-back competes with the threads sending orders). Anything else is the message's."""

    __slots__ = ("msg", "text")

    def __init__(self, msg: Any, text: str) -> None:
        self.msg = msg
        self.text = text

    def toString(self) -> str:  # noqa: N802 - QuickFIX's name
        return self.text

    def __getattr__(self, name: str) -> Any:
        return getattr(self.msg, name)


def message_text(msg: Any) -> str:
    """The message as QuickFIX writes it (``tag=value`` fields, each ended by SOH)."""
    if type(msg) is Received:
        return msg.text
    try:
        return msg.toString()  # type: ignore[no-any-return]
    except UnicodeDecodeError:
        raise DecodeError("bad_encoding", "not UTF-8") from None


def msg_type_of(text: str) -> str | None:
    """MsgType (35) from a message's text (QuickFIX writes 8, 9, 35 first); None without."""
    start = text.find("\x0135=")
    if start < 0:
        return None
    start += 4
    return text[start:text.find("\x01", start)]


def field_of(text: str, tag: str) -> str | None:
    """The first value of ``tag`` (as text, not the first field) in a message's text."""
    key = f"\x01{tag}="
    start = text.find(key)
    if start < 0:
        return None
    start += len(key)
    return text[start:text.find("\x01", start)]


def top_fields(text: str) -> dict[str, str]:
    """Every field of ``text`` by tag (as text), the first occurrence winning.

    QuickFIX writes body fields in tag order with each group's members right after its
    count, so the first occurrence of a tag is the top-level one for every tag an
    ExecutionReport is read for. A loop over ``str.partition`` is the cheapest way found to
    read a message in Python (3.4 us for an execution report of 25 fields, against 9 for a
    regex with int tags)."""
    fields: dict[str, str] = {}
    for part in text.split("\x01"):
        tag, _, value = part.partition("=")
        if tag not in fields:
            fields[tag] = value
    return fields


class FlatFields:
    """A message's fields read from one ``toString()``, with QuickFIX's getters by tag
    number (the first occurrence of a tag wins: see :func:`top_fields`)."""

    __slots__ = ("fields", "text")

    def __init__(self, msg: Any) -> None:
        self.text = message_text(msg)
        self.fields = top_fields(self.text)

    def isSetField(self, tag: int) -> bool:  # noqa: N802 - QuickFIX's name
        return str(tag) in self.fields

    def getField(self, tag: int) -> str:  # noqa: N802
        return self.fields[str(tag)]

    def get(self, tag: int) -> str | None:
        return self.fields.get(str(tag))


def _field(fields: dict[str, str], tag: str, what: str) -> str:
    value = fields.get(tag)
    if not value:
        raise DecodeError("missing_field", f"{what} ({tag})" if value is None
                          else f"{what} ({tag}) is empty")
    return value


_TRANS_TYPE_EXEC = {"3": "I", "1": "H", "2": "G"}


def decode_execution_report(msg: Any) -> ExecReport:
    """Decode an ExecutionReport; raises :class:`DecodeError` on anything malformed."""
    fields = top_fields(message_text(msg))
    get = fields.get
    cl_ord_id = _field(fields, "11", "ClOrdID")
    exec_id = _field(fields, "17", "ExecID")
    exec_type = _field(fields, "150", "ExecType")
    ord_status = _field(fields, "39", "OrdStatus")
    trans_type = get("20")
    if trans_type is not None and trans_type != "0":
        # FIX 4.2: ExecTransType 3 (Status) answers an OrderStatusRequest; 1/2 cancel or
        # correct an earlier execution (never applied as a new fill).
        exec_type = _TRANS_TYPE_EXEC.get(trans_type, "")
        if not exec_type:
            raise DecodeError("bad_enum", f"ExecTransType={trans_type[:8]!r}")
    if exec_type not in EXEC_TYPES:
        raise DecodeError("bad_enum", f"ExecType={exec_type[:8]!r}")
    if ord_status not in ORD_STATUS_MAP:
        raise DecodeError("bad_enum", f"OrdStatus={ord_status[:8]!r}")
    last_qty = _number(get("32"), LAST_QTY)
    last_px = _number(get("31"), LAST_PX)
    if exec_type in TRADE_EXEC_TYPES and (not last_qty or not last_px):
        raise DecodeError("bad_fill", f"ExecID {exec_id[:40]}: LastQty/LastPx missing or 0")
    order_id = get("37")
    if order_id is not None and order_id.upper() in PLACEHOLDER_ORDER_IDS:
        order_id = None  # "no order id": never bound to an order
    return ExecReport._from_fields(cl_ord_id=cl_ord_id, exec_id=exec_id, exec_type=exec_type,
                                   ord_status=ord_status, last_qty=last_qty,
                                   last_px=last_px, order_id=order_id, get=get)


def exec_report_status(report: ExecReport) -> tuple[OrderStatus | None, str | None]:
    """The order status a non-fill report asks for, with a reason for endings."""
    status = ORD_STATUS_MAP.get(report.ord_status)
    if report.exec_type == "8":
        status = OrderStatus.REJECTED
    elif report.exec_type == "4":
        status = OrderStatus.CANCELLED
    reason = report.text or _REASONS.get(report.ord_status)
    if status is OrderStatus.REJECTED and not reason:
        reason = "rejected by the venue"
    return status, reason


class MDEntry:
    """One market-data entry.

    ``action``: MDUpdateAction (0 new, 1 change, 2 delete, 3 delete thru, 4 delete from,
    5 overlay; snapshot entries are 0); ``type``: MDEntryType (0 bid, 1 offer, 2 trade,
    J empty book, others kept as given); ``price`` / ``size`` (None when absent, as on a
    delete); ``symbol`` if the entry names one; ``entry_id`` (MDEntryID 278), ``ref_id``
    (MDEntryRefID 280, the entry a change renames), ``level`` (MDPriceLevel 1023) and
    ``rpt_seq`` (RptSeq 83) when present.
    """

    __slots__ = ("action", "entry_id", "level", "price", "ref_id", "rpt_seq", "size",
                 "symbol", "type")

    def __init__(self, action: str, entry_type: str, price: float | None,
                 size: float | None, symbol: str | None, *, entry_id: str | None = None,
                 ref_id: str | None = None, level: int | None = None,
                 rpt_seq: int | None = None) -> None:
        self.action = action
        self.type = entry_type
        self.price = price
        self.size = size
        self.symbol = symbol
        self.entry_id = entry_id
        self.ref_id = ref_id
        self.level = level
        self.rpt_seq = rpt_seq

    def __repr__(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in (("id", self.entry_id), ("ref", self.ref_id),
                                                  ("level", self.level),
                                                  ("rpt", self.rpt_seq)) if v is not None)
        return f"MDEntry({self.action} {self.type} {self.size}@{self.price} " \
               f"{self.symbol}{extra})"


def _group_entries(parts: list[str], count_text: str | None,
                   delimiter: str) -> list[dict[str, str]]:
    """The NoMDEntries group's entries, each a dict of its fields by tag (as text), from
    the ``tag=value`` texts after NoMDEntries (268): an entry starts at each ``delimiter``
    tag (QuickFIX writes a group's members right after its count; a top-level field after
    the group has a tag no entry is read for)."""
    if count_text is None:
        raise DecodeError("missing_field", "NoMDEntries (268)")
    try:
        count = int(count_text)
    except ValueError:
        raise DecodeError("bad_group_count", f"268={count_text[:12]!r}") from None
    entries: list[dict[str, str]] = []
    entry: dict[str, str] | None = None
    for part in parts:
        tag, _, value = part.partition("=")
        if tag == delimiter:
            entry = {tag: value}
            entries.append(entry)
        elif entry is not None and tag not in entry:
            entry[tag] = value
    if count < 0 or count != len(entries):
        raise DecodeError("bad_group_count", f"268={count} but {len(entries)} entries")
    return entries


def _after_count(text: str) -> tuple[str | None, list[str], int]:
    """(NoMDEntries' value, the fields after it, where it starts in ``text``)."""
    start = text.find("\x01268=")
    if start < 0:
        return None, [], -1
    parts = text[start + 1:].split("\x01")
    return parts[0][4:], parts[1:], start


def _value(text: str, key: str, end: int) -> str | None:
    """The value of the first ``key`` (SOH, tag, '=') in ``text[:end]``; None without."""
    start = text.find(key, 0, end)
    if start < 0:
        return None
    start += len(key)
    return text[start:text.find("\x01", start)]


_ACTIONS = frozenset("012345")
_BOOK_TYPES = frozenset("012")  # bid, offer, trade: the entries a book needs prices for
_NEEDS_PRICE = frozenset("05")  # new and overlay state the price; a change may name its entry
_NEEDS_SIZE = frozenset("015")


def _signed(text: str | None, tag: int) -> float | None:
    """A finite number of either sign (spreads trade below zero), or None when absent."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise DecodeError("bad_number", f"{tag}={text[:20]!r}") from None
    if not math.isfinite(value):
        raise DecodeError("bad_number", f"{tag}={text[:20]!r}")
    return value


def _count(text: str | None, tag: int, least: int) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise DecodeError("bad_number", f"{tag}={text[:20]!r}") from None
    if value < least:
        raise DecodeError("bad_number", f"{tag}={text[:20]!r}")
    return value


def _entries(groups: list[dict[str, str]], incremental: bool) -> list[MDEntry]:
    out: list[MDEntry] = []
    for group in groups:
        get = group.get
        action = get("279", "") if incremental else "0"
        if action not in _ACTIONS:
            raise DecodeError("bad_enum", f"MDUpdateAction={action[:8]!r}")
        entry_type = get("269")
        if entry_type is None:
            raise DecodeError("missing_field", "MDEntryType (269)")
        price = _signed(get("270"), MD_ENTRY_PX)
        size = _signed(get("271"), MD_ENTRY_SIZE)
        entry_id = get("278")
        if entry_type in _BOOK_TYPES:
            if price is None and (action in _NEEDS_PRICE or entry_type == "2"
                                  or (action == "1" and entry_id is None)):
                raise DecodeError("missing_field", f"MDEntryPx (270) for {entry_type}/{action}")
            if size is None and action in _NEEDS_SIZE:
                raise DecodeError("missing_field", f"MDEntrySize (271) for {entry_type}/{action}")
            if size is not None and size < 0:
                raise DecodeError("bad_number", f"271={size!r}")
        level = get("1023")
        rpt_seq = get("83")
        out.append(MDEntry(action, entry_type, price, size, get("55"), entry_id=entry_id,
                           ref_id=get("280"),
                           level=None if level is None
                           else _count(level, MD_PRICE_LEVEL, 1),
                           rpt_seq=None if rpt_seq is None else _count(rpt_seq, RPT_SEQ, 0)))
    return out


def decode_md_snapshot(msg: Any) -> tuple[str, str | None, list[MDEntry], int | None]:
    """MarketDataSnapshotFullRefresh (W) -> (symbol, MDReqID, entries, MarketDepth)."""
    text = message_text(msg)
    count, parts, start = _after_count(text)
    top = top_fields(text if start < 0 else text[:start])
    symbol = _field(top, "55", "Symbol")
    depth = _count(top.get("264"), MARKET_DEPTH, 0)
    return symbol, top.get("262"), _entries(_group_entries(parts, count, "269"),
                                            incremental=False), depth


def decode_md_incremental(msg: Any) -> tuple[str | None, list[MDEntry]]:
    """MarketDataIncrementalRefresh (X) -> (MDReqID, entries). Only the fields an X is
    read for are looked at: MDReqID before the group, then the group's entries."""
    text = message_text(msg)
    count, parts, start = _after_count(text)
    req_id = _value(text, "\x01262=", start) if start >= 0 else None
    return req_id, _entries(_group_entries(parts, count, "279"), incremental=True)


def md_symbols(msg: Any) -> tuple[str | None, set[str]]:
    """(MDReqID, every Symbol) of a market-data message that failed to decode, to know
    which books it may have concerned. Never raises."""
    try:
        text = message_text(msg)
    except DecodeError:
        return None, set()
    symbols = set()
    req_id = None
    for part in text.split("\x01"):
        tag, _, value = part.partition("=")
        if tag == "55":
            symbols.add(value)
        elif tag == "262" and req_id is None:
            req_id = value
    return req_id, symbols


def decode_md_reject(msg: Any) -> tuple[str, str]:
    """MarketDataRequestReject (Y) -> (MDReqID, reason text)."""
    req_id = _need(msg, MD_REQ_ID, "MDReqID")
    reason = _get(msg, MD_REQ_REJ_REASON)
    text = _get(msg, TEXT)
    label = {"0": "unknown symbol", "1": "duplicate MDReqID", "4": "unsupported market depth",
             "5": "unsupported subscription type"}.get(reason or "", f"reason {reason}")
    return req_id, text or label


def decode_cancel_reject(msg: Any) -> tuple[str, str | None, str, str]:
    """OrderCancelReject (9) -> (ClOrdID, OrigClOrdID, OrdStatus, reason text)."""
    cl_ord_id = _need(msg, CL_ORD_ID, "ClOrdID")
    ord_status = _get(msg, ORD_STATUS) or ""
    if ord_status and ord_status not in ORD_STATUS_MAP:
        raise DecodeError("bad_enum", f"OrdStatus={ord_status[:8]!r}")
    reason = _get(msg, TEXT) or {"0": "too late to cancel", "1": "unknown order",
                                 "3": "already pending cancel or replace"}.get(
        _get(msg, CXL_REJ_REASON) or "", "cancel rejected")
    return cl_ord_id, _get(msg, ORIG_CL_ORD_ID), ord_status, reason


def decode_business_reject(msg: Any) -> tuple[str, str | None, str | None, str]:
    """BusinessMessageReject (j) -> (RefMsgType, RefSeqNum, BusinessRejectRefID, text)."""
    ref_type = _need(msg, REF_MSG_TYPE, "RefMsgType")
    text = _get(msg, TEXT) or f"business reject reason {_get(msg, BUSINESS_REJECT_REASON)}"
    return ref_type, _get(msg, REF_SEQ_NUM), _get(msg, BUSINESS_REJECT_REF_ID), text


def business_reject_reason(msg: Any) -> str | None:
    """BusinessRejectReason (380) of a BusinessMessageReject (``1``: unknown id)."""
    return _get(msg, BUSINESS_REJECT_REASON)


def encode_mass_status_request(req_id: str, version: str) -> Any:
    """OrderMassStatusRequest (AF) for every order of the session (MassStatusReqType 7);
    not in FIX 4.2."""
    msg = _message("AF")
    _text(msg, MASS_STATUS_REQ_ID, "MassStatusReqID", req_id)
    msg.setField(MASS_STATUS_REQ_TYPE, "7")
    return msg


def decode_session_reject(msg: Any) -> tuple[int | None, str]:
    """Reject (3) -> (RefSeqNum, reason text)."""
    ref = _get(msg, REF_SEQ_NUM)
    try:
        seq = int(ref) if ref is not None else None
    except ValueError:
        seq = None
    text = _get(msg, TEXT) or f"session reject reason {_get(msg, SESSION_REJECT_REASON)}"
    tag = _get(msg, REF_TAG_ID)
    return seq, f"{text} (tag {tag})" if tag else text
