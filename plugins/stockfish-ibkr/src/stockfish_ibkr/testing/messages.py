"""Outgoing order, execution and contract messages, field for field as the decoders of
ib_insync and ib_async read them at server version 176."""

from __future__ import annotations

import time
from typing import Any

from stockfish_ibkr.testing import protocol as p
from stockfish_ibkr.testing.book import FakeOrder, Instrument

__all__ = ["commission_fields", "completed_order_fields", "contract_details_fields",
           "exec_fields", "open_order_fields", "order_status_fields"]


def contract_11(i: Instrument) -> list[Any]:
    """conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange, currency,
    localSymbol, tradingClass."""
    return [i.con_id, i.symbol, i.sec_type, i.expiry, "0", "", i.multiplier, i.exchange,
            i.currency, i.local_symbol, i.trading_class]


def contract_details_fields(req_id: int, i: Instrument) -> list[Any]:
    valid = "SMART,ARCA,NASDAQ,NYSE,BATS,IEX" if i.sec_type == "STK" and i.currency == "USD" \
        else i.exchange
    return [
        p.CONTRACT_DATA, req_id, i.symbol, i.sec_type, i.expiry, "0", "", i.exchange, i.currency,
        i.local_symbol, i.trading_class, i.trading_class, i.con_id, p.num(i.min_tick),
        i.multiplier, "ACTVTIME,LMT,MKT,STP,STPLMT,GTC,IOC,FOK,DAY", valid, 1, 0, i.long_name,
        i.primary_exchange, i.expiry[:6], "", "", "", "US/Eastern", "", "", "", "", 0, 1, "",
        "", "26", "", "COMMON" if i.sec_type == "STK" else "", "0.0001", "0.0001", "100"]


def order_status_fields(o: FakeOrder) -> list[Any]:
    return [p.ORDER_STATUS, o.reported_id, o.status, p.num(o.filled), p.num(o.remaining),
            p.num(o.avg_price), o.perm_id, 0, p.num(o.last_fill_price), o.client_id, "", 0]


def open_order_fields(o: FakeOrder) -> list[Any]:
    """openOrder (5)."""
    e = ""
    return [
        p.OPEN_ORDER, o.reported_id, *contract_11(o.instrument),
        o.action, p.num(o.quantity), o.order_type, p.num(o.limit_price),
        p.num(o.aux_price), o.tif, e, o.account, "O", 0, o.order_ref, o.client_id,
        o.perm_id, 0, 0, 0, e, e,
        e, e, e, e, e, e, e, e, e, 0, e, -1, 0, e, e, e, e, e, e, 0, 0, 0, e, 0, 0, 0, e, 0,
        0, e, 0, e, e,
        0, 0, e, e, e, e, e,
        0, 0, 0,
        e, e, e,
        e,
        0, e, e, 0, 0,
        e,
        0, 0, o.status, e, e, e, e, e, e, e, e, e, e, e, e, e, e, 0, 0,
        0,
        e, e, e, e, e, e, e, 0, e, e, e, e, 0, 0, 0, 0,
        e, e, 0,
        e, e, e, e, e,
    ]


def completed_order_fields(o: FakeOrder) -> list[Any]:
    """completedOrder (101)."""
    e = ""
    return [
        p.COMPLETED_ORDER, *contract_11(o.instrument),
        o.action, p.num(o.quantity), o.order_type, p.num(o.limit_price), p.num(o.aux_price),
        o.tif, e, o.account, "O", 0, o.order_ref, o.perm_id, 0, 0, 0, e,
        e, e, e, e, e, e, e, e, e, 0, e, -1, e, e, e, e, e, e, 0, 0, e, 0, 0, e, 0, e, e,
        0, 0, e, e, e,
        0, 0, 0,
        e, e, e,
        e,
        e, e, 0, 0,
        e,
        0, o.status, 0, 0,
        0,
        e, e, e, 0, 0, e, p.num(o.filled), 0, 0, e, 0, 0, e, o.completed_time, o.status,
        e, e, e, e, e,
    ]


def exec_fields(req_id: int, r: dict[str, Any], i: Instrument) -> list[Any]:
    """execDetails (11): exactly the 31 fields ib_insync unpacks."""
    when = time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime(r["ts"]))
    return [p.EXECUTION_DATA, req_id, r["order_id"], i.con_id, i.symbol, i.sec_type, i.expiry,
            "0", "", i.multiplier, i.exchange, i.currency, i.local_symbol, i.trading_class,
            r["exec_id"], when, r["account"], i.primary_exchange or i.exchange, r["side"],
            p.num(r["shares"]), p.num(r["price"]), r["perm_id"], r["client_id"], 0,
            p.num(r["cum_qty"]), p.num(r["avg_price"]), r["order_ref"], "", "", "", 1]


def commission_fields(r: dict[str, Any]) -> list[Any]:
    return [p.COMMISSION_REPORT, 1, r["exec_id"], p.num(r["commission"]), "USD",
            p.UNSET_DOUBLE_TEXT, "", ""]
