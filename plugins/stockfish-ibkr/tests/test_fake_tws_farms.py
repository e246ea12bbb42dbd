"""Per-farm data outages at the fake TWS, seen by the raw clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from stockfish_ibkr.testing import FakeTWS
from stockfish_ibkr.testing.raw_client import RawClient

Raw = Callable[..., RawClient]


def _ticks(ticker: Any) -> Callable[[], int]:
    """A counter of the ticks ``ticker`` received from now on."""
    seen = [0]
    ticker.updateEvent += lambda t: seen.__setitem__(0, seen[0] + len(t.ticks))
    return lambda: seen[0]


def test_logon_reports_every_farm(raw: Raw, tws: FakeTWS) -> None:
    tws.farm_lost("euhmds")
    client = raw(tws.port)
    assert client.wait(lambda: len([c for c in client.codes(-1) if 2100 <= c < 2200]) == 8)
    notices = {t for i, c, t in client.errors if 2100 <= c < 2200}
    assert notices == {
        "Market data farm connection is OK:usfarm", "Market data farm connection is OK:cashfarm",
        "Market data farm connection is OK:usfuture", "Market data farm connection is OK:eufarm",
        "HMDS data farm connection is OK:ushmds", "HMDS data farm connection is OK:cashhmds",
        "HMDS data farm connection is broken:euhmds", "Sec-def data farm connection is OK:secdefil"}


def test_only_the_lost_farm_stops_and_comes_back(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    spy = client.ib.reqMktData(client.contract("SPY"))
    eur = client.ib.reqMktData(client.contract("EUR"))
    assert client.wait(lambda: spy.bid > 0 and eur.bid > 0)
    assert tws.farm_lost("cashfarm") == ["cashfarm"]
    assert client.wait(lambda: 2103 in client.codes(-1))
    assert (-1, 2103, "Market data farm connection is broken:cashfarm") in client.errors
    spy_ticks, eur_ticks = _ticks(spy), _ticks(eur)
    assert client.wait(lambda: spy_ticks() >= 20), "usfarm keeps streaming"
    assert eur_ticks() == 0, "cashfarm's stream stopped"
    assert tws.farm_restored("cashfarm") == ["cashfarm"]
    assert client.wait(lambda: eur_ticks() >= 3), "the stream resumed by itself"
    assert (-1, 2104, "Market data farm connection is OK:cashfarm") in client.errors
    assert tws.farms()["cashfarm"]["up"] and tws.stats()["farm_outages"] == 1


def test_a_farm_that_comes_back_without_its_streams(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    contract = client.contract("EUR")
    eur = client.ib.reqMktData(contract)
    spy = client.ib.reqMktData(client.contract("SPY"))
    assert client.wait(lambda: eur.bid > 0 and spy.bid > 0)
    tws.farm_lost("cashfarm")
    tws.farm_restored("cashfarm", resume_streams=False)
    assert client.wait(lambda: 2104 in client.codes(-1))
    spy_ticks, eur_ticks = _ticks(spy), _ticks(eur)
    assert client.wait(lambda: spy_ticks() >= 20)
    assert eur_ticks() == 0, "silent although the farm is OK"
    client.ib.cancelMktData(contract)
    again = client.ib.reqMktData(contract)
    assert client.wait(lambda: again.bid > 0), "a new request streams again"


def test_two_farms_fail_and_recover_separately(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    spy = client.ib.reqMktData(client.contract("SPY"))
    eur = client.ib.reqMktData(client.contract("EUR"))
    assert client.wait(lambda: spy.bid > 0 and eur.bid > 0)
    tws.farm_lost("usfarm")
    tws.farm_lost("cashfarm")
    tws.farm_restored("usfarm")
    # Ticks already on the wire land before the notices: count only after them.
    usfarm_ok = (-1, 2104, "Market data farm connection is OK:usfarm")
    assert client.wait(lambda: (-1, 2103, "Market data farm connection is broken:cashfarm")
                       in client.errors and client.errors.count(usfarm_ok) >= 2)
    spy_ticks, eur_ticks = _ticks(spy), _ticks(eur)
    assert client.wait(lambda: spy_ticks() >= 10)
    assert eur_ticks() == 0
    tws.farm_restored("cashfarm", resume_streams=False)
    assert client.wait(lambda: spy_ticks() >= 30)
    assert eur_ticks() == 0, "the second farm came back without its stream"
    codes = [c for c in client.codes(-1) if c in (2103, 2104)]
    assert codes[-4:] == [2103, 2103, 2104, 2104]


def test_orders_still_trade_while_a_farm_is_down(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    tws.farm_lost("usfarm")
    trade = client.ib.placeOrder(client.contract("SPY"), client.mod.MarketOrder("BUY", 3))
    assert client.wait(lambda: trade.orderStatus.status == "Filled")


def test_history_waits_for_its_hmds_farm(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    spy = client.contract("SPY")
    ticker = client.ib.reqMktData(spy)
    tws.farm_lost("ushmds")
    bars = asyncio.ensure_future(
        client.ib.reqHistoricalDataAsync(spy, "", "1 D", "1 hour", "TRADES", False))
    ticks = _ticks(ticker)
    assert client.wait(lambda: ticks() >= 20 and tws.stats().get("deferred_requests") == 1)
    assert not bars.done(), "no answer while HMDS is down"
    assert (-1, 2105, "HMDS data farm connection is broken:ushmds") in client.errors
    tws.farm_restored("ushmds")
    assert client.wait(bars.done)
    assert len(bars.result()) == 24
    assert (-1, 2106, "HMDS data farm connection is OK:ushmds") in client.errors


def test_contract_details_wait_for_the_sec_def_farm(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    tws.farm_lost("secdefil")
    details = asyncio.ensure_future(
        client.ib.reqContractDetailsAsync(client.mod.Stock("QQQ", "SMART", "USD")))
    assert client.wait(lambda: 2157 in client.codes(-1))
    assert client.wait(lambda: tws.stats().get("deferred_requests") == 1)
    assert not details.done()
    tws.farm_restored("secdefil")
    assert client.wait(details.done)
    assert details.result()[0].contract.conId == 320227571
    assert (-1, 2158, "Sec-def data farm connection is OK:secdefil") in client.errors


def test_inactive_farm_notice_keeps_data_flowing(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    tws.farm_inactive("usfuture")
    assert client.wait(lambda: 2108 in client.codes(-1))
    assert (-1, 2108, "Market data farm connection is inactive but should be available upon "
                      "demand.usfuture") in client.errors
    es = client.ib.reqMktData(client.contract("ES"))
    assert client.wait(lambda: es.bid > 0)
    assert tws.farms()["usfuture"] == {"kind": "market", "up": True, "inactive": True}


def test_every_farm_at_once(raw: Raw, tws: FakeTWS) -> None:
    client = raw(tws.port)
    assert set(tws.farm_lost()) == set(tws.farms())
    assert client.wait(lambda: len([c for c in client.codes(-1) if c in (2103, 2105, 2157)])
                       == 8)
    assert tws.farm_lost() == [], "already down"
    assert set(tws.farm_restored()) == set(tws.farms())


def test_farm_names_are_checked(tws: FakeTWS) -> None:
    with pytest.raises(ValueError, match="unknown farm 'nofarm'"):
        tws.farm_lost("nofarm")
    with pytest.raises(ValueError, match="sec-def farm"):
        tws.farm_inactive("secdefil")
    assert {i.symbol: (i.md_farm, i.hmds_farm) for i in tws.instruments if i.symbol in
            ("SPY", "EUR", "ES", "SAP")} == {
        "SPY": ("usfarm", "ushmds"), "EUR": ("cashfarm", "cashhmds"),
        "ES": ("usfuture", "ushmds"), "SAP": ("eufarm", "euhmds")}
