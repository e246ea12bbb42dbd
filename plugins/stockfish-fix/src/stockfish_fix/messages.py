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
from typing import Any

import quickfix as fix
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce

__all__ = [
    "DecodeError",
    "ExecReport",
    "MDEntry",
    "decode_business_reject",
    "decode_cancel_reject",
    "decode_execution_report",
    "decode_md_incremental",
    "decode_md_reject",
    "decode_md_snapshot",
    "decode_session_reject",
    "encode_cancel",
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


def _qty(value: float) -> str:
    return f"{value:.10g}"


def _px(value: float) -> str:
    return f"{value:.10g}"


# ----------------------------------------------------------------------------- encoding
def encode_new_order(order: Order, cl_ord_id: str, version: str,
                     account: str | None = None) -> Any:
    """NewOrderSingle (D) for MARKET, LIMIT, STOP and STOP_LIMIT with time in force."""
    msg = _message("D")
    msg.setField(CL_ORD_ID, cl_ord_id)
    msg.setField(HANDL_INST, "1")
    msg.setField(SYMBOL, order.symbol)
    msg.setField(SIDE, _SIDES[order.side])
    msg.setField(TRANSACT_TIME, transact_time())
    msg.setField(ORDER_QTY, _qty(order.quantity))
    msg.setField(ORD_TYPE, _ORD_TYPES[order.order_type])
    if order.price is not None:
        msg.setField(PRICE, _px(order.price))
    if order.stop_price is not None:
        msg.setField(STOP_PX, _px(order.stop_price))
    msg.setField(TIME_IN_FORCE, _TIFS[order.time_in_force])
    acct = order.account or account
    if acct:
        msg.setField(ACCOUNT, acct)
    return msg


def encode_cancel(order: Order, cl_ord_id: str, orig_cl_ord_id: str, version: str) -> Any:
    """OrderCancelRequest (F) for the order whose current ClOrdID is ``orig_cl_ord_id``."""
    msg = _message("F")
    msg.setField(ORIG_CL_ORD_ID, orig_cl_ord_id)
    msg.setField(CL_ORD_ID, cl_ord_id)
    if order.order_id:
        msg.setField(ORDER_ID, order.order_id)
    msg.setField(SYMBOL, order.symbol)
    msg.setField(SIDE, _SIDES[order.side])
    msg.setField(TRANSACT_TIME, transact_time())
    msg.setField(ORDER_QTY, _qty(order.quantity))
    return msg


def encode_replace(order: Order, cl_ord_id: str, orig_cl_ord_id: str, version: str, *,
                   quantity: float | None = None, price: float | None = None,
                   account: str | None = None) -> Any:
    """OrderCancelReplaceRequest (G): new quantity and/or price for an open order."""
    msg = _message("G")
    msg.setField(ORIG_CL_ORD_ID, orig_cl_ord_id)
    msg.setField(CL_ORD_ID, cl_ord_id)
    if order.order_id:
        msg.setField(ORDER_ID, order.order_id)
    msg.setField(HANDL_INST, "1")
    msg.setField(SYMBOL, order.symbol)
    msg.setField(SIDE, _SIDES[order.side])
    msg.setField(TRANSACT_TIME, transact_time())
    msg.setField(ORDER_QTY, _qty(quantity if quantity is not None else order.quantity))
    msg.setField(ORD_TYPE, _ORD_TYPES[order.order_type])
    new_price = price if price is not None else order.price
    if new_price is not None:
        msg.setField(PRICE, _px(new_price))
    if order.stop_price is not None:
        msg.setField(STOP_PX, _px(order.stop_price))
    msg.setField(TIME_IN_FORCE, _TIFS[order.time_in_force])
    acct = order.account or account
    if acct:
        msg.setField(ACCOUNT, acct)
    return msg


def encode_status_request(order: Order, cl_ord_id: str, version: str) -> Any:
    """OrderStatusRequest (H) for the order whose current ClOrdID is ``cl_ord_id``."""
    msg = _message("H")
    msg.setField(CL_ORD_ID, cl_ord_id)
    if order.order_id:
        msg.setField(ORDER_ID, order.order_id)
    msg.setField(SYMBOL, order.symbol)
    msg.setField(SIDE, _SIDES[order.side])
    return msg


def encode_md_request(req_id: str, symbol: str, version: str, *, subscribe: bool = True,
                      depth: int = 0) -> Any:
    """MarketDataRequest (V): snapshot + updates (263=1) or unsubscribe (263=2) for bids,
    offers and trades of one symbol."""
    msg = _message("V")
    msg.setField(MD_REQ_ID, req_id)
    msg.setField(SUBSCRIPTION_REQUEST_TYPE, "1" if subscribe else "2")
    msg.setField(MARKET_DEPTH, str(depth))
    msg.setField(MD_UPDATE_TYPE, "1")
    types = new_group(version, "MarketDataRequest", "NoMDEntryTypes")
    for entry_type in ("0", "1", "2"):
        types.setField(MD_ENTRY_TYPE, entry_type)
        msg.addGroup(types)
    related = new_group(version, "MarketDataRequest", "NoRelatedSym")
    related.setField(SYMBOL, symbol)
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
        "leaves_qty",
        "ord_status",
        "order_id",
        "order_qty",
        "orig_cl_ord_id",
        "price",
        "symbol",
        "text",
    )

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, values.get(name))

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
    return ExecReport(
        cl_ord_id=cl_ord_id, orig_cl_ord_id=_get(msg, ORIG_CL_ORD_ID),
        order_id=_get(msg, ORDER_ID), exec_id=exec_id, exec_type=exec_type,
        ord_status=ord_status, last_qty=last_qty, last_px=last_px,
        cum_qty=_number(_get(msg, CUM_QTY), CUM_QTY),
        avg_px=_number(_get(msg, AVG_PX), AVG_PX),
        leaves_qty=_number(_get(msg, LEAVES_QTY), LEAVES_QTY),
        order_qty=_number(_get(msg, ORDER_QTY), ORDER_QTY),
        price=_number(_get(msg, PRICE), PRICE),
        symbol=_get(msg, SYMBOL), text=_get(msg, TEXT))


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
    """One market-data entry: action (0 new, 1 change, 2 delete; snapshots use 0), entry
    type (0 bid, 1 offer, 2 trade), price, size and the entry's symbol if it names one."""

    __slots__ = ("action", "price", "size", "symbol", "type")

    def __init__(self, action: str, entry_type: str, price: float, size: float,
                 symbol: str | None) -> None:
        self.action = action
        self.type = entry_type
        self.price = price
        self.size = size
        self.symbol = symbol

    def __repr__(self) -> str:
        return f"MDEntry({self.action} {self.type} {self.size}@{self.price} {self.symbol})"


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


