"""Message mapping for FIX 4.2, 4.4 and 5.0 SP2: encoders validate against each version's
dictionary, decoders read what the venue sends, exec reports map onto the state machine."""

from __future__ import annotations

import pytest
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from stockfish_fix import messages as m
from stockfish_fix.session_config import build_config, dictionary_paths, parse_first_session
from stockfish_fix.settings import FIXSettings
from stockfish_fix.testing.messages import dictionaries, parse, raw

VERSIONS = ("FIX42", "FIX44", "FIX50SP2")


def _validate(version: str, msg) -> None:
    """Round-trip through the wire text and validate with the version's dictionary."""
    header = msg.getHeader()
    header.setField(8, {"FIX42": "FIX.4.2", "FIX44": "FIX.4.4", "FIX50SP2": "FIXT.1.1"}[version])
    for tag, value in ((49, "CLIENT"), (56, "VENUE"), (34, "2"), (52, "20240101-00:00:00.000")):
        header.setField(tag, value)
    if version == "FIX50SP2":
        header.setField(1128, "9")
    text = msg.toString()
    dicts = dictionaries(version)
    parsed = parse(version, text)
    dicts[-1].validate(parsed) if len(dicts) == 1 else None
    if len(dicts) == 2:
        import quickfix as fix

        fix.DataDictionary.validate(parsed, dicts[0], dicts[1])


