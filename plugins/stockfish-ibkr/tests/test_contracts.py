"""Symbol resolution: pure rules, then each symbol class qualified against the fake TWS."""

from __future__ import annotations

import pytest
from stockfish_core.errors import SubscriptionError
from stockfish_core.testing import Recorder
from stockfish_ibkr.connector import IBKRConnector
from stockfish_ibkr.contracts import resolve_contract_spec
from stockfish_ibkr.settings import IBKRSettings

SETTINGS = IBKRSettings(contracts={"ES": {"secType": "FUT", "exchange": "CME",
                                          "currency": "USD", "localSymbol": "ESZ6"}})


@pytest.mark.parametrize(("symbol", "expected"), [
    ("SPY", {"symbol": "SPY", "secType": "STK", "exchange": "SMART", "currency": "USD"}),
    ("qqq", {"symbol": "QQQ", "secType": "STK", "exchange": "SMART", "currency": "USD"}),
    ("BRK.B", {"symbol": "BRK B", "secType": "STK", "exchange": "SMART", "currency": "USD"}),
    ("EUR/USD", {"symbol": "EUR", "secType": "CASH", "exchange": "IDEALPRO", "currency": "USD"}),
    ("EURUSD", {"symbol": "EUR", "secType": "CASH", "exchange": "IDEALPRO", "currency": "USD"}),
    ("GBP.JPY", {"symbol": "GBP", "secType": "CASH", "exchange": "IDEALPRO", "currency": "JPY"}),
    ("SPX", {"symbol": "SPX", "secType": "IND", "exchange": "CBOE", "currency": "USD"}),
    ("NDX", {"symbol": "NDX", "secType": "IND", "exchange": "NASDAQ", "currency": "USD"}),
    ("RUT", {"symbol": "RUT", "secType": "IND", "exchange": "RUSSELL", "currency": "USD"}),
    ("BTC", {"symbol": "BTC", "secType": "CRYPTO", "exchange": "PAXOS", "currency": "USD"}),
    ("ETH/USD", {"symbol": "ETH", "secType": "CRYPTO", "exchange": "PAXOS", "currency": "USD"}),
    ("ES", {"symbol": "ES", "secType": "FUT", "exchange": "CME", "currency": "USD",
            "localSymbol": "ESZ6"}),
])
def test_symbols_resolve_by_class(symbol: str, expected: dict[str, str]) -> None:
    assert resolve_contract_spec(symbol, SETTINGS) == expected


@pytest.mark.parametrize("symbol", ["", "  ", "SP Y!", "12ABC", "EUR/EUR/", None])
def test_malformed_symbols_are_a_clear_error(symbol: object) -> None:
    with pytest.raises(SubscriptionError, match="symbol"):
        resolve_contract_spec(symbol, SETTINGS)  # type: ignore[arg-type]


def test_explicit_mapping_wins_and_accepts_snake_case() -> None:
    settings = IBKRSettings(contracts={"SPY": {"sec_type": "stk", "exchange": "ARCA",
                                               "currency": "USD", "con_id": "756733"}})
    assert resolve_contract_spec("SPY", settings) == {
        "symbol": "SPY", "secType": "STK", "exchange": "ARCA", "currency": "USD",
        "conId": 756733}


@pytest.mark.parametrize(("symbol", "sec_type", "con_id"), [
    ("SPY", "STK", 756733), ("IWM", "STK", 9579970), ("EUR/USD", "CASH", 12087792),
    ("EURUSD", "CASH", 12087792), ("SPX", "IND", 416904), ("NDX", "IND", 416843),
    ("RUT", "IND", 416888), ("BTC", "CRYPTO", 479624278), ("ETH", "CRYPTO", 495759171),
])
def test_each_symbol_class_qualifies(live: tuple[IBKRConnector, Recorder], symbol: str,
                                     sec_type: str, con_id: int) -> None:
    connector, _ = live
    contract = connector.qualify(symbol)
    assert (contract.secType, contract.conId) == (sec_type, con_id)
    assert connector.qualify(symbol) is contract, "a qualified contract is cached"
    assert connector.get_stats()["ibkr"]["qualifications"] == 1


def test_unknown_symbol_is_subscription_error(live: tuple[IBKRConnector, Recorder]) -> None:
    connector, _ = live
    with pytest.raises(SubscriptionError, match=r"UNKNOWNSYM.*IB error 200"):
        connector.subscribe_price("UNKNOWNSYM")
    assert connector.is_connected
    assert "UNKNOWNSYM" not in connector.subscribed_symbols
    assert connector.subscribe_price("SPY")
