"""Contract qualification: a symbol resolved to IB's contract once per session and cached."""

from __future__ import annotations

from typing import Any

from stockfish_core.errors import ConnectorError, SubscriptionError

from stockfish_ibkr.contracts import resolve_contract_spec
from stockfish_ibkr.session import SessionMixin

__all__ = ["InstrumentsMixin"]


class _DroppedByPacingError(ConnectorError):
    """TWS dropped a contract-details request for pacing (error 100)."""


class InstrumentsMixin(SessionMixin):
    """The contract role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    def _init_instruments(self) -> None:
        self._contracts: dict[str, Any] = {}  # symbol -> qualified contract
        self._qualified_in: dict[str, int] = {}  # symbol -> session it was qualified in

    def qualify(self, symbol: str) -> Any:
        """The qualified IB contract for ``symbol`` (once per session, then cached).

        Raises SubscriptionError for a symbol IB does not know (error 200). A request
        TWS's pacing dropped (100) is asked again after the pacing window.
        """
        self._require_connected()
        contract = self._contracts.get(symbol)
        if contract is not None and self._qualified_in.get(symbol) == self._session:
            return contract
        spec = resolve_contract_spec(symbol, self.settings)
        for attempt in range(self.settings.pacing_retries + 1):
            self._pace()
            try:
                return self._run(self._qualify_async, symbol, spec)
            except _DroppedByPacingError:
                # TWS dropped the request unprocessed (100): ask again after the window.
                self.ib_counters["qualify_retries"] += 1
                if attempt == self.settings.pacing_retries or self.wait_closing(1.05):
                    break
        raise SubscriptionError(f"{self.name}: contract details for {symbol!r} dropped by "
                                f"TWS's pacing (error 100) every time")

    async def _qualify_async(self, symbol: str, spec: dict[str, Any]) -> Any:
        ib = self._live_ib()
        mod = self._backend()
        session = self._session
        code, text = 200, "no contract details returned"
        try:
            details = await self._ask(ib, ib.reqContractDetailsAsync(mod.Contract(**spec)),
                                      self.settings.request_timeout)
        except mod.RequestError as exc:
            if exc.code == 100:
                raise _DroppedByPacingError(exc.message) from exc
            details, code, text = [], exc.code, exc.message
        if not details:
            self.ib_counters["unknown_symbols"] += 1
            raise SubscriptionError(f"{self.name}: unknown symbol {symbol!r} "
                                    f"({spec.get('secType')} {spec.get('exchange', '')}): "
                                    f"IB error {code}: {text}")
        if len(details) > 1:
            options = ", ".join(f"{d.contract.localSymbol}@{d.contract.exchange}"
                                for d in details[:5])
            raise SubscriptionError(f"{self.name}: ambiguous symbol {symbol!r} ({options}); "
                                    f"add it to the `contracts` mapping")
        contract = details[0].contract
        if spec.get("exchange") == "SMART":
            contract.exchange = "SMART"
        self._contracts[symbol] = contract
        self._qualified_in[symbol] = session
        self.ib_counters["qualifications"] += 1
        return contract

    def _symbol_of(self, contract: Any) -> str:
        """Our symbol for an IB contract (the one it was qualified for, else IB's)."""
        for symbol, known in list(self._contracts.items()):
            if known.conId == contract.conId:
                return symbol
        return contract.localSymbol or contract.symbol

