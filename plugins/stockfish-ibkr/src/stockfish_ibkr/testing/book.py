"""What the fake TWS lists and holds: instruments (with their data farms) and orders."""

from __future__ import annotations

import math
from typing import Any

import attrs

from stockfish_ibkr.testing.farms import default_farms

__all__ = ["DEFAULT_INSTRUMENTS", "WORKING", "FakeOrder", "Instrument", "history_types"]

# 2000-01-01 UTC: the default start of an instrument's history at HMDS.
DEFAULT_LISTED = 946684800.0


@attrs.define(slots=True)
class Instrument:
    """A listed contract and its simulated market."""

    symbol: str
    sec_type: str
    exchange: str
    currency: str
    con_id: int
    price: float
    min_tick: float = 0.01
    local_symbol: str = ""
    trading_class: str = ""
    long_name: str = ""
    primary_exchange: str = ""
    quotes: bool = True  # indices have no bid/ask: IB sends -1 for them
    tradable: bool = True
    expiry: str = ""  # lastTradeDateOrContractMonth (futures)
    multiplier: str = ""
    md_farm: str = ""  # market-data farm; derived from sec_type / currency when empty
    hmds_farm: str = ""  # historical-data farm; likewise
    listed: float = DEFAULT_LISTED  # HMDS has no bars before this time (epoch seconds)
    bid: float = 0.0
    ask: float = 0.0
    last: float = 0.0
    bid_size: float = 0.0
    ask_size: float = 0.0
    last_size: float = 0.0
    volume: float = 0.0
    bar: list[float] | None = None  # open, high, low, close, volume, wap numerator, count
    sent_ask: float = 0.0  # the ask last streamed, to order updates so quotes never cross

    def __attrs_post_init__(self) -> None:
        self.local_symbol = self.local_symbol or self.symbol
        self.trading_class = self.trading_class or self.symbol
        self.long_name = self.long_name or self.symbol
        md_farm, hmds_farm = default_farms(self.sec_type, self.currency)
        self.md_farm = self.md_farm or md_farm
        self.hmds_farm = self.hmds_farm or hmds_farm
        self.set_mid(self.price)

    @property
    def decimals(self) -> int:
        return max(0, -math.floor(math.log10(self.min_tick) + 1e-9)) + 1

    def round(self, value: float) -> float:
        return round(round(value / self.min_tick) * self.min_tick, self.decimals)

    def on_tick(self, price: float) -> bool:
        """Whether ``price`` is a whole number of minimum ticks (what TWS checks, error 110)."""
        steps = price / self.min_tick
        return abs(steps - round(steps)) <= 1e-6 * max(1.0, abs(steps))

    def set_mid(self, mid: float) -> None:
        mid = max(mid, 10 * self.min_tick)
        self.bid = self.round(mid - self.min_tick)
        self.ask = self.round(self.bid + 2 * self.min_tick)
        self.last = self.round(mid)
        self.price = mid

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Instrument:
        """Rebuild one from :meth:`to_dict` (market state included, not re-derived)."""
        init = {f.name: data[f.name] for f in attrs.fields(cls) if f.init and f.name in data}
        inst = cls(**init)
        for name in ("price", "bid", "ask", "last", "bid_size", "ask_size", "last_size",
                     "volume", "bar", "sent_ask"):
            if name in data:
                setattr(inst, name, data[name])
        return inst


def history_types(inst: Instrument) -> frozenset[str]:
    """The whatToShow values HMDS serves for ``inst`` (forex has no trades, indices only
    trades)."""
    if inst.sec_type == "CASH":
        return frozenset({"MIDPOINT", "BID", "ASK", "BID_ASK"})
    if inst.sec_type == "IND":
        return frozenset({"TRADES"})
    base = {"TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "HISTORICAL_VOLATILITY",
            "OPTION_IMPLIED_VOLATILITY"}
    if inst.sec_type == "STK":
        base.add("ADJUSTED_LAST")
    return frozenset(base)


def _stock(symbol: str, con_id: int, price: float, primary: str, name: str) -> Instrument:
    return Instrument(symbol, "STK", "SMART", "USD", con_id, price, 0.01, long_name=name,
                      primary_exchange=primary)


DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    _stock("SPY", 756733, 450.0, "ARCA", "SPDR S&P 500 ETF TRUST"),
    _stock("QQQ", 320227571, 380.0, "NASDAQ", "INVESCO QQQ TRUST SERIES 1"),
    _stock("IWM", 9579970, 200.0, "ARCA", "ISHARES RUSSELL 2000 ETF"),
    Instrument("EUR", "CASH", "IDEALPRO", "USD", 12087792, 1.085, 0.00005,
               local_symbol="EUR.USD", trading_class="EUR.USD",
               long_name="European Monetary Union Euro"),
    Instrument("SPX", "IND", "CBOE", "USD", 416904, 5000.0, 0.01, long_name="S&P 500 Stock Index",
               quotes=False, tradable=False),
    Instrument("NDX", "IND", "NASDAQ", "USD", 416843, 18000.0, 0.01,
               long_name="NASDAQ 100 Stock Index", quotes=False, tradable=False),
    Instrument("RUT", "IND", "RUSSELL", "USD", 416888, 2000.0, 0.01,
               long_name="Russell 2000 Stock Index", quotes=False, tradable=False),
    Instrument("BTC", "CRYPTO", "PAXOS", "USD", 479624278, 60000.0, 0.25,
               local_symbol="BTC.USD", long_name="Bitcoin"),
    Instrument("ETH", "CRYPTO", "PAXOS", "USD", 495759171, 3000.0, 0.05,
               local_symbol="ETH.USD", long_name="Ethereum"),
    Instrument("ES", "FUT", "CME", "USD", 495512563, 5000.0, 0.25, local_symbol="ESZ9",
               long_name="E-mini S&P 500", expiry="20291221", multiplier="50",
               listed=1_500_000_000.0),
    Instrument("SAP", "STK", "IBIS", "EUR", 14204, 180.0, 0.02, long_name="SAP SE",
               primary_exchange="IBIS"),
)

WORKING = ("PreSubmitted", "Submitted")


@attrs.define(slots=True, eq=False)
class FakeOrder:
    """An order as the fake TWS holds it.

    An order placed by hand in TWS (``manual``) belongs to client 0 and has no API order id:
    TWS reports it with order id 0 until client 0 binds it (reqAutoOpenOrders(True)), when it
    gets a negative id, kept here in ``order_id`` from the start.
    """

    order_id: int
    client_id: int
    perm_id: int
    instrument: Instrument
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str
    status: str = "PreSubmitted"
    filled: float = 0.0
    avg_price: float = 0.0
    last_fill_price: float = 0.0
    triggered: bool = False
    executions: int = 0
    completed_time: str = ""
    manual: bool = False
    bound: bool = False

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled, 0.0)

    @property
    def working(self) -> bool:
        return self.status in WORKING

    @property
    def reported_id(self) -> int:
        """The order id TWS puts on the wire for this order."""
        return 0 if self.manual and not self.bound else self.order_id

    def to_dict(self) -> dict[str, Any]:
        return {"order_id": self.reported_id, "client_id": self.client_id,
                "perm_id": self.perm_id, "symbol": self.instrument.symbol,
                "action": self.action, "quantity": self.quantity,
                "order_type": self.order_type, "limit_price": self.limit_price,
                "aux_price": self.aux_price, "tif": self.tif, "account": self.account,
                "order_ref": self.order_ref, "status": self.status, "filled": self.filled,
                "avg_price": self.avg_price, "manual": self.manual}
