"""Per-farm tracking and per-symbol staleness: each farm's feeds come back after its own
recovery, a silent feed is requested again with backoff until ticks resume, and health
says which symbols are stale."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from stockfish_core.health import health_report
from stockfish_core.models import DataType
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.farms import FarmBoard, market_farm
from stockfish_ibkr.testing import FakeTWS

T = 10.0
Watched = tuple[IBKRConnector, Recorder]


@pytest.fixture
def watched(make_connector: Callable[..., IBKRConnector],
            router: DataFeedRouter) -> Iterator[Watched]:
    connector = make_connector(farm_watchdog=0.3, market_data_stale_after=0.6,
                               market_data_retry_max=1.0)
    recorder = Recorder(connector, router)
    assert connector.connect()
    yield connector, recorder
    recorder.close()


def _ticking(recorder: Recorder, symbol: str, n: int = 3) -> bool:
    return recorder.wait_updates(n, T, DataType.PRICE_TICK, symbol)


def test_each_farm_comes_back_on_its_own(watched: Watched, tws: FakeTWS) -> None:
    connector, recorder = watched
    connector.subscribe_price("SPY")  # usfarm
    connector.subscribe_price("EUR/USD")  # cashfarm
    assert _ticking(recorder, "SPY") and _ticking(recorder, "EUR/USD")
    healthy = health_report(connector)["score"]
    tws.farm_lost("usfarm")
    tws.farm_lost("cashfarm")
    assert recorder.wait(lambda: set(connector.stale_symbols()) == {"SPY", "EUR/USD"}, T)
    assert "data farm cashfarm broken" in connector.stale_symbols()["EUR/USD"]
    # 40 points off for all symbols stale; the heartbeat's age moves the rest by up to 20.
    assert health_report(connector)["score"] <= healthy - 19
    requests = tws.stats()["mkt_data_requests"]
    tws.farm_restored("usfarm")
    assert _ticking(recorder, "SPY", 10)
    assert recorder.wait(lambda: set(connector.stale_symbols()) == {"EUR/USD"}, T)
    assert tws.stats()["mkt_data_requests"] == requests, "nothing requested for a broken farm"
    # The second farm comes back without its streams: only its feed is requested again.
    tws.farm_restored("cashfarm", resume_streams=False)
    assert _ticking(recorder, "EUR/USD"), "the second farm's feed stayed silent"
    assert recorder.wait(lambda: connector.stale_symbols() == {}, T)
    assert tws.stats()["mkt_data_requests"] >= requests + 1
    ibkr = connector.get_stats()["ibkr"]
    assert ibkr["farm_outages"] == 2 and ibkr["md_rerequests"] >= 1
    assert ibkr["farms"]["cashfarm"]["state"] == "ok"
    assert health_report(connector)["stale_symbols"] == {}


def test_a_silent_feed_is_requested_again_with_backoff_until_it_ticks(
        watched: Watched, tws: FakeTWS) -> None:
    connector, recorder = watched
    connector.subscribe_price("QQQ")
    assert _ticking(recorder, "QQQ")
    # The feed dies with no notice, and TWS drops the first two requests again.
    tws.inject_error("reqMktData", 100, count=2)
    assert tws.kill_streams("QQQ") == 1
    assert recorder.wait(lambda: "QQQ" in connector.stale_symbols(), T)
    assert "no market data for" in connector.stale_symbols()["QQQ"]
    assert _ticking(recorder, "QQQ"), "never came back"
    assert recorder.wait(lambda: connector.stale_symbols() == {}, T)
    requests = [r for r in tws.requests_received if r["request"] == "reqMktData"]
    assert [r["outcome"] for r in requests][-3:] == ["dropped 100", "dropped 100", "handled"]
    assert connector.get_stats()["ibkr"]["md_rerequests"] >= 3


def test_farm_mapping() -> None:
    class Contract:
        def __init__(self, sec_type: str, currency: str = "USD") -> None:
            self.secType, self.currency = sec_type, currency

    assert market_farm("SPY", Contract("STK"), {}) == "usfarm"
    assert market_farm("EUR/USD", Contract("CASH"), {}) == "cashfarm"
    assert market_farm("ES", Contract("FUT"), {}) == "usfuture"
    assert market_farm("SAP", Contract("STK", "EUR"), {}) == "eufarm"
    assert market_farm("7203", Contract("STK", "JPY"), {}) == "jfarm"
    assert market_farm("SPY", Contract("STK"), {"SPY": "usfarm.nj"}) == "usfarm"
    board = FarmBoard()
    assert board.notice(2103, "usfarm.nj") is not None
    assert board.notice(2103, "usfarm.nj") is None  # no change
    assert board.family_down("usfarm") == "usfarm.nj"
    assert board.down("market") == ["usfarm.nj"]
    assert board.notice(2104, "usfarm.nj") is not None
    assert board.family_down("usfarm") is None
