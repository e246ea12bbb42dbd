"""Settings of the ``ibkr`` connector (attrs only: cheap to import)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from stockfish_core.settings import ConnectorSettings, Secret, non_negative, positive

__all__ = ["BACKENDS", "MARKET_DATA_TYPES", "IBKRSettings", "mask_account"]

MARKET_DATA_TYPES: dict[str, int] = {"live": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4}
BACKENDS = ("ib_insync", "ib_async")
# IB's own names for contract fields, and the snake_case spellings accepted for them.
CONTRACT_KEYS = ("symbol", "secType", "exchange", "currency", "primaryExchange", "localSymbol",
                 "tradingClass", "conId", "lastTradeDateOrContractMonth", "multiplier")
_SNAKE = {"sec_type": "secType", "primary_exchange": "primaryExchange",
          "local_symbol": "localSymbol", "trading_class": "tradingClass", "con_id": "conId",
          "last_trade_date": "lastTradeDateOrContractMonth"}
SEC_TYPES = ("STK", "CASH", "IND", "CRYPTO", "FUT", "OPT", "CFD", "BOND", "FUND", "CMDTY")


def _market_data_type(_: Any, attribute: Any, value: str) -> None:
    if str(value).lower() not in MARKET_DATA_TYPES and str(value) not in ("1", "2", "3", "4"):
        raise ValueError(f"{attribute.name}: expected one of {', '.join(MARKET_DATA_TYPES)}, "
                         f"got {value!r}")


def _backend(_: Any, attribute: Any, value: str) -> None:
    if value not in BACKENDS:
        raise ValueError(f"{attribute.name}: expected one of {', '.join(BACKENDS)}, "
                         f"got {value!r}")


def _port(_: Any, attribute: Any, value: int) -> None:
    if not 0 < value < 65536:
        raise ValueError(f"{attribute.name}: expected a TCP port 1..65535, got {value!r}")


def _client_id(_: Any, attribute: Any, value: int) -> None:
    if not 0 <= value <= 2**31 - 1:
        raise ValueError(f"{attribute.name}: expected 0..{2**31 - 1} (IB's client id is a "
                         f"32-bit int), got {value!r}")


def _message_rate(_: Any, attribute: Any, value: float) -> None:
    if not 0 < value <= 50:
        raise ValueError(f"{attribute.name}: IB allows at most 50 messages/s, got {value!r}")


def normalize_contract_spec(spec: dict[str, Any]) -> dict[str, str]:
    """Canonical IB field names for one explicit contract mapping entry."""
    out: dict[str, str] = {}
    for key, value in spec.items():
        name = _SNAKE.get(key, key)
        if name not in CONTRACT_KEYS:
            raise ValueError(f"unknown contract field {key!r} (known: {', '.join(CONTRACT_KEYS)})")
        out[name] = str(value)
    sec_type = out.get("secType", "").upper()
    if sec_type not in SEC_TYPES:
        raise ValueError(f"secType must be one of {', '.join(SEC_TYPES)}, got {sec_type!r}")
    out["secType"] = sec_type
    if "conId" in out and not out["conId"].isdigit():
        raise ValueError(f"conId must be an integer, got {out['conId']!r}")
    return out


def _contracts(_: Any, attribute: Any, value: dict[str, dict[str, str]]) -> None:
    for symbol, spec in value.items():
        if not isinstance(spec, dict):
            raise ValueError(f"{attribute.name}.{symbol}: expected a mapping of contract fields")
        try:
            normalize_contract_spec(spec)
        except ValueError as exc:
            raise ValueError(f"{attribute.name}.{symbol}: {exc}") from None


def _to_secret(value: Any) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(str(value))


def mask_account(account: str | Secret | None) -> str:
    """An account id safe to log: ``DU1234567`` -> ``DU*****67``."""
    if account is None:
        return "-"
    text = account.reveal() if isinstance(account, Secret) else str(account)
    if len(text) <= 4:
        return "*" * len(text)
    return text[:2] + "*" * (len(text) - 4) + text[-2:]


@attrs.frozen(kw_only=True)
class IBKRSettings(ConnectorSettings):
    """Settings of the ``ibkr`` connector.

    - ``host``/``port``/``client_id``: the TWS or IB Gateway API endpoint (7497 = TWS paper).
    - ``account``: the account orders go to and account values come from (masked in logs).
    - ``connect_timeout``: seconds for the API handshake and initial sync.
    - ``readonly``: connect in IB's read-only mode; orders are refused before the wire.
    - ``market_data_type``: live, frozen, delayed or delayed_frozen (1..4).
    - ``backend``: ``ib_insync`` (default) or ``ib_async`` (the maintained fork).
    - ``contracts``: explicit mapping ``symbol -> {secType, exchange, currency, ...}``.
    - ``stock_exchange``/``default_currency``/``forex_exchange``/``crypto_exchange``/
      ``index_exchanges``: how bare symbols resolve.
    - ``max_messages_per_second``: the ceiling of every API message, ours and the client
      library's, in any one-second window, spread evenly after bursts of a tenth of it;
      IB's limit is 50, counted on arrival.
    - ``pacing_retries``: how many times an order, cancel or request TWS dropped for
      pacing (error 100) is sent again.
    - ``historical_max_requests`` per ``historical_window`` seconds, and no identical
      historical request within ``historical_identical_interval`` seconds (IB's limits).
    - ``request_timeout``: bound on every call handed to the IB event loop.
    - ``farm_watchdog``: seconds after a data farm is restored (2104), or after market data
      is requested again, within which ticks must come before it is requested (again); the
      backoff between requests starts there and doubles.
    - ``market_data_retry_max``: the longest wait between two requests of a silent feed.
    - ``market_data_stale_after``: seconds of silence after which a subscribed symbol is
      stale (health) and its market data is requested again.
    - ``market_data_farms``: which market-data farm a symbol depends on, by symbol,
      security type or currency (``{EUR/USD: cashfarm, FUT: usfuture}``), where the
      built-in guess is wrong.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(default=7497, validator=_port)
    client_id: int = attrs.field(default=1, validator=_client_id)
    account: Secret | None = attrs.field(default=None, converter=_to_secret)
    connect_timeout: float = attrs.field(default=4.0, validator=positive)
    readonly: bool = False
    market_data_type: str = attrs.field(default="live", validator=_market_data_type)
    heartbeat_interval: float = attrs.field(default=10.0, validator=positive)
    backend: str = attrs.field(default="ib_insync", validator=_backend)
    contracts: dict[str, dict[str, str]] = attrs.field(factory=dict, validator=_contracts)
    stock_exchange: str = "SMART"
    default_currency: str = "USD"
    forex_exchange: str = "IDEALPRO"
    crypto_exchange: str = "PAXOS"
    index_exchanges: dict[str, str] = attrs.field(factory=lambda: {
        "SPX": "CBOE", "NDX": "NASDAQ", "RUT": "RUSSELL", "VIX": "CBOE", "DJX": "CBOE",
        "XSP": "CBOE"})
    max_messages_per_second: float = attrs.field(default=40.0, validator=_message_rate)
    pacing_retries: int = attrs.field(default=3, validator=non_negative)
    historical_max_requests: int = attrs.field(default=60, validator=positive)
    historical_window: float = attrs.field(default=600.0, validator=positive)
    historical_identical_interval: float = attrs.field(default=15.0, validator=non_negative)
    request_timeout: float = attrs.field(default=10.0, validator=positive)
    farm_watchdog: float = attrs.field(default=10.0, validator=positive)
    market_data_stale_after: float = attrs.field(default=30.0, validator=positive)
    market_data_retry_max: float = attrs.field(default=120.0, validator=positive)
    market_data_farms: dict[str, str] = attrs.field(factory=dict)

    ENV_OVERRIDES: ClassVar[dict[str, str]] = {
        "IBKR_HOST": "host", "IBKR_PORT": "port", "IBKR_CLIENT_ID": "client_id"}

    @property
    def market_data_type_code(self) -> int:
        text = str(self.market_data_type).lower()
        return MARKET_DATA_TYPES.get(text) or int(text)

    @property
    def account_id(self) -> str:
        """The account id for the wire ('' when none is configured)."""
        return self.account.reveal() if self.account is not None else ""
