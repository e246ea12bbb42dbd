"""Pacing as TWS applies it: messages counted on arrival, the excess dropped with error 100."""

from __future__ import annotations

import re
from collections.abc import Callable

from stockfish_ibkr.testing import FakeTWS
from stockfish_ibkr.testing.pacing import ArrivalWindow
from stockfish_ibkr.testing.raw_client import RawClient

Raw = Callable[..., RawClient]


def test_arrival_window_counts_every_message_in_the_last_second() -> None:
    window = ArrivalWindow()
    counts = [window.arrive(k / 64) for k in range(60)]  # 60 messages, one every 1/64 s
    assert counts == list(range(1, 61))
    assert window.arrive(1.0) == 60  # the one at 0.0 left the window
    assert window.arrive(1.5) == 29  # 33/64 .. 59/64, 1.0 and 1.5
    # seven messages 1/64 s apart fit in 100 ms (6/64 s), eight do not
    assert (window.peak_per_second, window.peak_per_100ms) == (60, 7)


def test_arrival_window_peak_per_100ms_is_the_tightest_burst() -> None:
    window = ArrivalWindow()
    for t in (0.0, 0.5, 0.51, 0.52, 0.55, 0.7):
        window.arrive(t)
    assert window.peak_per_100ms == 4 and window.peak_per_second == 6
    assert window.in_last_second == 6


def _burst_of_orders(client: RawClient, n: int) -> list[int]:
    spy = client.contract("SPY")
    client.ib.client.MaxRequests = 0  # the client's own throttle off: the whole burst goes out
    ids = []
    for k in range(n):
        order = client.mod.LimitOrder("BUY", 1, 100.0)
        order.orderRef = f"burst-{k}"
        order.tif = "GTC"
        ids.append(client.ib.placeOrder(spy, order).order.orderId)
    return ids


def test_the_excess_of_a_burst_is_dropped_with_100(raw: Raw) -> None:
    with FakeTWS(tick_interval=0.02, max_messages_per_second=20) as tws:
        client = raw(tws.port)
        ids = _burst_of_orders(client, 40)
        acked = lambda: {t.order.orderId for t in client.ib.trades()  # noqa: E731
                         if t.orderStatus.permId}
        assert client.wait(lambda: all(i in acked() or 100 in client.codes(i) for i in ids))
        refused = [i for i in ids if 100 in client.codes(i)]
        accepted = [i for i in ids if i in acked()]
        assert refused, "40 orders at once against a 20/s limit"
        assert sorted(refused + accepted) == ids, "each order: accepted or refused, never both"
        venue = {o["order_id"] for o in tws.orders()}
        assert venue == set(accepted), "a refused order was never placed"
        outcomes = {r["order_id"]: r["outcome"] for r in tws.orders_received}
        assert {i for i, o in outcomes.items() if o == "dropped 100"} == set(refused)
        # TWS counts on arrival, the refused messages too: every 100 reports rec > max.
        texts = [t for i, c, t in client.errors if c == 100]
        assert len(texts) == len(refused)
        for oid, text in ((i, t) for i, c, t in client.errors if c == 100):
            match = re.fullmatch(r"Max rate of messages per second has been exceeded:"
                                 r"max=20 rec=(\d+) \((-?\d+)\)", text)
            assert match and int(match[1]) > 20 and int(match[2]) == oid, text
        pacing = tws.pacing()
        assert pacing["refused"] == pacing["errors_100"] == len(refused)
        assert pacing["peak_per_second"] >= 21
        assert 1 <= pacing["peak_per_100ms"] <= pacing["peak_per_second"]
        assert tws.stats()["message_pacing_violations"] == len(refused)


def test_a_client_within_the_limit_is_never_refused(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)  # ib_insync / ib_async throttle to 45 per second by themselves
    spy = client.contract("SPY")
    trades = []
    for k in range(30):
        order = client.mod.LimitOrder("BUY", 1, 100.0)
        order.orderRef = f"calm-{k}"
        trades.append(client.ib.placeOrder(spy, order))
    assert client.wait(lambda: all(t.orderStatus.permId for t in trades), 20.0)
    assert tws.pacing()["refused"] == 0
    assert 30 < tws.pacing()["peak_per_second"] <= 50


def test_repeated_violations_close_the_connection_when_asked(raw: Raw) -> None:
    with FakeTWS(tick_interval=0.02, max_messages_per_second=10,
                 pacing_disconnect_after=3) as tws:
        client = raw(tws.port)
        client.ib.client.MaxRequests = 0
        for _ in range(30):
            client.ib.client.reqCurrentTime()
        assert client.wait(lambda: not client.ib.isConnected())
        assert tws.pacing()["disconnects"] == 1
        assert tws.pacing()["refused"] >= 3


def test_warning_when_approaching_the_limit(raw: Raw) -> None:
    with FakeTWS(tick_interval=0.02, max_messages_per_second=100, pacing_warning_at=60) as tws:
        client = raw(tws.port)
        client.ib.client.MaxRequests = 0
        for _ in range(60):
            client.ib.client.reqCurrentTime()
        assert client.wait(lambda: 0 in client.codes(-1))
        warnings = [e["message"] for e in tws.errors_sent if e["code"] == 0]
        assert warnings == ["Warning: Approaching max rate of 100 messages per second (60)"]
        assert tws.pacing()["refused"] == 0


def test_limit_changes_at_run_time(raw: Raw, tws: FakeTWS) -> None:
    assert tws.configure(max_messages_per_second=0)["max_messages_per_second"] == 0
    client = raw(tws.port)
    client.ib.client.MaxRequests = 0
    for _ in range(120):
        client.ib.client.reqCurrentTime()
    assert client.wait(lambda: tws.stats().get("current_time", 0) == 120)
    assert tws.pacing()["refused"] == 0 and tws.pacing()["peak_per_second"] > 50
