"""The server side of the IB API wire protocol, for the fake TWS.

Framing: after the ``API\\0`` greeting and the version handshake every message is a
4-byte big-endian length followed by NUL-terminated fields. Field layouts below are the
ones ib_insync's and ib_async's decoders expect at server version 176 (both clients
accept 176: ib_insync speaks 157..176, ib_async 157..178).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from typing import Any

SERVER_VERSION = 176
UNSET_DOUBLE_TEXT = "1.7976931348623157E308"

# Incoming (client -> server) message ids.
IN_REQ_MKT_DATA = 1
IN_CANCEL_MKT_DATA = 2
IN_PLACE_ORDER = 3
IN_CANCEL_ORDER = 4
IN_REQ_OPEN_ORDERS = 5
IN_REQ_ACCOUNT_UPDATES = 6
IN_REQ_EXECUTIONS = 7
IN_REQ_IDS = 8
IN_REQ_CONTRACT_DETAILS = 9
IN_REQ_MKT_DEPTH = 10
IN_CANCEL_MKT_DEPTH = 11
IN_REQ_NEWS_BULLETINS = 12
IN_CANCEL_NEWS_BULLETINS = 13
IN_REQ_AUTO_OPEN_ORDERS = 15
IN_REQ_ALL_OPEN_ORDERS = 16
IN_REQ_MANAGED_ACCTS = 17
IN_REQ_HISTORICAL_DATA = 20
IN_CANCEL_HISTORICAL_DATA = 25
IN_REQ_CURRENT_TIME = 49
IN_REQ_REAL_TIME_BARS = 50
IN_CANCEL_REAL_TIME_BARS = 51
IN_REQ_GLOBAL_CANCEL = 58
IN_REQ_MARKET_DATA_TYPE = 59
IN_REQ_POSITIONS = 61
IN_REQ_ACCOUNT_SUMMARY = 62
IN_CANCEL_ACCOUNT_SUMMARY = 63
IN_CANCEL_POSITIONS = 64
IN_START_API = 71
IN_REQ_ACCOUNT_UPDATES_MULTI = 76
IN_CANCEL_ACCOUNT_UPDATES_MULTI = 77
IN_REQ_COMPLETED_ORDERS = 99

# Outgoing (server -> client) message ids.
TICK_PRICE = 1
TICK_SIZE = 2
ORDER_STATUS = 3
ERR_MSG = 4
OPEN_ORDER = 5
ACCT_VALUE = 6
PORTFOLIO_VALUE = 7
ACCT_UPDATE_TIME = 8
NEXT_VALID_ID = 9
CONTRACT_DATA = 10
EXECUTION_DATA = 11
MARKET_DEPTH = 12
MARKET_DEPTH_L2 = 13
NEWS_BULLETINS = 14
MANAGED_ACCTS = 15
HISTORICAL_DATA = 17
CURRENT_TIME = 49
REAL_TIME_BARS = 50
CONTRACT_DATA_END = 52
OPEN_ORDER_END = 53
ACCT_DOWNLOAD_END = 54
EXECUTION_DATA_END = 55
MARKET_DATA_TYPE = 58
COMMISSION_REPORT = 59
POSITION_DATA = 61
POSITION_END = 62
ACCOUNT_SUMMARY = 63
ACCOUNT_SUMMARY_END = 64
ACCOUNT_UPDATE_MULTI = 73
ACCOUNT_UPDATE_MULTI_END = 74
COMPLETED_ORDER = 101
COMPLETED_ORDERS_END = 102

# Tick types (https://interactivebrokers.github.io/tws-api/tick_types.html).
TT_BID_SIZE, TT_BID, TT_ASK, TT_ASK_SIZE, TT_LAST, TT_LAST_SIZE = 0, 1, 2, 3, 4, 5
TT_VOLUME = 8
TT_DELAYED_BID, TT_DELAYED_ASK, TT_DELAYED_LAST = 66, 67, 68
TT_DELAYED_VOLUME = 74


def field_text(value: Any) -> str:
    """One field as the IB API writes it (bools 1/0, None empty, floats plain)."""
    if value is None:
        return ""
    if value is True:
        return "1"
    if value is False:
        return "0"
    if isinstance(value, float):
        if math.isinf(value) and value > 0:
            return "Infinite"
        return repr(value)
    return str(value)


def encode(*fields: Any) -> bytes:
    """A length-prefixed message of NUL-terminated fields."""
    payload = "".join(field_text(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def encode_many(messages: Iterable[tuple[Any, ...]]) -> bytes:
    return b"".join(encode(*m) for m in messages)


def split_fields(payload: bytes) -> list[str]:
    """The fields of one message body (trailing empty element dropped)."""
    fields = payload.decode(errors="backslashreplace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


def parse_version_range(text: str) -> tuple[int, int]:
    """``v157..176`` (optionally followed by connect options) -> (157, 176)."""
    token = text.strip().split(" ", 1)[0]
    if not token.startswith("v"):
        raise ValueError(f"bad version greeting {text!r}")
    low, _, high = token[1:].partition("..")
    return int(low), int(high or low)


def num(value: float | None, decimals: int = 8) -> str:
    """A price or size for the wire; ``None`` is the empty field."""
    if value is None:
        return ""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value)) if decimals == 0 else f"{value:.1f}"
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")
