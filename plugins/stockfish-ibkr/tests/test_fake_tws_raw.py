"""The fake TWS speaks the real protocol: the unmodified client libraries use it directly."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from stockfish_ibkr.testing import FakeTWS


def _ib(backend: str, tws: FakeTWS, client_id: int = 7) -> tuple[Any, Any]:
    mod = importlib.import_module(backend)
    ib = mod.IB()
    ib.connect("127.0.0.1", tws.port, clientId=client_id, timeout=5)
    return mod, ib


@pytest.fixture(autouse=True)
def _main_thread_loop() -> Iterator[None]:
    # The raw clients' sync API runs on the main thread's event loop; asyncio.run() in an
    # earlier test leaves the main thread with none.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def test_raw_client_session(backend: str, tws: FakeTWS) -> None:
    mod, ib = _ib(backend, tws)
    try:
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.reqCurrentTime().year >= 2024
        spy, eur = ib.qualifyContracts(mod.Stock("SPY", "SMART", "USD"), mod.Forex("EURUSD"))
        assert (spy.conId, eur.conId, eur.secType) == (756733, 12087792, "CASH")
        ticker = ib.reqMktData(spy)
        ib.sleep(0.3)
        assert ticker.bid > 0 and ticker.ask > ticker.bid and ticker.bidSize > 0
        order = mod.MarketOrder("BUY", 3)
        order.orderRef = "raw-1"
        trade = ib.placeOrder(spy, order)
        ib.sleep(0.3)
        assert trade.orderStatus.status == "Filled" and trade.orderStatus.filled == 3
        assert trade.fills[0].commissionReport.commission > 0
        fills = ib.reqExecutions()
        assert [f.execution.orderRef for f in fills] == ["raw-1"]
        done = ib.reqCompletedOrders(True)
        assert [(t.order.orderRef, t.orderStatus.status) for t in done] == [("raw-1", "Filled")]
        assert [(p.contract.conId, p.position) for p in ib.reqPositions()] == [(756733, 3.0)]
        bars = ib.reqHistoricalData(spy, "", "1 D", "1 hour", "TRADES", False)
        assert len(bars) == 24
        assert tws.executions[0]["order_ref"] == "raw-1"
    finally:
        ib.disconnect()
