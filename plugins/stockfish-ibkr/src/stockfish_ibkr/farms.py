"""TWS's data farms as the connector tracks them: each farm's state from TWS's notices, and
which farm a subscription depends on.

TWS reaches IB's servers through named farms, each breaking and coming back on its own:
market data (``usfarm``, ``usfarm.nj``, ``cashfarm``, ``usfuture``, ``usopt``, ``eufarm``,
``jfarm``, ``hfarm``...), historical data (HMDS: ``ushmds``, ``cashhmds``, ``euhmds``...) and
security definitions (``secdefil``, ``secdefnj``...). It reports each one by name: 2103 /
2104 / 2108 / 2119 (market data broken / OK / inactive / connecting), 2105 / 2106 / 2107
(HMDS), 2157 / 2158 (sec-def).

IB does not say which farm serves a contract. :func:`market_farm` guesses it the way TWS
routes (forex on ``cashfarm``, US futures on ``usfuture``, ...); the ``market_data_farms``
setting overrides it per symbol, security type or currency. Names are compared by their
family, the part before the first dot, so ``usfarm.nj`` and ``usfarm`` are one family.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import attrs

__all__ = ["FARM_NOTICES", "FarmBoard", "FarmState", "family", "market_farm"]

MARKET, HMDS, SECDEF = "market", "hmds", "secdef"
OK, BROKEN, INACTIVE, CONNECTING = "ok", "broken", "inactive", "connecting"

#: code -> (kind of farm, the state it reports)
FARM_NOTICES: dict[int, tuple[str, str]] = {
    2103: (MARKET, BROKEN), 2104: (MARKET, OK), 2108: (MARKET, INACTIVE),
    2119: (MARKET, CONNECTING),
    2105: (HMDS, BROKEN), 2106: (HMDS, OK), 2107: (HMDS, INACTIVE),
    2157: (SECDEF, BROKEN), 2158: (SECDEF, OK),
}

_BY_CURRENCY = {"JPY": "jfarm", "HKD": "hfarm", "CNH": "hfarm"}


def family(farm: str) -> str:
    """``usfarm.nj`` -> ``usfarm``."""
    return farm.split(".", 1)[0].strip().lower()


def market_farm(symbol: str, contract: Any, overrides: dict[str, str]) -> str:
    """The market-data farm family ``contract`` (subscribed as ``symbol``) depends on."""
    sec_type = str(getattr(contract, "secType", "") or "").upper()
    currency = str(getattr(contract, "currency", "") or "").upper()
    for key in (symbol, sec_type, currency):
        if key and key in overrides:
            return family(overrides[key])
    if sec_type == "CASH":
        return "cashfarm"
    if currency in _BY_CURRENCY:
        return _BY_CURRENCY[currency]
    if currency and currency != "USD":
        return "eufarm"
    if sec_type in ("FUT", "FOP"):
        return "usfuture"
    if sec_type == "OPT":
        return "usopt"
    return "usfarm"


@attrs.define(slots=True)
class FarmState:
    """One farm: its kind, its state and since when (monotonic seconds)."""

    name: str
    kind: str
    state: str
    since: float
    outages: int = 0


class FarmBoard:
    """Every farm TWS has told this connector about. Written on the IB loop thread; read
    from any thread."""

    def __init__(self) -> None:
        self._farms: dict[str, FarmState] = {}
        self._lock = threading.Lock()

    def notice(self, code: int, farm: str) -> FarmState | None:
        """Apply a farm notice; the farm's state when it changed, else None."""
        kind, state = FARM_NOTICES[code]
        name = farm.strip().lower()
        with self._lock:
            known = self._farms.get(name)
            if known is not None and known.state == state:
                return None
            if known is None:
                known = self._farms[name] = FarmState(name, kind, state, time.monotonic())
            else:
                known.state, known.since = state, time.monotonic()
            if state == BROKEN:
                known.outages += 1
            return attrs.evolve(known)

    def down(self, kind: str | None = None) -> list[str]:
        """Names of the broken farms (of ``kind``: market, hmds, secdef)."""
        with self._lock:
            return sorted(f.name for f in self._farms.values()
                          if f.state == BROKEN and kind in (None, f.kind))

    def family_down(self, name: str) -> str | None:
        """A broken market-data farm of family ``name`` (its full name), if any."""
        with self._lock:
            for farm in self._farms.values():
                if farm.kind == MARKET and farm.state == BROKEN and family(farm.name) == name:
                    return farm.name
        return None

    def forget(self) -> None:
        """A new session: TWS reports every farm again at logon."""
        with self._lock:
            self._farms.clear()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {f.name: {"kind": f.kind, "state": f.state, "outages": f.outages}
                    for f in sorted(self._farms.values(), key=lambda f: f.name)}
