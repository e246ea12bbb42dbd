"""TWS's data farms: which farm serves an instrument, and the state of each farm.

TWS reaches IB's servers through named farms: market data (``usfarm``, ``cashfarm``,
``usfuture``, ``eufarm``), historical data (HMDS: ``ushmds``, ``cashhmds``, ``euhmds``) and
security definitions (``secdefil``). Each one breaks and comes back on its own and TWS says so
with a notice naming it: 2103/2104 (market data broken / OK), 2105/2106 (HMDS), 2157/2158
(sec-def), 2108/2107 (market data / HMDS inactive but available on demand).
"""

from __future__ import annotations

__all__ = ["FARM_CODES", "FarmBoard", "default_farms"]

MARKET, HMDS, SECDEF = "market", "hmds", "secdef"

# kind -> (broken, OK, inactive) codes; sec-def farms have no "inactive" notice.
FARM_CODES: dict[str, tuple[int, int, int | None]] = {
    MARKET: (2103, 2104, 2108),
    HMDS: (2105, 2106, 2107),
    SECDEF: (2157, 2158, None),
}


def default_farms(sec_type: str, currency: str) -> tuple[str, str]:
    """(market data farm, HMDS farm) for a contract, as TWS routes them."""
    if sec_type == "CASH":
        return "cashfarm", "cashhmds"
    if currency != "USD":
        return "eufarm", "euhmds"
    if sec_type in ("FUT", "FOP"):
        return "usfuture", "ushmds"
    return "usfarm", "ushmds"


class FarmBoard:
    """The farms a fake TWS has, by kind, and which are down or inactive."""

    def __init__(self, market: set[str], hmds: set[str], secdef: set[str]) -> None:
        self.kinds: dict[str, str] = {}
        for kind, names in ((MARKET, market), (HMDS, hmds), (SECDEF, secdef)):
            for name in names:
                self.kinds[name] = kind
        self.down: set[str] = set()
        self.inactive: set[str] = set()

    def kind(self, farm: str) -> str:
        try:
            return self.kinds[farm]
        except KeyError:
            raise ValueError(f"unknown farm {farm!r}; farms: {', '.join(sorted(self.kinds))}") \
                from None

    def select(self, farm: str | None) -> list[str]:
        """``farm`` checked, or every farm when None (sorted, market data first)."""
        if farm is not None:
            self.kind(farm)
            return [farm]
        order = {MARKET: 0, HMDS: 1, SECDEF: 2}
        return sorted(self.kinds, key=lambda name: (order[self.kinds[name]], name))

    def is_up(self, farm: str) -> bool:
        return farm not in self.down

    def status_code(self, farm: str) -> int:
        """The notice that reports ``farm``'s state now (the one sent at logon)."""
        broken, ok, inactive = FARM_CODES[self.kind(farm)]
        if farm in self.down:
            return broken
        if farm in self.inactive and inactive is not None:
            return inactive
        return ok

    def snapshot(self) -> dict[str, dict[str, object]]:
        return {name: {"kind": kind, "up": name not in self.down,
                       "inactive": name in self.inactive}
                for name, kind in sorted(self.kinds.items())}
