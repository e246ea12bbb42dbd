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
import re
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
    "new_group",
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


def transact_time() -> str:
    """UTC now as a FIX UTCTimestamp with milliseconds."""
    now = time.time()
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"


def new_group(version: str, message: str, group: str) -> Any:
    """An empty repeating group of ``message`` in ``version`` (with the dictionary's order)."""
    module = importlib.import_module(_VERSION_MODULES[version])
    return getattr(getattr(module, message), group)()


def _message(msg_type: str) -> Any:
    msg = fix.Message()
    msg.getHeader().setField(MSG_TYPE, msg_type)
    return msg


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
    msg = _message("D")
    _text(msg, CL_ORD_ID, "ClOrdID", cl_ord_id)
    msg.setField(HANDL_INST, "1")
    _order_fields(msg, order, quantity=order.quantity, price=order.price, account=account,
                  tick=tick, tags=extra)
    return msg


def encode_cancel(order: Order, cl_ord_id: str, orig_cl_ord_id: str, version: str) -> Any:
    """OrderCancelRequest (F) for the order whose current ClOrdID is ``orig_cl_ord_id``."""
    msg = _message("F")
    _text(msg, ORIG_CL_ORD_ID, "OrigClOrdID", orig_cl_ord_id)
    _text(msg, CL_ORD_ID, "ClOrdID", cl_ord_id)
    if order.order_id:
        _text(msg, ORDER_ID, "OrderID", order.order_id)
    _text(msg, SYMBOL, "Symbol", order.symbol)
    msg.setField(SIDE, _SIDES[order.side])
    msg.setField(TRANSACT_TIME, transact_time())
    _number_field(msg, ORDER_QTY, "OrderQty", order.quantity)
    return msg


def encode_replace(order: Order, cl_ord_id: str, orig_cl_ord_id: str, version: str, *,
                   quantity: float | None = None, price: float | None = None,
                   account: str | None = None, tick: Decimal | None = None,
                   tags: dict[str, str] | None = None) -> Any:
    """OrderCancelReplaceRequest (G): new quantity and/or price for an open order."""
    extra = custom_tags(tags)
    msg = _message("G")
    _text(msg, ORIG_CL_ORD_ID, "OrigClOrdID", orig_cl_ord_id)
    _text(msg, CL_ORD_ID, "ClOrdID", cl_ord_id)
    if order.order_id:
        _text(msg, ORDER_ID, "OrderID", order.order_id)
    msg.setField(HANDL_INST, "1")
    _order_fields(msg, order, quantity=quantity if quantity is not None else order.quantity,
                  price=price if price is not None else order.price, account=account,
                  tick=tick, tags=extra)
    return msg


def encode_status_request(order: Order, cl_ord_id: str, version: str) -> Any:
    """OrderStatusRequest (H) for the order whose current ClOrdID is ``cl_ord_id``."""
    msg = _message("H")
    _text(msg, CL_ORD_ID, "ClOrdID", cl_ord_id)
    if order.order_id:
        _text(msg, ORDER_ID, "OrderID", order.order_id)
    _text(msg, SYMBOL, "Symbol", order.symbol)
    msg.setField(SIDE, _SIDES[order.side])
    return msg


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


# One ``tag=value`` field: the tag all digits and at the start of the message or right
# after a SOH; the value up to the next SOH (the last field is ended by one too).
_FIELD = re.compile(r"(?:^|(?<=\x01))([0-9]+)=([^\x01]*)(?:\x01|$)")


