"""``IBKROrderMap``: client order id <-> IB orderId <-> IB permId.

IB's orderId is only unique within one client id and one TWS session: after TWS's nightly
restart the next valid id can roll back. The permId is unique for good, and the client
order id travels as the order's ``orderRef``. Executions are matched on orderRef first, then
permId, and on orderId only for ids this connector itself assigned (never reused).
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["IBKROrderMap"]


class IBKROrderMap:
    """Thread-safe three-way map of order identifiers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, list[int]] = {}  # client id -> [orderId, permId]
        self._by_order_id: dict[int, str] = {}
        self._by_perm_id: dict[int, str] = {}
        self.high_water_mark = 0  # highest orderId ever assigned by this connector

    def bind_order_id(self, client_order_id: str, order_id: int) -> None:
        with self._lock:
            ids = self._ids.setdefault(client_order_id, [0, 0])
            ids[0] = order_id
            self._by_order_id[order_id] = client_order_id
            self.high_water_mark = max(self.high_water_mark, order_id)

    def bind_perm_id(self, client_order_id: str, perm_id: int) -> bool:
        """Record ``perm_id``; False when it is 0 or already known."""
        if not perm_id:
            return False
        with self._lock:
            if self._by_perm_id.get(perm_id) == client_order_id:
                return False
            self._ids.setdefault(client_order_id, [0, 0])[1] = perm_id
            self._by_perm_id[perm_id] = client_order_id
            return True

    def next_order_id(self, proposed: int) -> int:
        """An orderId above every id used before (``proposed`` if it already is)."""
        with self._lock:
            oid = max(proposed, self.high_water_mark + 1)
            self.high_water_mark = oid
            return oid

    def by_order_id(self, order_id: int) -> str | None:
        return self._by_order_id.get(order_id)

    def by_perm_id(self, perm_id: int) -> str | None:
        return self._by_perm_id.get(perm_id)

    def ids(self, client_order_id: str) -> tuple[int, int] | None:
        """(orderId, permId) of a client order id (0 where unknown)."""
        ids = self._ids.get(client_order_id)
        return (ids[0], ids[1]) if ids else None

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._ids

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {cid: {"order_id": v[0], "perm_id": v[1]} for cid, v in self._ids.items()}
