"""Symbol -> IB contract resolution (pure: no I/O, no ib_insync import).

``SPY`` -> STK SMART USD; ``EUR/USD``, ``EUR.USD``, ``EURUSD`` -> CASH IDEALPRO;
``SPX``/``NDX``/``RUT`` -> IND on their exchanges; ``BTC``/``ETH`` -> CRYPTO PAXOS;
an explicit mapping in the settings wins over all of these.
"""

from __future__ import annotations

import re
from typing import Any

from stockfish_core.errors import SubscriptionError

from stockfish_ibkr.settings import IBKRSettings, normalize_contract_spec

__all__ = ["CRYPTO", "CURRENCIES", "resolve_contract_spec"]

CURRENCIES = frozenset({
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "HKD",
    "SGD", "CNH", "MXN", "ZAR", "PLN", "CZK", "HUF", "ILS", "TRY", "KRW", "RUB"})
CRYPTO = frozenset({"BTC", "ETH", "LTC", "BCH"})
_STOCK = re.compile(r"^[A-Z][A-Z0-9]{0,9}([. ][A-Z])?$")
_PAIR = re.compile(r"^([A-Z]{3})[/.\-_ ]?([A-Z]{3})$")


def resolve_contract_spec(symbol: str, settings: IBKRSettings) -> dict[str, Any]:
    """The IB contract fields for ``symbol`` (raises SubscriptionError when malformed)."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise SubscriptionError(f"invalid symbol {symbol!r}")
    explicit = settings.contracts.get(symbol) or settings.contracts.get(symbol.upper())
    if explicit is not None:
        spec: dict[str, Any] = dict(normalize_contract_spec(explicit))
        spec.setdefault("symbol", symbol.upper())
        if "conId" in spec:
            spec["conId"] = int(spec["conId"])
        return spec
    text = symbol.strip().upper()
    pair = _PAIR.match(text)
    if pair and pair.group(1) in CRYPTO and pair.group(2) in CURRENCIES:
        return {"symbol": pair.group(1), "secType": "CRYPTO",
                "exchange": settings.crypto_exchange, "currency": pair.group(2)}
    if pair and pair.group(1) in CURRENCIES and pair.group(2) in CURRENCIES \
            and pair.group(1) != pair.group(2):
        return {"symbol": pair.group(1), "secType": "CASH", "exchange": settings.forex_exchange,
                "currency": pair.group(2)}
    if text in CRYPTO:
        return {"symbol": text, "secType": "CRYPTO", "exchange": settings.crypto_exchange,
                "currency": settings.default_currency}
    index_exchange = settings.index_exchanges.get(text)
    if index_exchange is not None:
        return {"symbol": text, "secType": "IND", "exchange": index_exchange,
                "currency": settings.default_currency}
    if _STOCK.match(text):
        return {"symbol": text.replace(".", " "), "secType": "STK",
                "exchange": settings.stock_exchange, "currency": settings.default_currency}
    raise SubscriptionError(f"cannot resolve symbol {symbol!r} to an IB contract; add it to "
                            f"the `contracts` mapping")