_ACTIONS = frozenset({"0", "1", "2"})


def _entries(flat: FlatFields, incremental: bool) -> list[MDEntry]:
    out: list[MDEntry] = []
    for group in _group_entries(flat, MD_UPDATE_ACTION if incremental else MD_ENTRY_TYPE):
        action = group.get(MD_UPDATE_ACTION) if incremental else "0"
        if action not in _ACTIONS:
            raise DecodeError("bad_enum", f"MDUpdateAction={str(action)[:8]!r}")
        entry_type = group.get(MD_ENTRY_TYPE)
        if entry_type is None:
            raise DecodeError("missing_field", "MDEntryType (269)")
        price = _number(group.get(MD_ENTRY_PX), MD_ENTRY_PX, positive=True,
                        allow_none=False)
        size_text = group.get(MD_ENTRY_SIZE)
        size = 0.0 if size_text is None and action == "2" else _number(
            size_text, MD_ENTRY_SIZE, allow_none=False)
        out.append(MDEntry(action, entry_type, price or 0.0, size or 0.0,
                           group.get(SYMBOL)))
    return out


def decode_md_snapshot(msg: Any) -> tuple[str, str | None, list[MDEntry]]:
    """MarketDataSnapshotFullRefresh (W) -> (symbol, MDReqID, entries)."""
    flat = FlatFields(msg)
    symbol = _need(flat, SYMBOL, "Symbol")
    return symbol, _get(flat, MD_REQ_ID), _entries(flat, incremental=False)


def decode_md_incremental(msg: Any) -> tuple[str | None, list[MDEntry]]:
    """MarketDataIncrementalRefresh (X) -> (MDReqID, entries)."""
    flat = FlatFields(msg)
    return _get(flat, MD_REQ_ID), _entries(flat, incremental=True)


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
