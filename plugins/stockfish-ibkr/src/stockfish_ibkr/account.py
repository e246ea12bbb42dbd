"""Account: positions (reqPositions) and the account values the IB session keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stockfish_ibkr.session import SessionMixin

__all__ = ["AccountMixin"]


class AccountMixin(SessionMixin):
    """The account role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    if TYPE_CHECKING:  # provided by the contract role
        def _symbol_of(self, contract: Any) -> str: ...

    def get_positions(self) -> list[dict[str, Any]]:
        """Current positions from TWS (reqPositions)."""
        self._require_connected()
        self._pace()

        async def fetch() -> list[dict[str, Any]]:
            ib = self._live_ib()
            rows = await self._ask(ib, ib.reqPositionsAsync(), self.settings.request_timeout)
            return [{"account": r.account, "symbol": self._symbol_of(r.contract),
                     "sec_type": r.contract.secType, "con_id": r.contract.conId,
                     "position": float(r.position), "avg_cost": float(r.avgCost)} for r in rows]

        return self._run(fetch)

    def get_account_values(self) -> dict[str, str]:
        """Account values (NetLiquidation, TotalCashValue, ...) kept by the IB session."""
        self._require_connected()

        def read() -> dict[str, str]:
            ib = self._live_ib()
            return {f"{v.tag}{':' + v.currency if v.currency else ''}": v.value
                    for v in ib.accountValues()}

        return self._run_sync(read)