class FlatFields:
    """A message's top-level fields read from one ``toString()``: one call into QuickFIX
    instead of two per field. Each call into QuickFIX lets go of the GIL, and on QuickFIX's
    thread every hand-back competes with the threads sending orders; an ExecutionReport
    read field by field cost about 30 of them.

    QuickFIX writes body fields in tag order with each group's members right after its
    count, so the first occurrence of a tag read here is the top-level one for every tag
    an ExecutionReport is read for.
    """

    __slots__ = ("fields", "pairs")

    def __init__(self, msg: Any) -> None:
        try:
            text = msg.toString()
        except UnicodeDecodeError:
            raise DecodeError("bad_encoding", "not UTF-8") from None
        found = _FIELD.findall(text)
        # zip/map/dict rather than a loop per field: this runs for every execution report
        # and market-data message, and the loop was most of the decoding time.
        pairs: list[tuple[int, str]] = []
        if found:
            tags, values = zip(*found, strict=True)
            pairs = list(zip(map(int, tags), values, strict=True))
        self.pairs = pairs  # every field in wire order
        self.fields: dict[int, str] = dict(reversed(pairs))  # first occurrence wins

    def isSetField(self, tag: int) -> bool:  # noqa: N802 - QuickFIX's name
        return tag in self.fields

    def getField(self, tag: int) -> str:  # noqa: N802
        return self.fields[tag]


def decode_execution_report(msg: Any) -> ExecReport:
    """Decode an ExecutionReport; raises :class:`DecodeError` on anything malformed."""
    msg = FlatFields(msg)
    cl_ord_id = _need(msg, CL_ORD_ID, "ClOrdID")
    exec_id = _need(msg, EXEC_ID, "ExecID")
    exec_type = _need(msg, EXEC_TYPE, "ExecType")
    ord_status = _need(msg, ORD_STATUS, "OrdStatus")
    trans_type = _get(msg, EXEC_TRANS_TYPE)
    if trans_type is not None and trans_type != "0":
        # FIX 4.2: ExecTransType 3 (Status) answers an OrderStatusRequest; 1/2 cancel or
        # correct an earlier execution (never applied as a new fill).
        exec_type = {"3": "I", "1": "H", "2": "G"}.get(trans_type, "")
        if not exec_type:
            raise DecodeError("bad_enum", f"ExecTransType={trans_type[:8]!r}")
    if exec_type not in EXEC_TYPES:
        raise DecodeError("bad_enum", f"ExecType={exec_type[:8]!r}")
    if ord_status not in ORD_STATUS_MAP:
        raise DecodeError("bad_enum", f"OrdStatus={ord_status[:8]!r}")
    last_qty = _number(_get(msg, LAST_QTY), LAST_QTY)
    last_px = _number(_get(msg, LAST_PX), LAST_PX)
    if exec_type in TRADE_EXEC_TYPES and (not last_qty or not last_px):
        raise DecodeError("bad_fill", f"ExecID {exec_id[:40]}: LastQty/LastPx missing or 0")
    order_id = _get(msg, ORDER_ID)
    if order_id is not None and order_id.upper() in PLACEHOLDER_ORDER_IDS:
        order_id = None  # "no order id": never bound to an order
    return ExecReport(
        cl_ord_id=cl_ord_id, orig_cl_ord_id=_get(msg, ORIG_CL_ORD_ID),
        order_id=order_id, exec_id=exec_id, exec_type=exec_type,
        ord_rej_reason=_get(msg, ORD_REJ_REASON),
        ord_status=ord_status, last_qty=last_qty, last_px=last_px,
        cum_qty=_number(_get(msg, CUM_QTY), CUM_QTY),
        avg_px=_number(_get(msg, AVG_PX), AVG_PX),
        leaves_qty=_number(_get(msg, LEAVES_QTY), LEAVES_QTY),
        order_qty=_number(_get(msg, ORDER_QTY), ORDER_QTY),
        price=_number(_get(msg, PRICE), PRICE),
        symbol=_get(msg, SYMBOL), text=_get(msg, TEXT), side=_get(msg, SIDE),
        ord_type=_get(msg, ORD_TYPE), mass_status_req_id=_get(msg, MASS_STATUS_REQ_ID),
        last_rpt_requested=_get(msg, LAST_RPT_REQUESTED) == "Y",
        poss_dup=_get(msg, POSS_DUP_FLAG) == "Y")  # a header field: toString() has it


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


