"""Hypothesis fuzz of the application-message decoder: random tags, missing required fields,
bad enums and wrong group counts, decoded from raw FIX text (no sockets) in every version.
No exception escapes and every rejection is counted by kind."""

from __future__ import annotations

from typing import Any

import quickfix as fix
from hypothesis import given, settings
from hypothesis import strategies as st
from stockfish_core.orders import Order, OrderSide, OrderType
from stockfish_fix import messages as m
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing.messages import parse, raw

VERSIONS = ("FIX42", "FIX44", "FIX50SP2")
MSG_TYPES = ("8", "W", "X", "Y", "9", "j", "B", "Z")
TAGS = (6, 11, 14, 17, 20, 31, 32, 37, 39, 41, 44, 54, 55, 58, 102, 103, 150, 151, 262, 279,
        269, 270, 271, 281, 372, 379, 380, 434, 9999)
VALUE_POOL = ("0", "1", "2", "4", "5", "8", "F", "I", "Z", "", "-1", "1e308", "nan", "inf",
              "abc", "100.5", "CID1", "CID1-R1", "AAA", "3", "99.25", "0.0", "E", "C", "7",
              "2.5", "X1", "=", "MD1", "-0", "12", "A")
GROUP_TAGS = (279, 269, 270, 271, 55)


def build(blob: bytes) -> tuple[str, str]:
    """A FIX message from fuzz bytes: version, type, random fields, and maybe a NoMDEntries
    group whose declared count is sometimes wrong. Building from bytes keeps hypothesis fast
    enough for 10,000 examples in seconds."""
    version = VERSIONS[blob[0] % len(VERSIONS)]
    msg_type = MSG_TYPES[blob[1] % len(MSG_TYPES)]
    body: list[tuple[int, str]] = []
    rest = blob[2:]
    split = len(rest) // 2 if blob[2 % len(blob)] % 2 else len(rest)
    for i in range(0, split - 1, 2):
        body.append((TAGS[rest[i] % len(TAGS)], VALUE_POOL[rest[i + 1] % len(VALUE_POOL)]))
    if split < len(rest):
        group = rest[split:]
        entries = [(GROUP_TAGS[group[i] % len(GROUP_TAGS)],
                    VALUE_POOL[group[i + 1] % len(VALUE_POOL)]) for i in range(0, len(group) - 1, 2)]
        starts = sum(1 for tag, _ in entries if tag in (279, 269)) or 1
        count = starts + (0, 0, 1, -1, 3)[group[0] % 5]
        body.append((268, str(count)))
        body.extend(entries)
    return version, raw(version, msg_type, body)


_connectors: dict[str, FIXConnector] = {}


def _connector(version: str) -> FIXConnector:
    connector = _connectors.get(version)
    if connector is None:
        connector = _connectors[version] = FIXConnector(version=version, store="memory")
        order = Order("AAA", OrderSide.BUY, 10, OrderType.LIMIT, price=1.0,
                      client_order_id="CID1")
        connector.orders[order.client_order_id] = order  # a known order to aim at
        connector._clordids.update({"CID1": "CID1", "CID1-R1": "CID1"})
        connector._current["CID1"] = "CID1"
    return connector


@settings(max_examples=10_000, derandomize=True, deadline=None, database=None)
@given(st.binary(min_size=3, max_size=40))
def test_decoder_never_raises_and_counts_every_rejection(blob: bytes) -> None:
    version, text = build(blob)
    connector = _connector(version)
    try:
        msg = parse(version, text)
    except fix.InvalidMessage:
        # QuickFIX's own parser refuses it: on a session it never reaches fromApp (QuickFIX
        # answers with a Reject, which the connector counts in toAdmin).
        connector._to_admin(_session_reject("unparseable"))
        return
    stats = connector.stats
    errors, received = stats.data_errors, stats.updates_received
    connector._from_app(msg)
    assert stats.updates_received == received + 1
    assert stats.data_errors - errors in (0, 1)
    assert sum(stats.data_errors_by_kind.values()) == stats.data_errors
    assert "handler_error" not in stats.data_errors_by_kind, stats.last_error
    for decode in (m.decode_execution_report, m.decode_md_snapshot, m.decode_md_incremental,
                   m.decode_md_reject, m.decode_cancel_reject, m.decode_business_reject,
                   m.decode_session_reject):
        try:
            decode(msg)
        except m.DecodeError as exc:
            assert exc.kind


def _session_reject(text: str) -> Any:
    reject = fix.Message()
    reject.getHeader().setField(35, "3")
    reject.setField(58, text)
    return reject


def test_fuzz_counted_every_kind() -> None:
    kinds: set[str] = set()
    for connector in _connectors.values():
        kinds |= set(connector.stats.data_errors_by_kind)
    if _connectors:  # ran after the fuzz test in this process
        assert {"missing_field", "bad_enum", "unsupported_message"} <= kinds, kinds
