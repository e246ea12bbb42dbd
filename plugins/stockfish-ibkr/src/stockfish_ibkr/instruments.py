"""Contract qualification: a symbol resolved to IB's contract once per session and cached."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stockfish_core.errors import SubscriptionError

from stockfish_ibkr.contracts import resolve_contract_spec
from stockfish_ibkr.session import SessionMixin

__all__ = ["InstrumentsMixin"]


class InstrumentsMixin(SessionMixin):
    """The contract role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    if TYPE_CHECKING:  # provided by the error role
        _last_errors: dict[int, tuple[int, str]]

    def _init_instruments(self) -> None:
        self._contracts: dict[str, Any] = {}  # symbol -> qualified contract
        self._qualified_in: dict[str, int] = {}  # symbol -> session it was qualified in

    def qualify(self, symbol: str) -> Any:
        """The qualified IB contract for ``symbol`` (once per session, then cached).

        Raises SubscriptionError for a symbol IB does not know (error 200).
        """
        self._require_connected()
        contract = self._contracts.get(symbol)
        if contract is not None and self._qualified_in.get(symbol) == self._session:
            return contract
        spec = resolve_contract_spec(symbol, self.settings)
        self._pace()
        return self._run(self._qualify_async, symbol, spec)

    async def _qualify_async(self, symbol: str, spec: dict[str, Any]) -> Any:
        ib = self._live_ib()
        mod = self._backend()
        session = self._session
        self._last_errors.pop(200, None)
        details = await self._ask(ib, ib.reqContractDetailsAsync(mod.Contract(**spec)),
                                  self.settings.request_timeout)
        if not details:
            _, text = self._last_errors.get(200, (0, "no contract details returned"))
            self.ib_counters["unknown_symbols"] += 1
            raise SubscriptionError(f"{self.name}: unknown symbol {symbol!r} "
                                    f"({spec.get('secType')} {spec.get('exchange', '')}): "
                                    f"IB error 200: {text}")
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