def _group_entries(flat: FlatFields, delimiter: int) -> list[dict[int, str]]:
    """The NoMDEntries group's entries, each a dict of its fields: an entry starts at each
    ``delimiter`` tag after 268 (QuickFIX writes a group's members right after its count;
    a top-level field after the group has a tag no entry is read for)."""
    text = flat.fields.get(NO_MD_ENTRIES)
    if text is None:
        raise DecodeError("missing_field", "NoMDEntries (268)")
    try:
        count = int(text)
    except ValueError:
        raise DecodeError("bad_group_count", f"268={text[:12]!r}") from None
    entries: list[dict[int, str]] = []
    inside = False
    for tag, value in flat.pairs:
        if not inside:
            inside = tag == NO_MD_ENTRIES
        elif tag == delimiter:
            entries.append({tag: value})
        elif entries:
            entries[-1].setdefault(tag, value)
    if count < 0 or count != len(entries):
        raise DecodeError("bad_group_count", f"268={count} but {len(entries)} entries")
    return entries


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


def _entries(flat: FlatFields, incremental: bool) -> list[MDEntry]:
    out: list[MDEntry] = []
    for group in _group_entries(flat, MD_UPDATE_ACTION if incremental else MD_ENTRY_TYPE):
        action = group.get(MD_UPDATE_ACTION, "") if incremental else "0"
        if action not in _ACTIONS:
            raise DecodeError("bad_enum", f"MDUpdateAction={action[:8]!r}")
        entry_type = group.get(MD_ENTRY_TYPE)
        if entry_type is None:
            raise DecodeError("missing_field", "MDEntryType (269)")
        price = _signed(group.get(MD_ENTRY_PX), MD_ENTRY_PX)
        size = _signed(group.get(MD_ENTRY_SIZE), MD_ENTRY_SIZE)
        entry_id = group.get(MD_ENTRY_ID)
        if entry_type in _BOOK_TYPES:
            if price is None and (action in _NEEDS_PRICE or entry_type == "2"
                                  or (action == "1" and entry_id is None)):
                raise DecodeError("missing_field", f"MDEntryPx (270) for {entry_type}/{action}")
            if size is None and action in _NEEDS_SIZE:
                raise DecodeError("missing_field", f"MDEntrySize (271) for {entry_type}/{action}")
            if size is not None and size < 0:
                raise DecodeError("bad_number", f"271={size!r}")
        out.append(MDEntry(action, entry_type, price, size, group.get(SYMBOL),
                           entry_id=entry_id, ref_id=group.get(MD_ENTRY_REF_ID),
                           level=_count(group.get(MD_PRICE_LEVEL), MD_PRICE_LEVEL, 1),
                           rpt_seq=_count(group.get(RPT_SEQ), RPT_SEQ, 0)))
    return out


def decode_md_snapshot(msg: Any) -> tuple[str, str | None, list[MDEntry], int | None]:
    """MarketDataSnapshotFullRefresh (W) -> (symbol, MDReqID, entries, MarketDepth)."""
    flat = FlatFields(msg)
    symbol = _need(flat, SYMBOL, "Symbol")
    depth = _count(flat.fields.get(MARKET_DEPTH), MARKET_DEPTH, 0)
    return symbol, _get(flat, MD_REQ_ID), _entries(flat, incremental=False), depth


def decode_md_incremental(msg: Any) -> tuple[str | None, list[MDEntry]]:
    """MarketDataIncrementalRefresh (X) -> (MDReqID, entries)."""
    flat = FlatFields(msg)
    return _get(flat, MD_REQ_ID), _entries(flat, incremental=True)


def md_symbols(msg: Any) -> tuple[str | None, set[str]]:
    """(MDReqID, every Symbol) of a market-data message that failed to decode, to know
    which books it may have concerned. Never raises."""
    try:
        flat = FlatFields(msg)
    except DecodeError:
        return None, set()
    return flat.fields.get(MD_REQ_ID), {v for t, v in flat.pairs if t == SYMBOL}


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