ORDERS = [
    Order("AAA", OrderSide.BUY, 10),
    Order("AAA", OrderSide.SELL, 5, OrderType.LIMIT, price=101.25, time_in_force=TimeInForce.GTC),
    Order("AAA", OrderSide.BUY, 3, OrderType.STOP, stop_price=99.5,
          time_in_force=TimeInForce.IOC),
    Order("AAA", OrderSide.SELL, 2, OrderType.STOP_LIMIT, price=98.0, stop_price=99.0,
          time_in_force=TimeInForce.FOK, account="ACC1"),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("order", ORDERS, ids=lambda o: o.order_type.value)
def test_new_order_single_is_valid_in_every_version(version: str, order: Order) -> None:
    msg = m.encode_new_order(order, "CID1", version, account="DEFAULT")
    _validate(version, msg)
    assert msg.getField(m.CL_ORD_ID) == "CID1"
    assert msg.getField(m.ORD_TYPE) == {"MARKET": "1", "LIMIT": "2", "STOP": "3",
                                        "STOP_LIMIT": "4"}[order.order_type.value]
    assert msg.getField(m.SIDE) == ("1" if order.side is OrderSide.BUY else "2")
    assert float(msg.getField(m.ORDER_QTY)) == order.quantity
    assert msg.isSetField(m.PRICE) == (order.price is not None)
    assert msg.isSetField(m.STOP_PX) == (order.stop_price is not None)
    assert msg.getField(m.TIME_IN_FORCE) == {"DAY": "0", "GTC": "1", "IOC": "3",
                                             "FOK": "4"}[order.time_in_force.value]
    assert msg.getField(m.ACCOUNT) == (order.account or "DEFAULT")


@pytest.mark.parametrize("version", VERSIONS)
def test_cancel_replace_status_and_md_requests_are_valid(version: str) -> None:
    order = ORDERS[1]
    order.order_id = "V1"
    _validate(version, m.encode_cancel(order, "C2", "C1", version))
    replace = m.encode_replace(order, "R3", "C1", version, quantity=8, price=100.5)
    _validate(version, replace)
    assert float(replace.getField(m.ORDER_QTY)) == 8
    assert float(replace.getField(m.PRICE)) == 100.5
    assert replace.getField(m.ORIG_CL_ORD_ID) == "C1"
    _validate(version, m.encode_status_request(order, "C1", version))
    request = m.encode_md_request("MD1", "AAA", version)
    _validate(version, request)
    assert request.getField(m.SUBSCRIPTION_REQUEST_TYPE) == "1"
    assert request.groupCount(m.NO_MD_ENTRY_TYPES) == 3
    assert request.groupCount(m.NO_RELATED_SYM) == 1
    stop = m.encode_md_request("MD1", "AAA", version, subscribe=False)
    assert stop.getField(m.SUBSCRIPTION_REQUEST_TYPE) == "2"


def _report(version: str, exec_type: str, status: str, **extra: str) -> str:
    body = [(37, "V1"), (11, extra.pop("cl", "C1")), (17, extra.pop("exec_id", "E1"))]
    if version == "FIX42":
        body.append((20, extra.pop("trans", "0")))
    body += [(150, exec_type), (39, status), (55, "AAA"), (54, "1"), (151, "0"), (14, "0"),
             (6, "0")]
    body += [(int(k[1:]), v) for k, v in extra.items()]
    return raw(version, "8", body)


@pytest.mark.parametrize("version", VERSIONS)
def test_execution_report_fill(version: str) -> None:
    exec_type = "1" if version == "FIX42" else "F"
    report = m.decode_execution_report(parse(version, _report(
        version, exec_type, "1", t32="40", t31="100.5")))
    assert report.is_trade
    assert (report.last_qty, report.last_px, report.exec_id) == (40.0, 100.5, "E1")
    assert report.order_id == "V1"


@pytest.mark.parametrize(("exec_type", "status", "expected"), [
    ("0", "0", OrderStatus.SUBMITTED),
    ("4", "4", OrderStatus.CANCELLED),
    ("8", "8", OrderStatus.REJECTED),
    ("C", "C", OrderStatus.CANCELLED),
    ("3", "3", OrderStatus.CANCELLED),
    ("6", "6", None),  # pending cancel: no change
    ("A", "A", None),  # pending new
    ("E", "E", None),  # pending replace
])
@pytest.mark.parametrize("version", VERSIONS)
def test_exec_report_state_mapping(version: str, exec_type: str, status: str,
                                   expected: OrderStatus | None) -> None:
    report = m.decode_execution_report(parse(version, _report(version, exec_type, status,
                                                              t58="why")))
    mapped, reason = m.exec_report_status(report)
    assert mapped is expected
    if expected in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
        assert reason


def test_fix42_status_answer_is_read_as_order_status() -> None:
    report = m.decode_execution_report(parse("FIX42", _report("FIX42", "0", "0", trans="3")))
    assert report.exec_type == "I"
    busted = m.decode_execution_report(parse("FIX42", _report("FIX42", "2", "2", trans="1",
                                                              t32="1", t31="1")))
    assert not busted.is_trade  # an execution cancel never fills


@pytest.mark.parametrize(("body", "kind"), [
    ({"exec_type": "F", "status": "2"}, "bad_fill"),
    ({"exec_type": "Q", "status": "0"}, "bad_enum"),
    ({"exec_type": "0", "status": "Z"}, "bad_enum"),
    ({"exec_type": "F", "status": "1", "t32": "abc", "t31": "1"}, "bad_number"),
    ({"exec_type": "F", "status": "1", "t32": "-5", "t31": "1"}, "bad_number"),
    ({"exec_type": "F", "status": "1", "t32": "nan", "t31": "1"}, "bad_number"),
])
def test_bad_execution_reports_are_named(body: dict[str, str], kind: str) -> None:
    body = dict(body)
    text = _report("FIX44", body.pop("exec_type"), body.pop("status"), **body)
    with pytest.raises(m.DecodeError) as err:
        m.decode_execution_report(parse("FIX44", text))
    assert err.value.kind == kind


def test_missing_required_fields() -> None:
    text = raw("FIX44", "8", [(37, "V1"), (150, "0"), (39, "0")])
    with pytest.raises(m.DecodeError, match="ClOrdID") as err:
        m.decode_execution_report(parse("FIX44", text))
    assert err.value.kind == "missing_field"


@pytest.mark.parametrize("version", VERSIONS)
def test_snapshot_and_incremental(version: str) -> None:
    extra = [(779, "20240101-00:00:00.000")] if version == "FIX50SP2" else []
    snap = raw(version, "W", [(262, "R1"), (55, "AAA"), *extra, (268, "3"),
                              (269, "0"), (270, "99.5"), (271, "10"),
                              (269, "1"), (270, "100.5"), (271, "7"),
                              (269, "2"), (270, "100"), (271, "1")])
    symbol, req_id, entries, depth = m.decode_md_snapshot(parse(version, snap))
    assert depth is None
    assert (symbol, req_id) == ("AAA", "R1")
    assert [(e.type, e.price, e.size) for e in entries] == [("0", 99.5, 10.0),
                                                            ("1", 100.5, 7.0),
                                                            ("2", 100.0, 1.0)]
    inc = raw(version, "X", [(262, "R1"), (268, "2"),
                             (279, "2"), (269, "0"), (55, "AAA"), (270, "99.5"),
                             (279, "0"), (269, "0"), (55, "AAA"), (270, "99.6"), (271, "4")])
    req, changes = m.decode_md_incremental(parse(version, inc))
    assert req == "R1"
    assert [(e.action, e.type, e.price, e.size, e.symbol) for e in changes] == [
        ("2", "0", 99.5, None, "AAA"), ("0", "0", 99.6, 4.0, "AAA")]  # a delete has no size


def test_wrong_group_count_is_named() -> None:
    text = raw("FIX44", "W", [(55, "AAA"), (268, "3"), (269, "0"), (270, "1"), (271, "1")])
    with pytest.raises(m.DecodeError) as err:
        m.decode_md_snapshot(parse("FIX44", text))
    assert err.value.kind == "bad_group_count"


def test_rejects_decode() -> None:
    req, reason = m.decode_md_reject(parse("FIX44", raw("FIX44", "Y", [(262, "R9"),
                                                                      (281, "0")])))
    assert (req, reason) == ("R9", "unknown symbol")
    cl, orig, status, why = m.decode_cancel_reject(parse("FIX44", raw("FIX44", "9", [
        (37, "V1"), (11, "C2"), (41, "C1"), (39, "2"), (434, "1"), (102, "0")])))
    assert (cl, orig, status, why) == ("C2", "C1", "2", "too late to cancel")
    ref, seq, ref_id, text = m.decode_business_reject(parse("FIX44", raw("FIX44", "j", [
        (45, "7"), (372, "D"), (379, "C1"), (380, "2"), (58, "no")])))
    assert (ref, seq, ref_id, text) == ("D", "7", "C1", "no")


@pytest.mark.parametrize("version", VERSIONS)
def test_session_config_has_the_right_dictionaries(version: str) -> None:
    s = FIXSettings(version=version, store="memory", port=1234)
    text = build_config(role="initiator", version=s.version, sender_comp_id="C",
                        target_comp_ids=["V"], port=1234)
    first = parse_first_session(text)
    assert first["BeginString"] == s.begin_string
    assert "SocketNodelay=Y" in text
    if version == "FIX50SP2":
        assert "DefaultApplVerID=FIX.5.0SP2" in text
        assert "TransportDataDictionary=" in text and "AppDataDictionary=" in text
    else:
        assert f"DataDictionary={dictionary_paths(version)['app']}" in text


def test_settings_validation_and_aliases() -> None:
    assert FIXSettings(version="4.2").version == "FIX42"
    assert FIXSettings(version="FIXT.1.1").begin_string == "FIXT.1.1"
    assert FIXSettings(store="memory").resets_on_logon
    assert not FIXSettings(store="file").resets_on_logon
    for bad in ({"version": "FIX99"}, {"port": 0}, {"store": "redis"},
                {"sender_comp_id": ""}, {"session_settings": {"bad key": "1"}}):
        with pytest.raises(ValueError):
            FIXSettings(**bad)
    with pytest.raises(FileNotFoundError, match="data dictionary"):
        dictionary_paths("FIX44", "/nonexistent/dir/")
    # 0 would have QuickFIX retry a refused connection in a tight loop (thousands a second).
    with pytest.raises(ValueError, match="reconnect_interval.*tight loop"):
        FIXSettings(reconnect_interval=0)
    assert FIXSettings().reconnect_interval == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_orders_written_as_text_are_the_messages_set_field_by_field(version: str) -> None:
    """D/F/G/H are handed to QuickFIX as text in one call: the message QuickFIX holds is
    the one a setField per field would have built (every field, in the body, same values;
    values with '=' and custom tags included)."""
    import quickfix as fix

    order = Order("AAA", OrderSide.SELL, 2, OrderType.STOP_LIMIT, price=98.0, stop_price=99.0,
                  time_in_force=TimeInForce.FOK, account="ACC1", client_order_id="CID1")
    built = m.encode_new_order(order, "CID1", version, tags={"7002": "x=y", "note": "n"})
    expected = fix.Message()
    expected.getHeader().setField(35, "D")
    fields = {11: "CID1", 21: "1", 55: "AAA", 54: "2", 38: "2", 40: "4", 44: "98",
              99: "99", 59: "4", 1: "ACC1", 7002: "x=y"}
    for tag, value in fields.items():
        expected.setField(tag, value)
    expected.setField(60, built.getField(60))
    expected.getHeader().setField(8, built.getHeader().getField(8))
    assert built.toString() == expected.toString()
    assert built.getHeader().getField(35) == "D" and not built.isSetField(35)
    status = m.encode_status_request(order, "CID1-R2", version)
    assert (status.getField(11), status.getField(55), status.getField(54)) == \
        ("CID1-R2", "AAA", "2")
