"""Historical data at the fake TWS: bars, and error 162 with each of its real texts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from stockfish_ibkr.testing import FakeTWS
from stockfish_ibkr.testing.history import HistoricalPacing
from stockfish_ibkr.testing.raw_client import RawClient

Raw = Callable[..., RawClient]
HMDS = "Historical Market Data Service error message:"


def _history(client: RawClient, contract: Any, what: str = "TRADES", *, end: str = "",
             duration: str = "1 D", bar: str = "1 hour") -> tuple[list[Any], list[str]]:
    """The bars and the texts of the 162s the request got."""
    mark = len(client.errors)
    bars = client.ib.reqHistoricalData(contract, end, duration, bar, what, False)
    return list(bars), [t for _, c, t in client.errors[mark:] if c == 162]


def test_forex_trades_is_refused_midpoint_served(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    eur = client.contract("EUR")
    bars, errors = _history(client, eur, "TRADES")
    assert bars == []
    assert errors == [HMDS + "No historical market data for EUR/CASH@FXSUBPIP Last 3600"]
    bars, errors = _history(client, eur, "MIDPOINT")
    assert len(bars) == 24 and errors == []
    assert tws.stats()["historical_not_available"] == 1


def test_index_has_only_trades(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    spx = client.contract("SPX")
    bars, errors = _history(client, spx, "MIDPOINT", bar="1 min", duration="3600 S")
    assert bars == [] and errors == [HMDS + "No historical market data for SPX/IND@CBOE "
                                            "MidPoint 60"]
    assert len(_history(client, spx, "TRADES")[0]) == 24


def test_empty_range_is_no_data(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    spy = client.contract("SPY")
    bars, errors = _history(client, spy, end="19991231 23:00:00 UTC", duration="2 D")
    assert bars == [] and errors == [HMDS + "HMDS query returned no data: SPY@SMART Trades"]
    es = client.contract("ES")  # listed later: a range that starts before it is cut short
    bars, errors = _history(client, es, end="20170716 04:00:00 UTC", duration="1 W",
                            bar="1 day")
    assert errors == [] and len(bars) == 1
    assert tws.stats()["historical_no_data"] == 1


def test_identical_request_within_15_s_is_a_pacing_violation(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    spy = client.contract("SPY")
    assert len(_history(client, spy)[0]) == 24
    bars, errors = _history(client, spy)
    assert bars == [] and errors == [HMDS + "Historical data request pacing violation"]
    assert tws.stats()["historical_pacing_violations"] == 1


def test_six_requests_for_one_contract_within_2_s(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    qqq = client.contract("QQQ")
    answers = [_history(client, qqq, duration=f"{n} D", bar="1 day") for n in range(1, 7)]
    assert [len(bars) for bars, _ in answers[:5]] == [1, 2, 3, 4, 5]
    assert answers[5] == ([], [HMDS + "Historical data request pacing violation"])
    # another contract is not affected
    assert len(_history(client, client.contract("IWM"), duration="2 D", bar="1 day")[0]) == 2


@pytest.mark.parametrize(("variant", "text"), [
    ("no_permissions", HMDS + "No market data permissions for SMART STK"),
    ("no_data", HMDS + "HMDS query returned no data: SPY@SMART Trades"),
    ("pacing", HMDS + "Historical data request pacing violation")])
def test_injected_162_texts(raw: Raw, tws: FakeTWS, variant: str, text: str) -> None:
    client = raw(tws.port)
    spy = client.contract("SPY")
    tws.inject_error("reqHistoricalData", 162, variant=variant)
    assert _history(client, spy) == ([], [text])


def test_historical_pacing_rules() -> None:
    pacing = HistoricalPacing(max_requests=4, window=600.0, identical_interval=15.0)
    assert not pacing.violates("a", "c1", 1, 0.0)
    assert pacing.violates("a", "c1", 1, 14.9), "identical within 15 s"
    assert not pacing.violates("b", "c1", 1, 30.0)
    assert pacing.violates("c", "c2", 2, 31.0), "BID_ASK counts twice: 5 > 4 in 10 min"
    assert not pacing.violates("d", "c2", 1, 700.0), "the window moved on"
