"""Account: positions (reqPositions) and the account values the IB session keeps."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from stockfish_core.positions import Position

from stockfish_ibkr.session import SessionMixin

__all__ = ["AccountMixin", "account_value"]


def account_value(text: str) -> float | str:
    """An IB account value as a number when it is one ("1000000.00"), else its text
    ("INDIVIDUAL")."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return value if math.isfinite(value) else text


class AccountMixin(SessionMixin):
    """The account role of :class:`~stockfish_ibkr.connector.IBKRConnector`."""

    if TYPE_CHECKING:  # provided by the contract role
        def _symbol_of(self, contract: Any) -> str: ...

    def get_positions(self) -> list[Position]:
        """Current positions as TWS reports them (reqPositions), ``source="venue"``:
        every account of the session, ``avg_cost`` as IB gives it (per unit, commissions
        included; per contract times the multiplier for futures and options)."""
        self._require_connected()
        self._pace()

        async def fetch() -> list[Position]:
            ib = self._live_ib()
            rows = await self._ask(ib, ib.reqPositionsAsync(), self.settings.request_timeout)
            out = []
            for row in rows:
                quantity = float(row.position)
                cost = float(row.avgCost)
                out.append(Position(self.name, self._symbol_of(row.contract), quantity,
                                    cost if quantity and math.isfinite(cost) else None,
                                    row.account or None, "venue"))
            return out

        return self._run(fetch)

    def get_account(self) -> dict[str, Any]:
        """The account values the IB session keeps (reqAccountUpdates at logon):
        ``{"NetLiquidation:USD": 1000000.0, "AccountType": "INDIVIDUAL", ...}``, keyed by
        IB's tag and currency, numbers as floats."""
        self._require_connected()

        def read() -> dict[str, Any]:
            ib = self._live_ib()
            return {f"{v.tag}{':' + v.currency if v.currency else ''}": account_value(v.value)
                    for v in ib.accountValues()}

        return self._run_sync(read)
